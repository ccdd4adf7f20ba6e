"""A web worker's background refresher: the database reads that keep the predict path fresh,
done on a daemon thread of each worker instead of inside requests.

Without it a request re-checks the configuration counter when CONFIG_REFRESH_SECONDS have
passed and re-reads its token when API_TOKEN_CACHE_SECONDS have, and every request queued
behind it on the worker's one application thread waits for that query (docs/api.md,
"Performance"). The refresher does both ahead of time, each at half its period, so a request
reads only memory:

- the configuration (`config_refresh`), and the promoted model through `active_scorers`, so a
  promotion is loaded here, not by the first request after it;
- the tokens requests used since its last round (`tokens_refresh`, one query), extending those
  still valid and forgetting revoked ones.

The bounds do not depend on it: each remembered value runs out at its period after it was
read, and a request that finds one run out (the refresher late or stopped) reads it itself, as
before. So a revoked token is still refused within API_TOKEN_CACHE_SECONDS and a configuration
change still served within CONFIG_REFRESH_SECONDS.

The refresher is also how the request path learns the database is away
(predictions/api/outage.py): a round that fails on the connection, after one retry on a new
connection, marks it away until a round succeeds, and a refresher that has completed no round
for outage.AWAY_AFTER_SECONDS reports it away too. Meanwhile predict and a token that would
need the database raise OperationalError at once, which the database-outage middleware answers
with 503 and Retry-After.

Started by `volsite.web.worker_application` in each web worker (after the fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from predictions.api import outage

log = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 0.05  # with a period of 0 (tests) rounds still pause between them

_lock = threading.Lock()
_thread: threading.Thread | None = None
_thread_pid: int | None = None
_stop = threading.Event()


def _intervals() -> tuple[float, float]:
    """(configuration, tokens): each value is re-read at half the time it may be trusted."""
    return (max(settings.CONFIG_REFRESH_SECONDS / 2, MIN_INTERVAL_SECONDS),
            max(settings.API_TOKEN_CACHE_SECONDS / 2, MIN_INTERVAL_SECONDS))


def running() -> bool:
    """Whether this process has a live refresher thread."""
    thread = _thread
    return thread is not None and _thread_pid == os.getpid() and thread.is_alive()


def refresh_once(*, tokens: bool = True) -> None:
    """One round: the configuration and model, and (if `tokens`) the used tokens. Records
    success, or a connection-level failure (then raises it); other errors are raised as they
    are (a bug: the loop logs it)."""
    from predictions import serving
    from predictions.api.authentication import tokens_refresh
    from predictions.config import config_refresh

    for attempt in (1, 2):
        try:
            config_refresh()
            try:
                serving.active_scorers()  # loads a newly promoted version here
            except serving.NoModelVersion:
                pass  # requests answer 503 no_model themselves
            if tokens:
                tokens_refresh()
        except (OperationalError, InterfaceError) as exc:
            connection.close()  # the retry, or the next round, opens a new connection
            if attempt == 1:
                continue
            lines = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            if outage.round_failed(reason):
                log.warning("database unavailable: %s", reason)
            raise
        # Success counts from when the round ended: a round that spent seconds loading a
        # newly promoted model must not leave the database looking away just after it.
        if outage.round_succeeded(time.monotonic()):
            log.warning("database available again")
        return


def _refresh_forever(stop: threading.Event) -> None:
    config_due = tokens_due = 0.0
    while not stop.is_set():
        config_every, tokens_every = _intervals()
        now = time.monotonic()
        tokens = now >= tokens_due
        try:
            refresh_once(tokens=tokens)
        except (OperationalError, InterfaceError):
            pass  # recorded; the next round retries
        except Exception:  # never let the refresher die: requests would read inline again
            log.exception("background refresh failed")
        config_due = now + config_every
        if tokens:
            tokens_due = now + tokens_every
        stop.wait(max(min(config_due, tokens_due) - time.monotonic(), 0.0))
    connection.close()


def start() -> None:
    """Start this process's refresher (once per process; a forked child starts its own)."""
    global _thread, _thread_pid, _stop
    if running():
        return
    with _lock:
        if running():
            return
        outage.watch(True)
        _thread_pid, _stop = os.getpid(), threading.Event()
        _thread = threading.Thread(target=_refresh_forever, args=(_stop,),
                                   name="predict-refresher", daemon=True)
        _thread.start()


def stop(timeout: float = 10.0) -> None:
    """Stop this process's refresher and forget what its rounds saw (tests)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
        _stop.set()
    if thread is not None and thread.is_alive():
        thread.join(timeout)
    outage.watch(False)
