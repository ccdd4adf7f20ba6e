"""The watchdog of a stream run: a run still going well past its time ends the process.

Every wait of a run is bounded (PostgreSQL timeouts, the writer's waits, Kafka's request
timeouts), yet a call can still hang where none reaches: a C library blocked in a syscall,
a deadlock. The solo-pool stream worker ignores Celery's time limits, so nothing else would
end it, and it is the only stream worker. After STREAM_RUN_SECONDS +
STREAM_WATCHDOG_GRACE_SECONDS the watchdog logs the run's threads and exits the process with
code 70; the process supervisor (compose `restart`, systemd) starts it again, and since the
stuck run stops renewing its lease, `stream-supervise` starts a new chain as it expires.
Nothing is lost: rows and offsets move together in one transaction.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading

from monitoring import metrics

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE


class Watchdog:
    """Context manager: ends the process unless the block finishes within `seconds`."""

    def __init__(self, seconds: float, name: str) -> None:
        self.seconds = seconds
        self.name = name
        self.timer: threading.Timer | None = None

    def __enter__(self) -> Watchdog:
        self.timer = threading.Timer(self.seconds, self.fire)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def fire(self) -> None:
        log.critical("stream run of %s stuck for %.0f s: ending the process for a restart",
                     self.name, self.seconds)
        metrics.CONSUMER_ERRORS.labels(kind="watchdog").inc()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(EXIT_CODE)
