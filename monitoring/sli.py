"""Collects API request outcomes in memory and flushes them as per-minute rollups.

The request path only increments a dict; a daemon thread (one per process, started on first
use, so it survives gunicorn's fork) writes the counts with atomic increments every
SLI_FLUSH_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from monitoring.models import LATENCY_EDGES_MS, ApiMinute

log = logging.getLogger(__name__)

_FIELDS = ["requests", "server_errors", "client_errors"] + [f"le_{e}ms" for e in LATENCY_EDGES_MS]

_lock = threading.Lock()
_pending: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * len(_FIELDS))
_thread: threading.Thread | None = None
_thread_pid: int | None = None


def record(endpoint: str, status: int, seconds: float) -> None:
    minute = int(time.time() // 60) * 60
    ms = seconds * 1000.0
    with _lock:
        counts = _pending[(minute, endpoint)]
        counts[0] += 1
        if status >= 500:
            counts[1] += 1
        elif status >= 400:
            counts[2] += 1
        for i, edge in enumerate(LATENCY_EDGES_MS, start=3):
            if ms <= edge:
                counts[i] += 1
    if settings.SLI_FLUSH_SECONDS <= 0:
        flush()  # synchronous mode (tests): written in the request's own connection
    else:
        _ensure_flusher()


def flush() -> int:
    """Write pending counts to the database; returns the number of rollup rows touched."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    written = 0
    try:
        for (minute, endpoint), counts in pending.items():
            _add(datetime.fromtimestamp(minute, tz=UTC), endpoint, counts)
            written += 1
    finally:
        if written < len(pending):  # the database failed: keep what was not written
            with _lock:
                for key, counts in list(pending.items())[written:]:
                    kept = _pending[key]
                    for i, c in enumerate(counts):
                        kept[i] += c
    return written


def _add(minute: datetime, endpoint: str, counts: list[int]) -> None:
    increments = {f: F(f) + c for f, c in zip(_FIELDS, counts) if c}
    if ApiMinute.objects.filter(minute=minute, endpoint=endpoint).update(**increments):
        return
    try:
        with transaction.atomic():
            ApiMinute.objects.create(minute=minute, endpoint=endpoint, **dict(zip(_FIELDS, counts)))
    except IntegrityError:  # another process created the row first
        ApiMinute.objects.filter(minute=minute, endpoint=endpoint).update(**increments)


def _ensure_flusher() -> None:
    global _thread, _thread_pid
    import os

    if _thread is not None and _thread_pid == os.getpid():
        return
    with _lock:
        if _thread is not None and _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
        _thread = threading.Thread(target=_flush_forever, name="sli-flusher", daemon=True)
        _thread.start()


def _flush_forever() -> None:
    while True:
        time.sleep(settings.SLI_FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # never let the flusher die; the next round retries
            log.exception("could not flush API SLI counts")
        finally:
            connection.close()
