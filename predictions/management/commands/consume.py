"""`manage.py consume`: the stream consumer loop in the foreground, for debugging."""

from __future__ import annotations

import logging
import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring import metrics
from predictions.stream import consumer as stream

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = ("Run the stream consumer in the foreground. It holds the same lease as the Celery "
            "chain of its slot, so it waits while another consumer holds it.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=0, help="stop after N runs (0 = forever)")
        parser.add_argument("--run-seconds", type=float, default=settings.STREAM_RUN_SECONDS)
        parser.add_argument("--slot", type=int, default=0,
                            help="lease slot (0 … STREAM_CONSUMER_SLOTS-1)")

    def handle(self, *args, **opts) -> None:
        """Steps: wait for the slot's lease; run bounded runs; on an error report it and retry
        after a second (a broker outage heals by itself); release the lease on SIGTERM/SIGINT."""
        holder = f"cli-{os.getpid()}"
        name = stream.lease_name(opts["slot"])
        stopping = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
        signal.signal(signal.SIGINT, lambda *_: stopping.update(flag=True))
        runs = 0
        try:
            while not stopping["flag"] and (opts["runs"] == 0 or runs < opts["runs"]):
                if not stream.lease_claim(holder, name=name):
                    self.stdout.write(f"lease {name} is held by another consumer; waiting")
                    time.sleep(1)
                    continue
                self.one_run(holder, name, opts, stopping)
                runs += 1
        finally:
            stream.lease_release(holder, name=name)

    def one_run(self, holder: str, name: str, opts: dict, stopping: dict) -> None:
        stats = stream.RunStats()
        try:
            stats = stream.consume_run(max_seconds=opts["run_seconds"], holder=holder,
                                       slot=opts["slot"], should_stop=lambda: stopping["flag"])
        except stream.LeaseLost:
            self.stdout.write(f"lost lease {name} to another consumer")
            return
        except Exception as exc:  # report, then retry: the next run starts from the DB offsets
            metrics.CONSUMER_ERRORS.labels(kind=type(exc).__name__).inc()
            stats.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("consumer run failed")
            time.sleep(1)
        stream.lease_report(holder, stats, name=name)
        self.stdout.write(
            f"run: {stats.messages} messages, {stats.scored} scored, {stats.dead_lettered} "
            f"dead-lettered, {stats.skipped} skipped, {stats.warmed_up} replayed for warm-up"
            + (f", error: {stats.errors[0]}" if stats.errors else "")
        )
