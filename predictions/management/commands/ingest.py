"""`manage.py ingest --source simulate`: produce ticks to Kafka `ticks.raw`."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.ingest import Publisher, publish, simulated_messages, simulation_start
from predictions.kafka import ensure_topics
from predictions.marketdata import BadTick, parse_timestamp

SOURCES = ("simulate",)


def parse_speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise CommandError(f"--speed must be a number or 'max', not {value!r}") from None
    if speed <= 0:
        raise CommandError("--speed must be positive")
    return speed


class Command(BaseCommand):
    help = "Produce ticks (Coinbase Advanced Trade ticker envelopes) to the ticks topic."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", choices=SOURCES, default=settings.TICK_SOURCE)
        parser.add_argument("--products", default=",".join(settings.SIMULATOR_PRODUCTS),
                            help="comma-separated product ids (simulate)")
        parser.add_argument("--seed", type=int, default=settings.SIMULATOR_SEED)
        parser.add_argument("--speed", default="1", help="1 = real time, 10 = 10x, or max")
        parser.add_argument("--max-messages", type=int, default=None)
        parser.add_argument("--duration", type=float, default=None,
                            help="seconds of event time to produce")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC_TICKS)
        parser.add_argument("--start", default=None,
                            help="event time of the first simulated tick (ISO-8601, UTC); "
                                 "default: now, or for --speed max with --max-messages, early "
                                 "enough that the backfill ends about now")

    def handle(self, *args, **opts) -> None:
        speed = parse_speed(opts["speed"])
        products = [p.strip() for p in opts["products"].split(",") if p.strip()]
        if not products:
            raise CommandError("--products names no product")
        stopping = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
        ensure_topics([opts["topic"], settings.KAFKA_TOPIC_DLQ, settings.KAFKA_TOPIC_PREDICTIONS])
        if opts["start"]:
            try:
                start = parse_timestamp(opts["start"])
            except BadTick as exc:
                raise CommandError(f"--start: {exc}") from None
        else:
            start = simulation_start(speed=speed, max_messages=opts["max_messages"],
                                     n_products=len(products))
        messages = simulated_messages(products=products, seed=opts["seed"], start_ts=start)
        publisher = Publisher(opts["topic"])
        bar = tqdm(total=opts["max_messages"], unit="msg", desc=f"→ {opts['topic']}",
                   disable=opts["verbosity"] < 1 or not self.stdout.isatty())
        try:
            sent = publish(messages, publisher, origin=start, speed=speed,
                           max_messages=opts["max_messages"],
                           duration_s=opts["duration"], on_sent=lambda _: bar.update(1),
                           should_stop=lambda: stopping["flag"])
        except KeyboardInterrupt:
            sent = bar.n
        finally:
            bar.close()
            publisher.close()
        self.stdout.write(f"produced {sent} messages to {opts['topic']} "
                          f"({', '.join(products)})")
