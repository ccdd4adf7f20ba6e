"""Counts SLI events in memory and flushes them as per-minute rollups.

Three kinds of rows, one upsert per minute (and per hour) per flush, never one per event:
`ApiMinute` (API requests per endpoint), `SloMinute`/`SloHour` (good/total events per SLO)
and `TickLatencyMinute`/`TickLatencyHour` (tick-to-prediction latency buckets). The API
middleware (`record`) and the stream consumer (`record_stream_batch`, through the signal
`predictions.signals.stream_batch_stored`, once per committed
batch) only add to a dict and to the Prometheus SLO counters; a daemon thread (one per
process, started on first use, so it survives the web server's and Celery's fork) writes the counts
with atomic increments every SLI_FLUSH_SECONDS. The freshness SLOs are counted once a minute
by the slo-sample beat task (`record_slo_minute`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, datetime
from multiprocessing.util import Finalize

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F

from monitoring import metrics
from monitoring.models import (
    LATENCY_EDGES_MS,
    TICK_LATENCY_EDGES_S,
    ApiMinute,
    SloHour,
    SloMinute,
    TickLatencyHour,
    TickLatencyMinute,
)
from monitoring.slo import SLO_KEYS

log = logging.getLogger(__name__)

API, SLO, TICKS = "api", "slo", "ticks"
# kind → (the field that names the row besides its time, the counted fields,
#         [(model, its time field, seconds per row)]): SLO and tick rows are kept per minute
#         and per hour (the page's long windows read hours).
_KINDS = {
    API: ("endpoint", ["requests", "server_errors", "client_errors"]
          + [f"le_{e}ms" for e in LATENCY_EDGES_MS], [(ApiMinute, "minute", 60)]),
    SLO: ("slo", ["good", "total"], [(SloMinute, "minute", 60), (SloHour, "hour", 3600)]),
    TICKS: (None, ["ticks", *TickLatencyMinute.BUCKET_FIELDS],
            [(TickLatencyMinute, "minute", 60), (TickLatencyHour, "hour", 3600)]),
}
SLO_ENDPOINT = "predict"  # the endpoint the two API SLOs judge

# When this process started counting (its first import of this module): the origin of each
# SLO's grace period (SloDefinition.grace_seconds). A Celery pool child inherits its parent's.
PROCESS_STARTED_AT = time.time()
_lock = threading.Lock()
_pending: dict[tuple[str, int, str], list[int]] = {}
_thread: threading.Thread | None = None
_thread_pid: int | None = None
# The last configured thresholds (their defaults until the configuration is first read).
_last_thresholds = {"slo_latency_threshold_ms": 100.0, "slo_stream_latency_seconds": 1.0}

# Every SLO's counters exist at 0 from the start of a process (increase() needs two samples).
for _key in SLO_KEYS:
    metrics.SLO_EVENTS.labels(slo=_key)
    metrics.SLO_GOOD_EVENTS.labels(slo=_key)


def _counts(kind: str, minute: int, name: str = "") -> list[int]:
    """The pending counts of one row; call with `_lock` held."""
    key = (kind, minute, name)
    counts = _pending.get(key)
    if counts is None:
        counts = _pending[key] = [0] * len(_KINDS[kind][1])
    return counts


def _now_minute() -> int:
    return int(time.time() // 60) * 60


def _count_slo(slo: str, minute: int, good: int, total: int) -> None:
    """Add to one SLO's minute (with `_lock` held) and to its Prometheus counters."""
    counts = _counts(SLO, minute, slo)
    counts[0] += good
    counts[1] += total
    metrics.SLO_GOOD_EVENTS.labels(slo=slo).inc(good)
    metrics.SLO_EVENTS.labels(slo=slo).inc(total)


def _configured(field: str) -> float:
    """A threshold from the shared configuration; the last one read if the configuration
    cannot be read now (a database outage must not turn answers or batches into errors)."""
    from predictions.config import current_config

    try:
        _last_thresholds[field] = float(getattr(current_config(), field))
    except Exception:  # noqa: BLE001 - any failure to read keeps the last threshold
        pass
    return _last_thresholds[field]


def record(endpoint: str, status: int, seconds: float) -> None:
    """One API request: its endpoint's rollup, and for predict the two API SLOs."""
    record_many(endpoint, [(time.time(), status, seconds)])


