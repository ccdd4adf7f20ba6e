"""Tick sources → Kafka `ticks.raw`, keyed by product id.

Each source yields (event time, product_id, message bytes) in time order; `publish` sends
them, paced to the requested speed, and re-creates the producer if the broker restarts (an
idempotent producer does not survive that; see docs/architecture.md). The live Coinbase
source is not paced (the exchange paces it) and lives in predictions/coinbase.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from kafka.errors import KafkaError

from predictions.kafka import make_producer
from predictions.marketdata import Tick, advanced_trade_envelope
from predictions.simulator import MarketSimulator

log = logging.getLogger(__name__)

# Producer options for a max-speed backfill: bigger, later batches mean fewer sender wake-ups
# (kafka-python's per-message cost dominates a replay otherwise).
BULK_PRODUCER_OPTIONS: dict[str, Any] = {"linger_ms": 50, "batch_size": 256 * 1024}

# Assumed tick rate per product when a max-speed backfill is placed to end near now.
_BACKFILL_TICKS_PER_S = 2.5


def simulated_messages(*, products: list[str], seed: int, start_ts: float
                       ) -> Iterator[tuple[float, str, bytes]]:
    """(event time, product, Advanced Trade envelope bytes), forever."""
    for seq, tick in enumerate(MarketSimulator(products, seed=seed, start_ts=start_ts).ticks(), 1):
        envelope = advanced_trade_envelope(tick, sequence_num=seq)
        yield tick.ts, tick.product_id, json.dumps(envelope, separators=(",", ":")).encode()


def replay_messages(ticks: list[Tick]) -> Iterator[tuple[float, str, bytes]]:
    """(event time, product, Advanced Trade envelope bytes) for ticks read from files.

    Every tick is re-encoded as an envelope whatever its file's format: the consumer sees one
    format, CSV and Parquet rows have no message bytes to send, and duplicates dropped by the
    reader stay dropped. A tick's own sequence is kept; ticks without one are numbered.
    """
    for n, tick in enumerate(ticks, 1):
        seq = tick.sequence if tick.sequence is not None else n
        yield tick.ts, tick.product_id, orjson.dumps(advanced_trade_envelope(tick, sequence_num=seq))


def simulation_start(*, speed: float | None, max_messages: int | None, n_products: int) -> float:
    """Paced runs start now; a max-speed backfill of N messages is placed to end about now."""
    now = time.time()
    if speed is None and max_messages:
        return now - max_messages / (_BACKFILL_TICKS_PER_S * n_products)
    return now


class Publisher:
    """A producer that survives broker restarts by re-creating itself."""

    def __init__(self, topic: str, **producer_options: Any) -> None:
        self.topic = topic
        self.producer_options = producer_options
        self.producer = make_producer(**producer_options)

    def send(self, key: str, value: bytes) -> None:
        for attempt in range(5):
            try:
                self.producer.send(self.topic, key=key.encode(), value=value)
                return
            except KafkaError as exc:
                log.warning("producer failed (%s); re-creating it (attempt %d)", exc, attempt + 1)
                self._recreate()
                time.sleep(min(2**attempt * 0.2, 3.0))
        raise RuntimeError(f"could not publish to {self.topic} after 5 attempts")

    def _recreate(self) -> None:
        try:
            self.producer.close(timeout=1)
        except Exception:  # a broken producer may fail to close; it is dropped anyway
            pass
        self.producer = make_producer(**self.producer_options)

    def close(self) -> None:
        self.producer.flush(timeout=30)
        self.producer.close(timeout=5)


def publish(messages: Iterator[tuple[float, str, bytes]], publisher: Publisher, *,
            origin: float, speed: float | None, max_messages: int | None,
            duration_s: float | None, on_sent: Callable[[int], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False, origin_is_now: bool = False) -> int:
    """Send messages in order; `speed` None means as fast as possible. Returns the count.

    Pacing is measured from `origin`. For generated streams (`origin_is_now` False) origin is
    placed on the wall clock: at speed 1 a message stamped T is never sent before wall-clock
    T. A replay of captured history (`origin_is_now` True) maps origin to the moment
    publishing starts, so the first tick goes out at once and the rest keep their spacing.
    """
    sent = 0
    behind = 0.0 if origin_is_now else max(time.time() - origin, 0.0)
    wall0 = time.monotonic() - behind
    for event_ts, key, value in messages:
        if should_stop() or (max_messages is not None and sent >= max_messages):
            break
        elapsed_event = event_ts - origin
        if duration_s is not None and elapsed_event > duration_s:
            break
        if speed is not None:
            delay = wall0 + elapsed_event / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        publisher.send(key, value)
        sent += 1
        if on_sent is not None:
            on_sent(sent)
    publisher.producer.flush(timeout=30)
    return sent
