"""Gauges read from the database at scrape time, so every web worker reports the same values.

The one place that reads other apps' data for /metrics: `monitoring.metrics` stays a leaf that
any part may import, and the arrows into predictions and drift start here instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from drift.models import DriftReport
from monitoring.selectors import prediction_age_seconds
from predictions.core.backtest import NOT_ENOUGH
from predictions.models import ConfigAuditEntry, ServiceConfig, StreamLease, StreamOffset
from predictions.selectors import live_paired_interval, prediction_live_performance


class DatabaseCollector:
    """Gauges whose truth is in the database, so every web worker reports the same values."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The database-backed gauges, or only `volatility_database_up 0` when the database
        cannot be read (so a database outage never costs Prometheus the process metrics)."""
        try:
            families = list(self._from_database())
        except DatabaseError:
            families = []
        yield GaugeMetricFamily("volatility_database_up",
                                "1 when the scrape could read the database.",
                                value=1.0 if families else 0.0)
        yield from families

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        yield from _config_gauges(ServiceConfig.load())
        lag = GaugeMetricFamily("volatility_consumer_lag",
                                "Messages behind the high watermark at the consumer's last batch.",
                                labels=["topic", "partition"])
        for row in StreamOffset.objects.exclude(lag=None):
            lag.add_metric([row.topic, str(row.partition)], float(row.lag))
        yield lag
        yield _last_run_ages()
        age = prediction_age_seconds()
        if age is not None:
            yield GaugeMetricFamily("volatility_last_prediction_age_seconds",
                                    "Seconds since the newest prediction row was written.",
                                    value=age)
        yield from _drift_gauges()
        yield from _auto_rollback_families()
        yield from _live_families()


def _config_gauges(config: ServiceConfig) -> Iterator[GaugeMetricFamily]:
    """The served variant and the promoted model version, as the configuration row says."""
    active = GaugeMetricFamily(
        "volatility_active_variant",
        "1 for the variant the configuration selects (a refused ML artifact still serves "
        "the baseline: see volatility_model_load_failures_total).",
        labels=["variant"])
    for variant in ("ml", "baseline"):
        active.add_metric([variant], 1.0 if config.active_variant == variant else 0.0)
    yield active
    info = GaugeMetricFamily("volatility_model_info", "The promoted model version.",
                             labels=["model_version", "sha256"])
    if config.active_model_version is not None:
        mv = config.active_model_version
        info.add_metric([mv.name, mv.sha256], 1.0)
    yield info


def _last_run_ages() -> GaugeMetricFamily:
    """Per lease slot of the current configuration, seconds since its last run reported
    (leases of an earlier slot count are left out: nothing runs them any more)."""
    ages = GaugeMetricFamily("volatility_consumer_last_run_age_seconds",
                             "Seconds since a consumer run of the lease slot last reported.",
                             labels=["lease"])
    names = [StreamLease.name_for(slot) for slot in range(settings.STREAM_CONSUMER_SLOTS)]
    now = timezone.now()
    for name, last_run in (StreamLease.objects.filter(name__in=names, last_run_at__isnull=False)
                           .values_list("name", "last_run_at")):
        ages.add_metric([name], (now - last_run).total_seconds())
    return ages


def _drift_gauges() -> Iterator[GaugeMetricFamily]:
    """The latest successful drift report's share and verdict (nothing before the first one)."""
    report = DriftReport.objects.filter(status=DriftReport.OK).first()
    if report is not None:
        yield GaugeMetricFamily("volatility_drift_share",
                                "Share of features drifted in the latest drift report.",
                                value=report.share_drifted or 0.0)
        yield GaugeMetricFamily("volatility_drift_detected",
                                "1 when the latest drift report crossed the share threshold.",
                                value=1.0 if report.dataset_drift else 0.0)


