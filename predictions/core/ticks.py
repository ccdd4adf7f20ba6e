"""Canonical ticks and the parsers for the exchange formats we accept.

Pure Python, no Django: the ingest command, the stream consumer and training all parse
messages here, so a message means the same thing everywhere.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

# Advanced Trade channels that carry no ticks and are skipped, not treated as errors.
NON_TICK_CHANNELS = frozenset({"subscriptions", "heartbeats"})


class BadTick(ValueError):
    """A message that cannot become a valid tick; the text is the reason."""


@dataclass(frozen=True, slots=True)
class Tick:
    product_id: str
    ts: float  # seconds since the epoch, UTC; exchange time where the message gives it
    price: float
    best_bid: float | None = None
    best_ask: float | None = None
    bid_qty: float | None = None
    ask_qty: float | None = None
    volume_24h: float | None = None
    sequence: int | None = None

    @property
    def mid(self) -> float:
        if self.best_bid is not None and self.best_ask is not None:
            return (self.best_bid + self.best_ask) / 2.0
        return self.price


# What a product id may look like ("BTC-USD", "BTC-PERP-INTX"): stored in a 32-character
# column, so anything longer or stranger is refused as a bad tick rather than failing a batch.
_PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,31}")
# Most tickers one envelope may carry (a tick's index in its message is stored as a small int).
MAX_TICKERS_PER_MESSAGE = 1000

# Physical bounds of a tick. Anything outside them is a unit error or garbage (epoch
# milliseconds read as seconds, 5e-324, 1e300), not a market event: refused as a bad tick
# here, before it can overflow a date, poison a feature window or fail a whole batch.
# The earliest time: Bitcoin's genesis block (3 January 2009); nothing older is a real tick.
MIN_TICK_TS = 1_230_940_800.0
# How far ahead of this machine's clock a tick may be (exchange clock skew, slow NTP). One
# dated further ahead would make every later tick of its product "out of order".
MAX_FUTURE_SKEW_S = 300.0
# Prices and sizes outside these are not a market (no asset trades below 1e-9 or above 1e9
# quote units; quantities past 1e15 are overflow garbage).
MIN_PRICE = 1e-9
MAX_PRICE = 1e9
MAX_QUANTITY = 1e15

# Epoch seconds written as text (CSV cells): nine or more digits, never a valid ISO-8601 date.
_EPOCH_TEXT = re.compile(r"\d{9,}(\.\d*)?")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


@lru_cache(maxsize=32)
def time_zone(name: str | None) -> tzinfo:
    """An IANA zone by name (None is UTC); ValueError names an unknown zone.

    Not a BadTick: a wrong zone is the caller's mistake, not one bad line.
    """
    if name is None or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as "
                         f"'Europe/Berlin')") from None


def parse_timestamp(value: Any, tz: str | None = None) -> float:
    """ISO-8601 (with Z or an offset, up to nanoseconds), a datetime or epoch seconds → epoch
    seconds.

    A timestamp without a zone is in `tz` (an IANA name), UTC when `tz` is None: captured
    files from a local recorder often carry local wall-clock times without an offset.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadTick(f"timestamp {value!r} is not finite")
        return float(value)
    if isinstance(value, datetime):
        return _aware(value, tz).timestamp()
    if not isinstance(value, str) or not value:
        raise BadTick(f"timestamp {value!r} is not a string")
    if value[10:11] == "T":  # the exchange's form: Python reads Z and long fractions itself
        try:
            return _aware(datetime.fromisoformat(value), tz).timestamp()
        except ValueError:
            pass  # the general path below names the problem
    text = value.strip()
    if _EPOCH_TEXT.fullmatch(text):
        return float(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python parses at most microseconds: cut longer fractions (Coinbase sends nanoseconds).
    text = _LONG_FRACTION.sub(r"\1", text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadTick(f"timestamp {value!r} is not ISO-8601") from None
    return _aware(parsed, tz).timestamp()


def _aware(moment: datetime, tz: str | None) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=time_zone(tz))
    return moment


def _number(obj: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    raw = obj.get(key)
    if raw.__class__ is str and raw:  # the usual case, a number as text: checked cheaply
        try:
            value = float(raw)
        except ValueError:
            raise BadTick(f"field {key!r}={raw!r} is not a number") from None
        if value - value != 0.0:  # inf or nan
            raise BadTick(f"field {key!r} is not finite")
        return value
    if raw is None or raw == "":
        if required:
            raise BadTick(f"missing field {key!r}")
        return None
    if isinstance(raw, bool):
        raise BadTick(f"field {key!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadTick(f"field {key!r}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise BadTick(f"field {key!r} is not finite")
    return value


_valid_product_ids: set[str] = set()


def is_product_id(text: str) -> bool:
    """Whether `text` looks like a product id (the API checks path parameters with this)."""
    return bool(_PRODUCT_ID.fullmatch(text))


def _check_product_id(product_id: str) -> None:
    if not _PRODUCT_ID.fullmatch(product_id):
        raise BadTick(f"product_id {product_id[:40]!r} is not a product id (1–32 letters, "
                      "digits and . _ - / :, starting with a letter or digit)")
    if len(_valid_product_ids) < 10_000:  # remember the few real ones; never grow unbounded
        _valid_product_ids.add(product_id)


def make_tick(
    *,
    product_id: Any,
    ts: float,
    price: float | None,
    best_bid: float | None,
    best_ask: float | None,
    bid_qty: float | None,
    ask_qty: float | None,
    volume_24h: float | None,
    sequence: Any,
) -> Tick:
    """Build a tick and check what makes it usable: a product, a time within the physical
    bounds, positive prices within them, no crossed book."""
    if not isinstance(product_id, str) or not product_id:
        raise BadTick("missing field 'product_id'")
    if product_id not in _valid_product_ids:
        _check_product_id(product_id)
    check_time(ts)
    if price is None:
        raise BadTick("missing field 'price'")
    if price <= 0:
        raise BadTick(f"price {price} is not positive")
    for name, value in (("price", price), ("best_bid", best_bid), ("best_ask", best_ask)):
        if value is not None:
            _check_price(name, value)
    for name, value in (("bid_qty", bid_qty), ("ask_qty", ask_qty), ("volume_24h", volume_24h)):
        if value is not None and value < 0:
            raise BadTick(f"{name} {value} is negative")
        if value is not None and value > MAX_QUANTITY:
            raise BadTick(f"{name} {value} is above {MAX_QUANTITY:g}")
    if best_bid is not None and best_ask is not None and best_bid > best_ask:
        raise BadTick(f"crossed book: best_bid {best_bid} > best_ask {best_ask}")
    seq = None
    if sequence is not None:
        try:
            seq = int(sequence)
        except (TypeError, ValueError):
            raise BadTick(f"sequence {sequence!r} is not an integer") from None
    return Tick(product_id, ts, price, best_bid, best_ask, bid_qty, ask_qty, volume_24h, seq)


def check_time(ts: float, now: float | None = None) -> None:
    """Refuse a time outside [MIN_TICK_TS, now + MAX_FUTURE_SKEW_S]: epoch milliseconds read
    as seconds, 1e300 or a clock years ahead are errors, and a future tick would block its
    product's later ticks as out of order."""
    if not MIN_TICK_TS <= ts <= (time.time() if now is None else now) + MAX_FUTURE_SKEW_S:
        raise BadTick(f"timestamp {ts!r} is outside the sane range (after 2009-01-03 and at "
                      f"most {MAX_FUTURE_SKEW_S:g} s ahead of now; epoch milliseconds?)")


def _check_price(name: str, value: float) -> None:
    if not MIN_PRICE <= value <= MAX_PRICE:
        raise BadTick(f"{name} {value!r} is outside [{MIN_PRICE:g}, {MAX_PRICE:g}]")


def _advanced_trade_ticks(msg: dict[str, Any], tz: str | None = None) -> list[Tick]:
    channel = msg.get("channel")
    if channel in NON_TICK_CHANNELS:
        return []
    if channel != "ticker":
        raise BadTick(f"unknown channel {channel!r}")
    ts = parse_timestamp(msg.get("timestamp"), tz)
    events = msg.get("events")
    if not isinstance(events, list):
        raise BadTick("field 'events' is not a list")
    ticks: list[Tick] = []
    for event in events:
        tickers = event.get("tickers") if isinstance(event, dict) else None
        if not isinstance(tickers, list):
            raise BadTick("an event has no 'tickers' list")
        if len(ticks) + len(tickers) > MAX_TICKERS_PER_MESSAGE:
            raise BadTick(f"more than {MAX_TICKERS_PER_MESSAGE} tickers in one message")
        for t in tickers:
            if not isinstance(t, dict):
                raise BadTick("a ticker is not an object")
            ticks.append(
                make_tick(
                    product_id=t.get("product_id"),
                    ts=ts,
                    price=_number(t, "price", required=True),
                    best_bid=_number(t, "best_bid"),
                    best_ask=_number(t, "best_ask"),
                    bid_qty=_number(t, "best_bid_quantity"),
                    ask_qty=_number(t, "best_ask_quantity"),
                    volume_24h=_number(t, "volume_24_h"),
                    sequence=msg.get("sequence_num"),
                )
            )
    return ticks


def _legacy_ticker(msg: dict[str, Any], tz: str | None = None) -> Tick:
    return make_tick(
        product_id=msg.get("product_id"),
        ts=parse_timestamp(msg.get("time"), tz),
        price=_number(msg, "price", required=True),
        best_bid=_number(msg, "best_bid"),
        best_ask=_number(msg, "best_ask"),
        bid_qty=_number(msg, "best_bid_size"),
        ask_qty=_number(msg, "best_ask_size"),
        volume_24h=_number(msg, "volume_24h"),
        sequence=msg.get("sequence"),
    )


def parse_row(msg: dict[str, Any], tz: str | None = None) -> Tick:
    """A flattened row with the canonical columns (NDJSON, CSV or Parquet) → its tick."""
    ts_raw = next((msg[k] for k in ("ts", "timestamp", "time") if msg.get(k) not in (None, "")), None)
    if ts_raw is None:
        raise BadTick("missing time column (ts, timestamp or time)")
    return make_tick(
        product_id=msg.get("product_id"),
        ts=parse_timestamp(ts_raw, tz),
        price=_number(msg, "price", required=True),
        best_bid=_number(msg, "best_bid"),
        best_ask=_number(msg, "best_ask"),
        bid_qty=_number(msg, "bid_qty"),
        ask_qty=_number(msg, "ask_qty"),
        volume_24h=_number(msg, "volume_24h"),
        sequence=None if msg.get("sequence") == "" else msg.get("sequence"),  # empty CSV cell
    )


def parse_message(raw: bytes | str | dict[str, Any], *, tz: str | None = None) -> list[Tick]:
    """One message of any accepted format → its ticks (none for control messages).

    Raises BadTick with the reason for anything that is not a valid message. `tz` is the zone
    of timestamps that carry none (UTC by default).
    """
    if isinstance(raw, dict):
        msg = raw
    else:
        try:
            msg = orjson.loads(raw)  # about twice as fast as json on the consumer hot path
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadTick(f"invalid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise BadTick("message is not a JSON object")
    if "channel" in msg:
        return _advanced_trade_ticks(msg, tz)
    kind = msg.get("type")
    if kind == "ticker":
        return [_legacy_ticker(msg, tz)]
    if kind in {"subscriptions", "heartbeat"}:
        return []
    if "product_id" in msg and "price" in msg:
        return [parse_row(msg, tz)]
    raise BadTick("unknown message format")


def format_timestamp(ts: float) -> str:
    """Epoch seconds → the exchange's ISO form with a Z."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def advanced_trade_envelope(tick: Tick, *, sequence_num: int) -> dict[str, Any]:
    """A tick as a Coinbase Advanced Trade `ticker` message (values as strings)."""

    def s(value: float | None) -> str:
        return "" if value is None else repr(float(value))

    return {
        "channel": "ticker",
        "client_id": "",
        "timestamp": format_timestamp(tick.ts),
        "sequence_num": sequence_num,
        "events": [
            {
                "type": "update",
                "tickers": [
                    {
                        "type": "ticker",
                        "product_id": tick.product_id,
                        "price": s(tick.price),
                        "volume_24_h": s(tick.volume_24h),
                        "best_bid": s(tick.best_bid),
                        "best_ask": s(tick.best_ask),
                        "best_bid_quantity": s(tick.bid_qty),
                        "best_ask_quantity": s(tick.ask_qty),
                    }
                ],
            }
        ],
    }
