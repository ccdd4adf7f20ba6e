"""Tick sources for the publisher: each yields (event time, product_id, message bytes) in
time order, the message an Advanced Trade ticker envelope."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import orjson

from predictions.core.simulator import MarketSimulator
from predictions.core.ticks import Tick, advanced_trade_envelope

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
