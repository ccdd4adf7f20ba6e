"""`manage.py ingest --source simulate|replay|coinbase`: produce ticks to Kafka `ticks.raw`."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.core.tickfiles import MarketFileError, ReadReport, read_ticks
from predictions.core.ticks import BadTick, parse_timestamp
from predictions.messaging.coinbase import CoinbaseFeed, FeedStats
from predictions.messaging.kafka import ensure_topics
from predictions.messaging.publisher import BULK_PRODUCER_OPTIONS, Publisher, publish
from predictions.messaging.sources import replay_messages, simulated_messages, simulation_start

SOURCES = ("simulate", "replay", "coinbase")
# Malformed lines listed in the final report of a replay; the rest are counted.
SHOWN_ERRORS = 5


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
    help = ("Produce ticks to the ticks topic, keyed by product: simulated, replayed from "
            "captured files, or live from Coinbase Advanced Trade.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", choices=SOURCES, default=settings.TICK_SOURCE)
        parser.add_argument("--products", default=",".join(settings.SIMULATOR_PRODUCTS),
                            help="comma-separated product ids (simulate, coinbase)")
        parser.add_argument("--seed", type=int, default=settings.SIMULATOR_SEED)
        parser.add_argument("--speed", default="1",
                            help="1 = real time, 10 = 10x, or max (simulate, replay)")
        parser.add_argument("--max-messages", type=int, default=None)
        parser.add_argument("--duration", type=float, default=None,
                            help="seconds of event time to produce (coinbase: wall seconds)")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC_TICKS)
        parser.add_argument("--start", default=None,
                            help="event time of the first simulated tick (ISO-8601, UTC); "
                                 "default: now, or for --speed max with --max-messages, early "
                                 "enough that the backfill ends about now")
        parser.add_argument("--file", nargs="+", action="extend", default=None,
                            metavar="PATH", help="captured files to replay (any accepted "
                                                 "format, gzip or not), merged by event time")
        parser.add_argument("--tz", default=None,
                            help="IANA zone of naive timestamps in replayed files (default UTC)")

    def handle(self, *args, **opts) -> None:
        speed = parse_speed(opts["speed"])
        products = [p.strip() for p in opts["products"].split(",") if p.strip()]
        if opts["source"] != "replay" and not products:
            raise CommandError("--products names no product")
        if opts["source"] == "replay":
            self.replay(opts, speed)
        elif opts["source"] == "coinbase":
            self.coinbase(opts, products)
        else:
            self.simulate(opts, speed, products)

    # --- sources -----------------------------------------------------------------------------

    def simulate(self, opts: dict, speed: float | None, products: list[str]) -> None:
        if opts["start"]:
            try:
                start = parse_timestamp(opts["start"])
            except BadTick as exc:
                raise CommandError(f"--start: {exc}") from None
        else:
            start = simulation_start(speed=speed, max_messages=opts["max_messages"],
                                     n_products=len(products))
        self.ensure_topics(opts)
        messages = simulated_messages(products=products, seed=opts["seed"], start_ts=start)
        sent = self.publish(messages, opts, origin=start, speed=speed, total=opts["max_messages"])
        self.stdout.write(f"produced {sent} messages to {opts['topic']} "
                          f"({', '.join(products)})")

    def replay(self, opts: dict, speed: float | None) -> None:
        """Read every file first, so a bad file fails the run before anything is sent."""
        if not opts["file"]:
            raise CommandError("--source replay needs --file PATH [PATH ...]")
        try:
            report = read_ticks(opts["file"], tz=opts["tz"], progress=self.interactive(opts))
        except MarketFileError as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:  # an unknown --tz
            raise CommandError(f"--tz: {exc}") from None
        self.ensure_topics(opts)
        sent = self.publish(replay_messages(report.ticks), opts, origin=report.ticks[0].ts,
                            speed=speed, total=len(report.ticks), origin_is_now=True)
        self.report_replay(report, sent, opts["topic"])

    def coinbase(self, opts: dict, products: list[str]) -> None:
        """Forward the live feed until SIGTERM/Ctrl-C, --max-messages or --duration."""
        self.ensure_topics(opts)
        stopping = threading.Event()  # set by SIGTERM/SIGINT, even while a send blocks the loop
        publisher = Publisher(opts["topic"], keep_trying=lambda: not stopping.is_set())
        feed = CoinbaseFeed(url=settings.COINBASE_WS_URL, products=products,
                            send=publisher.send, max_messages=opts["max_messages"],
                            backoff_initial=settings.COINBASE_WS_BACKOFF_INITIAL_SECONDS,
                            backoff_cap=settings.COINBASE_WS_BACKOFF_MAX_SECONDS,
                            idle_timeout=settings.COINBASE_WS_IDLE_SECONDS)
        try:
            stats = asyncio.run(run_feed(feed, duration_s=opts["duration"],
                                         on_signal=stopping.set))
        finally:
            publisher.close()
        self.stdout.write(f"coinbase → {opts['topic']}: {stats.summary()}")

    # --- shared plumbing -----------------------------------------------------------------------

    def ensure_topics(self, opts: dict) -> None:
        ensure_topics([opts["topic"], settings.KAFKA_TOPIC_DLQ, settings.KAFKA_TOPIC_PREDICTIONS])

    def interactive(self, opts: dict) -> bool:
        return opts["verbosity"] >= 1 and self.stdout.isatty()

    def publish(self, messages: Iterator[tuple[float, str, bytes]], opts: dict, *,
                origin: float, speed: float | None, total: int | None,
                origin_is_now: bool = False) -> int:
        """Paced publishing with a progress bar; SIGTERM and Ctrl-C stop after a flush."""
        stopping = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
        # A broker outage is waited out (the feed pauses, then catches up) until a stop.
        publisher = Publisher(opts["topic"], keep_trying=lambda: not stopping["flag"],
                              **(BULK_PRODUCER_OPTIONS if speed is None else {}))
        if total is not None and opts["max_messages"] is not None:
            total = min(total, opts["max_messages"])
        bar = tqdm(total=total, unit="msg", desc=f"→ {opts['topic']}",
                   disable=not self.interactive(opts))
        try:
            return publish(messages, publisher, origin=origin, speed=speed,
                           max_messages=opts["max_messages"], duration_s=opts["duration"],
                           on_sent=lambda _: bar.update(1),
                           should_stop=lambda: stopping["flag"], origin_is_now=origin_is_now)
        except KeyboardInterrupt:
            return bar.n
        finally:
            bar.close()
            publisher.close()

    def report_replay(self, report: ReadReport, sent: int, topic: str) -> None:
        self.stdout.write(f"produced {sent} messages to {topic} from {len(report.files)} "
                          f"file(s): {report.summary()}")
        for path, stats in report.files.items():
            self.stdout.write(f"  {path}: {stats['format']}, {stats['lines']} lines, "
                              f"{stats['ticks']} ticks, {stats['skipped']} control messages, "
                              f"{stats['errors']} malformed")
        for error in report.errors[:SHOWN_ERRORS]:
            self.stdout.write(f"  malformed: {error}")
        if len(report.errors) > SHOWN_ERRORS:
            self.stdout.write(f"  … and {len(report.errors) - SHOWN_ERRORS} more malformed lines")


async def run_feed(feed: CoinbaseFeed, *, duration_s: float | None,
                   on_signal: Callable[[], None] = lambda: None) -> FeedStats:
    """Run the feed with SIGTERM/SIGINT wired to a clean stop (when on the main thread).

    `on_signal` is also called from the signal itself, so a send that blocks the event loop
    (the publisher waiting out a broker outage) learns of the stop at once. The event loop
    still gets the signal: it arrives through the wakeup file descriptor, whatever the
    Python-level handler."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            signal.signal(sig, lambda *_: on_signal())
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread (tests run the command in one): stop by other means
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    try:
        return await feed.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.remove_signal_handler(sig)
            except (ValueError, RuntimeError, NotImplementedError):
                pass
