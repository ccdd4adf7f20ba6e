"""The operations overview: what serves, how both variants do on live data, drift, SLOs, the
consumer, auto-rollback and the last changes, as one JSON-able shape (the admin index draws it,
scripts read GET /admin/overview.json), plus the series its pictures are drawn from.

Reads only, through selectors; nothing here reads prediction rows one by one: live figures and
their chart come from the live-performance rollups, the score chart from a bounded read of the
newest rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from django.utils import timezone

from monitoring.rollback import auto_rollback_latest
from monitoring.selectors import DriftLatest, drift_latest, drift_share_series, slo_reports
from predictions.config import current_config
from predictions.core.score_buckets import LiveFigures
from predictions.models import ServiceConfig
from predictions.selectors import (
    ConfigChange,
    ConsumerState,
    LiveInterval,
    ScoreSeries,
    config_changes_recent,
    config_manual_rollback_latest,
    live_paired_interval,
    prediction_live_performance,
    prediction_live_series,
    prediction_score_series,
    service_config_at,
    stream_consumer_state,
)

LIVE_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
SCORE_CHART_ROWS = 2000
PR_AUC_SLICES = 12
DRIFT_CHART_REPORTS = 50


class Serving(TypedDict):
    variant: str
    model_version: str | None
    config_version: int
    since: str | None
    since_reason: str
    since_source: str


class SloNow(TypedDict):
    key: str
    name: str
    status: str
    sli: float | None
    target: float
    good: int
    total: int
    budget_remaining: float | None
    alert: str


class AutoRollbackLatest(TypedDict):
    at: str
    reason: str
    config_version: int


class ManualRollback(TypedDict):
    at: str
    actor: str
    source: str
    reason: str
    config_version: int


class AutoRollbackState(TypedDict):
    enabled: bool
    latest: AutoRollbackLatest | None


class Series(TypedDict):
    scores: ScoreSeries
    pr_auc: dict[str, list[list[float]]]
    drift_share: list[list[float]]


class Overview(TypedDict):
    at: str
    serving: Serving
    live: dict[str, dict[str, LiveFigures]]
    live_intervals: dict[str, LiveInterval]  # ML − baseline per window, with its interval
    drift: DriftLatest | None
    slos: list[SloNow]
    consumer: ConsumerState
    auto_rollback: AutoRollbackState
    manual_rollback: ManualRollback | None
    recent_changes: list[ConfigChange]
    series: Series


def serving_now(now: datetime, config: ServiceConfig) -> Serving:
    served = service_config_at(at=now)
    mv = config.active_model_version
    return Serving(variant=config.active_variant, model_version=mv.name if mv else None,
                   config_version=config.version,
                   since=served.since.isoformat() if served.since else None,
                   since_reason=served.reason, since_source=served.source)


def slos_now() -> list[SloNow]:
    """The five SLOs over the last hour, with their multiwindow alert state."""
    out = []
    for report in slo_reports(config=current_config(), window_key="1h"):
        s = report.status
        out.append(SloNow(key=s.key, name=s.name, status=s.status, sli=s.sli, target=s.target,
                          good=s.good, total=s.total, budget_remaining=s.budget_remaining,
                          alert=report.alert.level))
    return out


def auto_rollback_now(config: ServiceConfig) -> AutoRollbackState:
    latest = auto_rollback_latest()
    return AutoRollbackState(
        enabled=config.auto_rollback_enabled,
        latest=None if latest is None else AutoRollbackLatest(
            at=latest.at.isoformat(), reason=latest.reason,
            config_version=latest.config_version))


def manual_rollback_now() -> ManualRollback | None:
    """The newest rollback by hand, shown apart from the automatic one so that "it has never
    rolled back on its own" is never read as "no rollback happened"."""
    manual = config_manual_rollback_latest()
    return None if manual is None else ManualRollback(
        at=manual.at.isoformat(), actor=manual.actor_name, source=manual.source,
        reason=manual.reason, config_version=manual.config_version)


def overview_data(*, now: datetime | None = None) -> Overview:
    """Everything the overview shows, as plain JSON types."""
    now = now or timezone.now()
    config = ServiceConfig.load()
    return Overview(
        at=now.isoformat(),
        serving=serving_now(now, config),
        live={key: prediction_live_performance(since=now - span, now=now)
              for key, span in LIVE_WINDOWS.items()},
        live_intervals={key: live_paired_interval(since=now - span, now=now)
                        for key, span in LIVE_WINDOWS.items()},
        drift=drift_latest(),
        slos=slos_now(),
        consumer=stream_consumer_state(now=now),
        auto_rollback=auto_rollback_now(config),
        manual_rollback=manual_rollback_now(),
        recent_changes=config_changes_recent(),
        series=Series(
            scores=prediction_score_series(now=now, rows=SCORE_CHART_ROWS),
            pr_auc=prediction_live_series(now=now, slices=PR_AUC_SLICES),
            drift_share=drift_share_series(reports=DRIFT_CHART_REPORTS)),
    )
