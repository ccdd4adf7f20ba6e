"""`manage.py runstack`: run every process of the product (what `make run` calls)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from predictions.management import stack


class Command(BaseCommand):
    help = "Run broker, web, workers, beat and the simulator feed; Ctrl-C stops them all."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("WEB_BIND", "127.0.0.1:8000"))
        parser.add_argument("--kafka-port", type=int,
                            default=int(os.environ.get("KAFKA_PORT", "9092")))
        parser.add_argument("--speed", default="1", help="simulator speed: 1, 10 or max")

    def handle(self, *args, **opts) -> None:
        code = stack.run(web_bind=opts["bind"], kafka_port=opts["kafka_port"],
                         speed=opts["speed"])
        if code:
            raise SystemExit(code)
