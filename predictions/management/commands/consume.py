"""`manage.py consume`: the stream consumer loop in the foreground, for debugging."""

from __future__ import annotations

import os
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions import stream


class Command(BaseCommand):
    help = "Run the stream consumer in the foreground (holds the same lease as the Celery chain)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=0, help="stop after N runs (0 = forever)")
        parser.add_argument("--run-seconds", type=float, default=settings.STREAM_RUN_SECONDS)

    def handle(self, *args, **opts) -> None:
        holder = f"cli-{os.getpid()}"
        stopping = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
        signal.signal(signal.SIGINT, lambda *_: stopping.update(flag=True))
        runs = 0
        try:
            while not stopping["flag"] and (opts["runs"] == 0 or runs < opts["runs"]):
                if not stream.lease_claim(holder, seconds=opts["run_seconds"] + 30):
                    raise CommandError("another consumer holds the lease; stop it first")
                stats = stream.consume_run(max_seconds=opts["run_seconds"],
                                           should_stop=lambda: stopping["flag"])
                stream.lease_report(holder, stats)
                runs += 1
                self.stdout.write(
                    f"run {runs}: {stats.messages} messages, {stats.scored} scored, "
                    f"{stats.dead_lettered} dead-lettered, {stats.skipped} skipped"
                )
        finally:
            stream.lease_release(holder)