def record_many(endpoint: str, requests: list[tuple[float, int, float]]) -> None:
    """API requests of one endpoint, each (unix time answered, HTTP status, seconds to
    answer): the rollup of each one's minute, and for predict the two API SLOs. The token
    predict path hands its requests over in batches (monitoring.request_tally)."""
    if not requests:
        return
    threshold = _configured("slo_latency_threshold_ms") if endpoint == SLO_ENDPOINT else 0.0
    edges = len(LATENCY_EDGES_MS)
    slo: dict[int, list[int]] = {}  # minute → [requests, available, within the threshold]
    with _lock:
        for at, status, seconds in requests:
            minute = int(at // 60) * 60
            ms = seconds * 1000.0
            counts = _counts(API, minute, endpoint)
            counts[0] += 1
            if status >= 500:
                counts[1] += 1
            elif status >= 400:
                counts[2] += 1
            # le_<edge>ms counts every request within the edge: the first edge >= ms onwards.
            for i in range(bisect_left(LATENCY_EDGES_MS, ms), edges):
                counts[3 + i] += 1
            judged = slo.setdefault(minute, [0, 0, 0])
            judged[0] += 1
            judged[1] += status < 500
            judged[2] += ms <= threshold
        if endpoint == SLO_ENDPOINT:
            for minute, (total, available, fast) in slo.items():
                _count_slo("api_availability", minute, available, total)
                _count_slo("api_latency", minute, fast, total)
    _flush_soon()


def stream_batch_receiver(sender: object, *, latencies_s: list[float], **_: object) -> None:
    """Receiver of predictions.signals.stream_batch_stored."""
    record_stream_batch(latencies_s)


def record_stream_batch(latencies_s: Iterable[float], threshold_s: float | None = None) -> None:
    """One committed consumer batch: each tick's seconds from exchange time to stored row.
    Counts the tick-to-prediction SLO (good = within the configured threshold) and the
    latency buckets of the p50/p99 chart, for the minute the batch was stored in."""
    if threshold_s is None:
        threshold_s = _configured("slo_stream_latency_seconds")
    values = list(latencies_s)
    if not values:
        return
    minute = _now_minute()
    good = sum(1 for v in values if v <= threshold_s)
    with _lock:
        _count_slo("stream_latency", minute, good, len(values))
        buckets = _counts(TICKS, minute)
        buckets[0] += len(values)
        for i, edge in enumerate(TICK_LATENCY_EDGES_S, start=1):
            buckets[i] += sum(1 for v in values if v <= edge)
    _flush_soon()


def record_slo_minute(slo: str, *, good: bool, at: float | None = None) -> None:
    """One judged minute of a sampled SLO (the freshness ones), written at once: the beat
    task runs once a minute, so this is one upsert a minute."""
    minute = int((time.time() if at is None else at) // 60) * 60
    with _lock:
        _count_slo(slo, minute, int(good), 1)
    flush()


def _flush_soon() -> None:
    if settings.SLI_FLUSH_SECONDS <= 0:
        # Synchronous mode (tests): written in the caller's own connection. A database that is
        # away keeps the counts in memory for the next flush (flush() puts them back), and the
        # answer being counted (the outage's 503) goes out as it is, never turned into a 500.
        try:
            flush()
        except (OperationalError, InterfaceError) as exc:
            log.warning("SLI counts kept in memory, the database is unavailable: %s",
                        type(exc).__name__)
    else:
        _ensure_flusher()


def flush() -> int:
    """Write pending counts to the database; returns the number of rollup rows touched."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    written = 0
    try:
        for (kind, minute, name), counts in pending.items():
            with transaction.atomic():  # the minute and its hour move together
                _add(kind, minute, name, counts)
            written += 1
    finally:
        if written < len(pending):  # the database failed: keep what was not written
            with _lock:
                for (kind, minute, name), counts in list(pending.items())[written:]:
                    kept = _counts(kind, minute, name)
                    for i, c in enumerate(counts):
                        kept[i] += c
    return written


def _add(kind: str, minute: int, name: str, counts: list[int]) -> None:
    """Add one minute's counts to its row of every period the kind keeps."""
    name_field, fields, periods = _KINDS[kind]
    increments = {f: F(f) + c for f, c in zip(fields, counts) if c}
    if not increments:
        return
    for model, time_field, seconds in periods:
        at = datetime.fromtimestamp(minute // seconds * seconds, tz=UTC)
        key = {time_field: at, **({name_field: name} if name_field else {})}
        _upsert(model, key, increments, dict(zip(fields, counts)))


def _upsert(model, key: dict, increments: dict, counts: dict) -> None:
    if model.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **counts)
    except IntegrityError:  # another process created the row first
        model.objects.filter(**key).update(**increments)


def _ensure_flusher() -> None:
    global _thread, _thread_pid
    if _thread is not None and _thread_pid == os.getpid():
        return
    with _lock:
        if _thread is not None and _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
        _thread = threading.Thread(target=_flush_forever, name="sli-flusher", daemon=True)
        _thread.start()
        # At exit: atexit, and multiprocessing's exit hooks (granian's workers end with os._exit
        # after those, where atexit handlers never run). Running twice publishes nothing twice.
        atexit.register(_flush_at_exit)
        Finalize(None, _flush_at_exit, exitpriority=20)


def _flush_at_exit() -> None:
    """A process that exits normally (a web worker stopped or restarted) writes its last counts."""
    try:
        flush()
    except Exception:  # noqa: BLE001 - at exit there is nobody left to tell but the log
        log.exception("could not flush SLI counts at exit")


def _flush_forever() -> None:
    while True:
        if settings.SLI_FLUSH_SECONDS <= 0:
            # Switched to inline writes since the thread started (tests do): the request path
            # writes its own counts; flushing here too would spin and write them outside its
            # transaction.
            time.sleep(1.0)
            continue
        time.sleep(settings.SLI_FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # never let the flusher die; the next round retries
            log.exception("could not flush SLI counts")
        finally:
            connection.close()
