"""The live source: Coinbase Advanced Trade WebSocket `ticker` messages → Kafka records.

One connection subscribes to `ticker` (for the products) and `heartbeats` (without them the
exchange closes quiet subscriptions after 60–90 s, and their silence tells us a connection is
dead). Ticker messages are forwarded as the exchange sent them, keyed by product; heartbeats,
subscription confirmations and other control messages are counted and never produced, so the
topic holds ticks only. A lost connection is re-opened with exponential backoff and jitter,
and the subscriptions are sent again (the exchange forgets them with the connection).

Pure asyncio + websockets, no Django: the ingest command passes in the URL and a `send`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

log = logging.getLogger(__name__)

Send = Callable[[str, bytes], None]


@dataclass
class FeedStats:
    connections: int = 0
    reconnects: int = 0
    produced: int = 0  # Kafka records sent (one per product of a ticker message)
    heartbeats: int = 0
    control: int = 0  # subscriptions, errors and any other non-ticker message
    malformed: int = 0
    sequence_gaps: int = 0

    def summary(self) -> str:
        return (f"{self.produced} ticker messages produced, {self.reconnects} reconnects, "
                f"{self.heartbeats} heartbeats and {self.control} control messages skipped, "
                f"{self.malformed} malformed, {self.sequence_gaps} sequence gaps")


def subscribe_messages(products: list[str]) -> list[dict[str, Any]]:
    """Advanced Trade takes one channel per subscribe message; heartbeats need no products."""
    return [{"type": "subscribe", "channel": "ticker", "product_ids": list(products)},
            {"type": "subscribe", "channel": "heartbeats"}]


def backoff_delay(attempt: int, *, initial: float, cap: float,
                  rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: somewhere in the upper half of min(cap, initial·2^n).

    The jitter keeps many ingest processes from reconnecting in lock-step after an outage;
    the floor of half keeps the delay growing.
    """
    ceiling = min(cap, initial * 2**attempt)
    return ceiling / 2 + rand() * ceiling / 2


def ticker_records(raw: bytes, msg: dict[str, Any]) -> list[tuple[str, bytes]]:
    """A ticker message → (product, bytes) records.

    One product (the usual case): the original bytes. Several: one message per product,
    each holding only that product's tickers, so the key still orders every product's ticks.
    Raises ValueError when no product id can be found.
    """
    events = msg.get("events") if isinstance(msg.get("events"), list) else []
    products: list[str] = []
    for event in events:
        for t in (event.get("tickers") or []) if isinstance(event, dict) else []:
            pid = t.get("product_id") if isinstance(t, dict) else None
            if isinstance(pid, str) and pid and pid not in products:
                products.append(pid)
    if not products:
        raise ValueError("ticker message without a product_id")
    if len(products) == 1:
        return [(products[0], raw)]
    return [(pid, orjson.dumps({**msg, "events": _events_of(events, pid)})) for pid in products]


def _events_of(events: list[dict[str, Any]], product: str) -> list[dict[str, Any]]:
    out = []
    for event in events:
        tickers = [t for t in event.get("tickers") or [] if t.get("product_id") == product]
        if tickers:
            out.append({**event, "tickers": tickers})
    return out


class CoinbaseFeed:
    """Connect, subscribe, forward, reconnect — until `stop` is set or `max_messages` sent."""

    def __init__(self, *, url: str, products: list[str], send: Send,
                 backoff_initial: float = 1.0, backoff_cap: float = 30.0,
                 idle_timeout: float = 15.0, max_messages: int | None = None) -> None:
        self.url = url
        self.products = list(products)
        self.send = send
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.idle_timeout = idle_timeout
        self.max_messages = max_messages
        self.stats = FeedStats()
        self._last_seq: int | None = None

    async def run(self, stop: asyncio.Event) -> FeedStats:
        """Run until stopped; setting `stop` interrupts even a pending connect or receive."""
        main = asyncio.create_task(self._loop(stop))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (main, stopped):
            task.cancel()
        await asyncio.gather(main, stopped, return_exceptions=True)
        if not main.cancelled() and main.exception() is not None:
            raise main.exception()  # e.g. Kafka unreachable: the command reports it
        return self.stats

    def done(self) -> bool:
        return self.max_messages is not None and self.stats.produced >= self.max_messages

    async def _loop(self, stop: asyncio.Event) -> None:
        """Steps: open a session; when it ends, wait a growing, jittered delay; repeat.

        A session that delivered messages resets the backoff, so one blip costs one short
        wait while a down exchange is retried ever more slowly, up to the cap.
        """
        attempt = 0
        while not stop.is_set() and not self.done():
            received = await self._session()
            if self.done():
                return
            attempt = 0 if received else attempt + 1
            delay = backoff_delay(attempt, initial=self.backoff_initial, cap=self.backoff_cap)
            self.stats.reconnects += 1
            log.warning("coinbase: reconnect #%d in %.2f s", self.stats.reconnects, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> int:
        """One connection: subscribe, then forward until it fails or goes quiet."""
        received = 0
        self._last_seq = None  # sequence_num restarts with every connection
        try:
            async with connect(self.url, open_timeout=10, ping_interval=20,
                               max_size=4 * 2**20) as ws:
                self.stats.connections += 1
                for message in subscribe_messages(self.products):
                    await ws.send(json.dumps(message))
                log.info("coinbase: connected to %s; subscribed to ticker %s and heartbeats",
                         self.url, ",".join(self.products))
                while not self.done():
                    raw = await asyncio.wait_for(ws.recv(decode=False), self.idle_timeout)
                    received += 1
                    self.handle(raw)
        except TimeoutError:
            log.warning("coinbase: nothing received for %.0f s; dropping the connection",
                        self.idle_timeout)
        except (OSError, WebSocketException) as exc:
            log.warning("coinbase: connection lost: %s", exc or type(exc).__name__)
        return received

    def handle(self, raw: bytes) -> None:
        """Forward a ticker message; count and skip everything else."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self.stats.malformed += 1
            log.warning("coinbase: skipped a message that is not a JSON object: %.200r", raw)
            return
        self._check_sequence(msg.get("sequence_num"))
        channel = msg.get("channel")
        if channel == "ticker":
            self._forward(raw, msg)
        elif channel == "heartbeats":
            self.stats.heartbeats += 1
        else:
            self.stats.control += 1
            if msg.get("type") == "error":
                log.error("coinbase: error from the exchange: %s", msg.get("message"))

    def _forward(self, raw: bytes, msg: dict[str, Any]) -> None:
        try:
            records = ticker_records(raw, msg)
        except ValueError as exc:
            self.stats.malformed += 1
            log.warning("coinbase: skipped a ticker message: %s", exc)
            return
        for key, value in records:
            self.send(key, value)
            self.stats.produced += 1

    def _check_sequence(self, seq: Any) -> None:
        """sequence_num counts every message of a connection; a jump means we missed some."""
        if not isinstance(seq, int):
            return
        if self._last_seq is not None and seq > self._last_seq + 1:
            self.stats.sequence_gaps += 1
            log.warning("coinbase: sequence gap %d → %d", self._last_seq, seq)
        self._last_seq = seq