def _auto_rollback_families() -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """Auto-rollbacks so far (from the audit trail, so every worker agrees, at 0 before the
    first: increase() in the alert needs the series to exist) and whether the policy is on."""
    count = ConfigAuditEntry.objects.filter(source="auto-rollback").count()
    yield CounterMetricFamily("volatility_auto_rollbacks",
                              "Times the auto-rollback policy flipped serving to the baseline.",
                              value=float(count))
    yield GaugeMetricFamily("volatility_auto_rollback_enabled",
                            "1 when the auto-rollback policy is on.",
                            value=1.0 if ServiceConfig.load().auto_rollback_enabled else 0.0)


# Live champion-vs-challenger figures over these windows; recomputed at most once a minute
# per process (a day of matured rows is too many to read on every scrape).
LIVE_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1)}
LIVE_CACHE_SECONDS = 60.0
_live_cache: dict[str, object] = {"at": -1e9, "value": None, "intervals": None}


def live_performance_windows() -> dict[str, dict[str, dict]]:
    """{window: {variant: figures}} from matured rows, cached for LIVE_CACHE_SECONDS."""
    if time.monotonic() - float(_live_cache["at"]) >= LIVE_CACHE_SECONDS \
            or _live_cache["value"] is None:
        now = timezone.now()
        _live_cache["value"] = {key: prediction_live_performance(since=now - span)
                                for key, span in LIVE_WINDOWS.items()}
        _live_cache["intervals"] = {key: live_paired_interval(since=now - span, now=now)
                                    for key, span in LIVE_WINDOWS.items()}
        _live_cache["at"] = time.monotonic()
    return _live_cache["value"]  # type: ignore[return-value]


def live_intervals_windows() -> dict[str, dict]:
    """{window: ML − baseline with its paired interval}, cached with the live figures."""
    live_performance_windows()
    return _live_cache["intervals"]  # type: ignore[return-value]


def forget_live_cache() -> None:
    _live_cache.update(at=-1e9, value=None, intervals=None)


def _live_families() -> Iterator[GaugeMetricFamily]:
    """PR-AUC and Brier per variant and window on the same matured rows, with the rows behind
    each figure and whether they are enough (a figure with too few rows is marked, not hid)."""
    names = {"pr_auc": ("volatility_live_pr_auc", "Live PR-AUC from matured labels."),
             "brier": ("volatility_live_brier", "Live Brier score from matured labels."),
             "n": ("volatility_live_rows", "Matured rows behind the live figures."),
             "enough": ("volatility_live_enough_rows",
                        "1 when the live figures rest on enough matured rows, 0 when too few.")}
    families = {key: GaugeMetricFamily(name, text, labels=["variant", "window"])
                for key, (name, text) in names.items()}
    for window, per_variant in live_performance_windows().items():
        for variant, figures in per_variant.items():
            for key, family in families.items():
                value = figures.get(key)
                if value is not None:
                    family.add_metric([variant, window], float(value))
    yield from families.values()
    yield from _live_difference_families()


def _live_difference_families() -> Iterator[GaugeMetricFamily]:
    """ML − baseline per metric and window with its paired block-bootstrap interval, and
    whether the interval is evidence (not "Not enough evidence")."""
    difference = GaugeMetricFamily(
        "volatility_live_difference", "Live ML − baseline difference (bound=diff) and its "
        "95 % paired block-bootstrap interval (bound=low, high).",
        labels=["metric", "bound", "window"])
    evidence = GaugeMetricFamily(
        "volatility_live_difference_evidence", "1 when the live interval separates the "
        "variants on enough rows, 0 for \"Not enough evidence\".", labels=["window"])
    for window, live in live_intervals_windows().items():
        for metric in ("pr_auc", "brier"):
            for bound in ("diff", "low", "high"):
                value = live[metric][bound]
                if value is not None:
                    difference.add_metric([metric, bound, window], float(value))
        evidence.add_metric([window], 0.0 if live["verdict"].startswith(NOT_ENOUGH) else 1.0)
    yield difference
    yield evidence
