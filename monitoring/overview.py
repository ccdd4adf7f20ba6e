"""The operations overview: what serves, how both variants do on live data, drift, SLOs, the
consumer, auto-rollback and the last changes, as one JSON-able dict (the admin index draws it,
scripts read GET /admin/overview.json), plus the series its pictures are drawn from.

Reads only: it gathers what monitoring and predictions selectors already answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from drift.models import DriftReport
from monitoring.rollback import auto_rollback_latest
from monitoring.selectors import slo_reports
from predictions.config import current_config
from predictions.models import ConfigAuditEntry, Prediction, ServiceConfig, StreamLease, StreamOffset
from predictions.selectors import prediction_live_performance, service_config_at

LIVE_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
SCORE_CHART_ROWS = 2000
PR_AUC_BUCKETS = 12
DRIFT_CHART_REPORTS = 50


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def serving_now(now: datetime) -> dict[str, Any]:
    config = ServiceConfig.load()
    served = service_config_at(at=now)
    mv = config.active_model_version
    return {"variant": config.active_variant, "model_version": mv.name if mv else None,
            "config_version": config.version, "since": _iso(served.since),
            "since_reason": served.reason, "since_source": served.source}


def drift_latest() -> dict[str, Any] | None:
    report = DriftReport.objects.first()
    if report is None:
        return None
    return {"at": _iso(report.created_at), "status": report.status,
            "share_drifted": report.share_drifted, "share_threshold": report.share_threshold,
            "dataset_drift": report.dataset_drift, "message": report.message}


def slos_now() -> list[dict[str, Any]]:
    """The five SLOs over the last hour, with their multiwindow alert state."""
    out = []
    for report in slo_reports(config=current_config(), window_key="1h"):
        s = report.status
        out.append({"key": s.key, "name": s.name, "status": s.status, "sli": s.sli,
                    "target": s.target, "good": s.good, "total": s.total,
                    "budget_remaining": s.budget_remaining, "alert": report.alert.level})
    return out


def consumer_now(now: datetime) -> dict[str, Any]:
    names = [StreamLease.name_for(s) for s in range(settings.STREAM_CONSUMER_SLOTS)]
    leases = StreamLease.objects.filter(name__in=names)
    return {
        "lag": [{"topic": o.topic, "partition": o.partition, "lag": o.lag}
                for o in StreamOffset.objects.exclude(lag=None).order_by("topic", "partition")],
        "last_run_age_seconds": {
            lease.name: (now - lease.last_run_at).total_seconds() if lease.last_run_at else None
            for lease in leases},
    }


def changes_recent(limit: int = 5) -> list[dict[str, Any]]:
    return [{"at": _iso(e.at), "config_version": e.config_version, "actor": e.actor_name,
             "source": e.source, "summary": e.summary(), "reason": e.reason}
            for e in ConfigAuditEntry.objects.all()[:limit]]


def auto_rollback_now() -> dict[str, Any]:
    latest = auto_rollback_latest()
    return {"enabled": ServiceConfig.load().auto_rollback_enabled,
            "latest": None if latest is None else {"at": _iso(latest.at),
                                                   "reason": latest.reason,
                                                   "config_version": latest.config_version}}


def overview_data(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the overview shows, as plain JSON types."""
    now = now or timezone.now()
    return {
        "at": _iso(now),
        "serving": serving_now(now),
        "live": {key: prediction_live_performance(since=now - span)
                 for key, span in LIVE_WINDOWS.items()},
        "drift": drift_latest(),
        "slos": slos_now(),
        "consumer": consumer_now(now),
        "auto_rollback": auto_rollback_now(),
        "recent_changes": changes_recent(),
        "series": overview_series(now=now),
    }


def scores_series(now: datetime) -> dict[str, Any]:
    """The newest rows of the most recently scored product: served scores over time, and the
    times whose realized label was a spike."""
    product = (Prediction.objects.order_by("-event_ts").values_list("product_id", flat=True)
               .first())
    if product is None:
        return {"product": None, "points": [], "spikes": []}
    rows = list(Prediction.objects.filter(product_id=product, event_ts__gte=now - timedelta(
        hours=1)).order_by("-event_ts").values_list("event_ts", "score", "realized_label")
        [:SCORE_CHART_ROWS])[::-1]
    return {"product": product,
            "points": [[ts.timestamp(), score] for ts, score, _ in rows],
            "spikes": [ts.timestamp() for ts, _, spike in rows if spike]}


def pr_auc_series(now: datetime) -> dict[str, list[list[float]]]:
    """Live PR-AUC per variant in PR_AUC_BUCKETS equal slices of the last 24 h."""
    step = timedelta(days=1) / PR_AUC_BUCKETS
    out: dict[str, list[list[float]]] = {"ml": [], "baseline": []}
    for i in range(PR_AUC_BUCKETS):
        start = now - timedelta(days=1) + i * step
        live = prediction_live_performance(since=start, until=start + step)
        for variant, figures in live.items():
            if figures["pr_auc"] is not None:
                out[variant].append([(start + step).timestamp(), figures["pr_auc"]])
    return out


def drift_series() -> list[list[float]]:
    rows = (DriftReport.objects.filter(status=DriftReport.OK).exclude(share_drifted=None)
            .order_by("-created_at").values_list("created_at", "share_drifted")
            [:DRIFT_CHART_REPORTS])
    return [[at.timestamp(), share] for at, share in reversed(rows)]


def overview_series(*, now: datetime) -> dict[str, Any]:
    return {"scores": scores_series(now), "pr_auc": pr_auc_series(now),
            "drift_share": drift_series()}
