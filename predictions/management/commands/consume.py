"""`manage.py consume`: the stream consumer loop in the foreground, for debugging."""

from __future__ import annotations

import os
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from predictions.stream.runner import StreamRunner


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
        stopping = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
        signal.signal(signal.SIGINT, lambda *_: stopping.update(flag=True))
        runner = StreamRunner(f"cli-{os.getpid()}", slot=opts["slot"],
                              run_seconds=opts["run_seconds"],
                              should_stop=lambda: stopping["flag"], say=self.stdout.write)
        runner.serve(runs=opts["runs"])
