"""What GET /api/v1/ready checks: the database, the promoted model and the Kafka broker.

Each check is timed and reports its failure by kind (the exception's class, never its text,
which may carry hosts, paths or SQL; the log has the rest); a readiness answer never raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

from predictions.messaging.kafka import broker_reachable
from predictions.serving import active_scorers

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]


_cached: tuple[float, dict[str, dict[str, Any]]] | None = None
_lock = threading.Lock()


def readiness_checks() -> dict[str, dict[str, Any]]:
    """The checks, run at most once per READY_CACHE_SECONDS in this process: a probe storm
    (or a broker that is down, 2 s a check) costs one run a second, not one per request."""
    global _cached
    with _lock:
        now = time.monotonic()
        if _cached is not None and now - _cached[0] < settings.READY_CACHE_SECONDS:
            return _cached[1]
        checks = {"database": _timed(_check_db), "model": _timed(_check_model),
                  "broker": _timed(broker_reachable)}
        _cached = (time.monotonic(), checks)
        return checks


def forget_readiness() -> None:
    global _cached
    _cached = None


def _timed(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # a readiness check reports failures, it never raises
        log.warning("readiness check %s failed", check.__name__, exc_info=True)
        ok, detail = False, type(exc).__name__  # the text may hold hosts, paths or SQL
    if not ok and detail.count(":"):
        detail = detail.split(":", 1)[0]  # "KafkaTimeoutError: ..." → the kind only
    return {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "detail": detail}


def _check_db() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True, "ok"


def _check_model() -> tuple[bool, str]:
    serving = active_scorers()
    if serving.version.ml is None:
        return False, f"ML artifact of {serving.version.name} refused: {serving.version.ml_error}"
    return True, f"{serving.version.name} loaded, sha256 verified"
