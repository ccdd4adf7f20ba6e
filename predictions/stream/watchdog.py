"""One watchdog for every stream run path (`manage.py consume`, the Celery chain, any caller of
`StreamRunner`): no progress for STREAM_WATCHDOG_GRACE_SECONDS ends the process.

Every wait of a run is bounded (PostgreSQL timeouts, the writer's waits, Kafka's request
timeouts), yet a call can still hang where none reaches: a C library blocked in a syscall, a
connection to a database that restarted behind a half-open socket, a deadlock. A Python thread
cannot be interrupted there, and the solo-pool stream worker ignores Celery's time limits.

Progress (`progress()`) is a poll that returned, a batch written, a lease claimed, renewed or
reported, or a claim attempt that returned at all (a database outage the loop waits out is not
a hang). While a run path is armed (`watching`) and none of these happened for the grace
period, the watchdog:
1. logs which path is stuck and since when (CRITICAL), counts
   `volatility_consumer_errors_total{kind="watchdog"}`;
2. dumps every thread's stack to stderr (faulthandler);
3. exits the process with code 70. The process supervisor (compose `restart`, systemd, the
   embedded stack) starts it again; the stuck holder stops renewing its lease, so a new chain
   or process takes the slot once it expires. Nothing is lost: rows and offsets move together.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from monitoring import metrics

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE
CHECK_SECONDS = 0.5  # how often the watchdog thread looks


class Watchdog:
    """The process's watchdog: a daemon thread that looks while at least one path is armed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.armed: dict[str, int] = {}  # path name → nesting depth
        self.last = time.monotonic()
        self.thread: threading.Thread | None = None

    def progress(self) -> None:
        self.last = time.monotonic()

    @contextlib.contextmanager
    def watching(self, name: str) -> Iterator[None]:
        """Arm the watchdog for `name` while the block runs (progress counts from its start)."""
        with self.lock:
            self.armed[name] = self.armed.get(name, 0) + 1
            self.last = time.monotonic()
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="stream-watchdog",
                                               daemon=True)
                self.thread.start()
        try:
            yield
        finally:
            with self.lock:
                self.armed[name] -= 1
                if not self.armed[name]:
                    del self.armed[name]

    def stalled_for(self) -> float | None:
        """Seconds without progress, when armed and past the grace period; else None."""
        idle = time.monotonic() - self.last
        if self.armed and idle > settings.STREAM_WATCHDOG_GRACE_SECONDS:
            return idle
        return None

    def _loop(self) -> None:
        while True:
            time.sleep(CHECK_SECONDS)
            idle = self.stalled_for()
            if idle is not None:
                self.fire(idle)

    def fire(self, idle: float) -> None:
        log.critical("stream run of %s made no progress for %.0f s (no poll, batch or lease "
                     "renewal): dumping stacks and ending the process for a restart",
                     ", ".join(sorted(self.armed)), idle)
        metrics.CONSUMER_ERRORS.labels(kind="watchdog").inc()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(EXIT_CODE)


WATCHDOG = Watchdog()


def progress() -> None:
    """A stream run made progress (a poll returned, a batch was written, a lease renewed)."""
    WATCHDOG.progress()


def watching(name: str) -> contextlib.AbstractContextManager[None]:
    return WATCHDOG.watching(name)
