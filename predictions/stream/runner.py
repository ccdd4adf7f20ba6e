"""One runner for the stream consumer of a lease slot: claim → run → report → retry.

The Celery chain (`predictions.tasks.stream_consume`, one run per task, re-enqueued) and
`manage.py consume` (runs in a loop, in the foreground) both run the consumer through this, so
they claim, report and retry alike:
1. claim the slot's lease for the holder (atomic: only if free, expired or already ours);
2. run one bounded `consume_run` while holding it;
3. report the run on the lease (messages, errors: what the last-run metrics read); a failed
   run is counted and reported, not raised, because the next run retries from the stored
   offsets; a run that lost its lease to another holder stops its caller instead;
4. retry after RETRY_SECONDS when the run failed (a broker outage heals by itself), at once
   otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from monitoring import metrics
from predictions.core.process_names import slot_name
from predictions.models import LeaseLost, StreamLease
from predictions.stream.batches import RunStats
from predictions.stream.consumer import consume_run
from predictions.stream.database_name import database_application_name_set
from predictions.stream.watchdog import progress, watching

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # wait after a failed run before the next one


class StreamRunner:
    """Runs the consumer of one lease slot on behalf of one holder (a chain, a process).

    `should_stop` ends a run early (between polls) and the foreground loop; `say` is where the
    loop tells an operator what it does (a command's stdout), the log when not given.
    """

    def __init__(self, holder: str, *, slot: int = 0, run_seconds: float | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 say: Callable[[str], None] | None = None) -> None:
        self.holder = holder
        self.slot = slot
        self.name = StreamLease.name_for(slot)
        self.run_seconds = run_seconds
        self.should_stop = should_stop
        self.say = say or log.info
        # pg_stat_activity shows which slot this process's connections serve
        database_application_name_set(slot_name(settings.DATABASE_APPLICATION_NAME, slot))

    def claim(self) -> bool:
        """Step 1: take or extend the slot's lease; False while another holder has it."""
        claimed = StreamLease.objects.claim(self.holder, name=self.name)
        progress()
        return claimed

    def claim_unless_down(self) -> bool | None:
        """`claim`, or None while the database is unavailable (the connection is dropped so
        the next attempt reconnects)."""
        with watching(self.name):
            try:
                return self.claim()
            except DatabaseError as exc:
                progress()  # an outage the loop waits out, not a hang
                log.warning("database unavailable (%s); retrying", type(exc).__name__)
                close_old_connections()
                return None

    def run_once(self) -> RunStats | None:
        """Steps 2–3: one bounded run on the held lease, reported on it; None when the lease
        was lost to another holder mid-run (nothing more was written: the caller stops)."""
        stats = RunStats()
        seconds = self.run_seconds if self.run_seconds is not None else settings.STREAM_RUN_SECONDS
        try:
            with watching(self.name):
                stats = consume_run(max_seconds=seconds, holder=self.holder, slot=self.slot,
                                    should_stop=self.should_stop)
        except LeaseLost:
            log.warning("%s lost lease %s to another consumer", self.holder, self.name)
            return None
        except Exception as exc:  # report, then retry: the next run starts from the DB offsets
            metrics.CONSUMER_ERRORS.labels(kind=type(exc).__name__).inc()
            stats.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("consumer run failed")
        finally:
            with watching(self.name):
                self.on_database(lambda: StreamLease.objects.report(
                    self.holder, name=self.name, messages=stats.messages, errors=stats.errors))
        return stats

    @staticmethod
    def on_database(call: Callable[[], object]) -> bool:
        """Run a lease bookkeeping call; when the database is away (a restart), log it, drop
        the broken connection so the next call reconnects, and go on: False. Reporting and
        releasing a lease must never end the loop that would recover by itself."""
        try:
            call()
            progress()
            return True
        except DatabaseError as exc:
            progress()
            log.warning("database unavailable (%s); retrying", type(exc).__name__)
            close_old_connections()
            return False

    @staticmethod
    def retry_delay(stats: RunStats) -> float:
        """Step 4: seconds to wait before the next run."""
        return RETRY_SECONDS if stats.errors else 0.0

    def serve(self, runs: int = 0) -> None:
        """Run after run in this process (`runs` = 0: until `should_stop`): wait while another
        holder has the lease, retry a failed run after a pause, release the lease at the end."""
        done = 0
        try:
            while not self.should_stop() and (runs == 0 or done < runs):
                claimed = self.claim_unless_down()
                if claimed is None:  # the database is away: try again shortly
                    time.sleep(RETRY_SECONDS)
                    continue
                if not claimed:
                    self.say(f"lease {self.name} is held by another consumer; waiting")
                    time.sleep(1)
                    continue
                stats = self.run_once()
                if stats is None:
                    self.say(f"lost lease {self.name} to another consumer")
                else:
                    self.say(summary(stats))
                    time.sleep(self.retry_delay(stats))
                done += 1
        finally:
            with watching(self.name):
                self.on_database(lambda: StreamLease.objects.release(self.holder,
                                                                     name=self.name))


def summary(stats: RunStats) -> str:
    """One line on a run, for an operator."""
    return (f"run: {stats.messages} messages, {stats.scored} scored, {stats.dead_lettered} "
            f"dead-lettered, {stats.skipped} skipped, {stats.warmed_up} replayed for warm-up"
            + (f", error: {stats.errors[0]}" if stats.errors else ""))
