"""Cheap, fresh reads of the shared configuration.

A process keeps the last `ServiceConfig` it read and re-checks the row's `version` counter at
most every CONFIG_REFRESH_SECONDS (a web worker on its background refresher thread), so a
change made in the admin reaches every web worker and consumer within that time, without a
restart, and the hot path does not query per request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class ActiveConfig:
    version: int
    active_variant: str
    model_version_id: int | None
    drift_method: str
    drift_method_threshold: float | None
    drift_share_threshold: float
    drift_window_rows: int
    slo_availability_target: float
    slo_latency_threshold_ms: int
    slo_latency_target: float
    slo_freshness_seconds: int
    slo_stream_latency_seconds: float = 1.0
    slo_stream_latency_target: float = 0.99
    slo_freshness_target: float = 0.99
    slo_drift_freshness_seconds: int = 1800
    slo_drift_freshness_target: float = 0.99


_lock = threading.Lock()
_cached: ActiveConfig | None = None
_checked_at = 0.0


def _read() -> ActiveConfig:
    from predictions.models import ServiceConfig

    row = ServiceConfig.load()
    return ActiveConfig(
        version=row.version,
        active_variant=row.active_variant,
        model_version_id=row.active_model_version_id,
        drift_method=row.drift_method,
        drift_method_threshold=row.drift_method_threshold,
        drift_share_threshold=row.drift_share_threshold,
        drift_window_rows=row.drift_window_rows,
        slo_availability_target=row.slo_availability_target,
        slo_latency_threshold_ms=row.slo_latency_threshold_ms,
        slo_latency_target=row.slo_latency_target,
        slo_freshness_seconds=row.slo_freshness_seconds,
        slo_stream_latency_seconds=row.slo_stream_latency_seconds,
        slo_stream_latency_target=row.slo_stream_latency_target,
        slo_freshness_target=row.slo_freshness_target,
        slo_drift_freshness_seconds=row.slo_drift_freshness_seconds,
        slo_drift_freshness_target=row.slo_drift_freshness_target,
    )


def current_config() -> ActiveConfig:
    """The configuration as of at most CONFIG_REFRESH_SECONDS ago. In a web worker the
    background refresher (predictions/api/refresher.py) re-checks it before that time is up,
    so a request finds it fresh and does not query; elsewhere (the consumer, tasks, tests), or
    when the refresher is late, the caller re-checks it here."""
    cached = _cached
    if cached is not None and time.monotonic() - _checked_at < settings.CONFIG_REFRESH_SECONDS:
        return cached
    return config_refresh()


def config_refresh() -> ActiveConfig:
    """Re-check the row's version counter now (one small query), reloading the row if it
    moved."""
    global _cached, _checked_at
    from predictions.models import ServiceConfig

    with _lock:
        started = time.monotonic()  # fresh from when the check began, not when it ended
        if _cached is None:
            _cached = _read()
        else:
            version = (
                ServiceConfig.objects.filter(pk=ServiceConfig.SINGLETON_PK)
                .values_list("version", flat=True)
                .first()
            )
            if version != _cached.version:
                _cached = _read()
        _checked_at = started
        return _cached


def forget_config() -> None:
    """Drop the cached row (tests, and right after this process changed it)."""
    global _cached, _checked_at
    with _lock:
        _cached = None
        _checked_at = 0.0
