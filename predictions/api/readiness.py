"""What GET /api/v1/ready checks: the database, the promoted model and the Kafka broker.

Each check is timed and reports its failure as text; a readiness answer never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from predictions.messaging.kafka import broker_reachable
from predictions.serving import active_scorers

Check = Callable[[], tuple[bool, str]]


def readiness_checks() -> dict[str, dict[str, Any]]:
    return {"database": _timed(_check_db), "model": _timed(_check_model),
            "broker": _timed(broker_reachable)}


def _timed(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # a readiness check reports failures, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}"
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
