"""Whether this web worker's background refresher (predictions/api/refresher.py) finds the
database away, for the request path to answer 503 at once instead of waiting on a connection.

A refresher round that fails with a connection-level error (after one retry on a new
connection) marks the database away until a round succeeds; a running refresher that has not
completed a round for AWAY_AFTER_SECONDS (stuck on a dead connection) reports it away too.
Where no round ever ran (the consumer, management commands, most tests), nothing is reported
and requests find an outage themselves.
"""

from __future__ import annotations

import os
import time

from django.db import OperationalError

# A running refresher that has not completed a round for this long reports the database away
# even if no round has failed yet (a query hanging on a dead connection). Rounds run every
# 0.25-0.5 s with the default settings.
AWAY_AFTER_SECONDS = 5.0

_last_success = 0.0  # monotonic time the last successful round ended
_failure: str | None = None  # the error of the last round, if it failed
_watched_pid: int | None = None  # the process whose refresher runs (set by its start)


def round_succeeded(ended: float) -> bool:
    """Record a successful round; True if the database was away until now."""
    global _last_success, _failure
    was_away, _failure, _last_success = _failure is not None, None, ended
    return was_away


def round_failed(reason: str) -> bool:
    """Record a failed round; True if the database was available until now."""
    global _failure
    was_up, _failure = _failure is None, reason
    return was_up


def watch(running: bool) -> None:
    """The refresher started (True) or stopped (False) in this process; forgets past rounds."""
    global _last_success, _failure, _watched_pid
    _last_success, _failure = 0.0, None
    _watched_pid = os.getpid() if running else None


def database_away() -> str | None:
    """Why the database is away, as the refresher last saw it, or None."""
    if _failure is not None:
        return _failure
    if (_last_success and _watched_pid == os.getpid()
            and time.monotonic() - _last_success > AWAY_AFTER_SECONDS):
        return f"no refresh for more than {AWAY_AFTER_SECONDS:g} s"
    return None


def raise_if_database_away() -> None:
    reason = database_away()
    if reason is not None:
        raise OperationalError(f"database unavailable (background refresher: {reason})")
