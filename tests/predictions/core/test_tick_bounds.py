"""Physical bounds of a tick: unit errors and garbage numbers are bad ticks, not crashes."""

from __future__ import annotations

import json
import time

import pytest

from predictions.core.ticks import MAX_FUTURE_SKEW_S, BadTick, parse_message


def legacy(**over) -> bytes:
    msg = {"type": "ticker", "product_id": "BTC-USD", "price": "100.5", "best_bid": "100.4",
           "best_ask": "100.6", "time": "2024-05-01T12:00:00Z", **over}
    return json.dumps(msg).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (legacy(time=1_714_564_800_000), "outside the sane range"),  # epoch ms read as seconds
        (legacy(time=1e300), "outside the sane range"),
        (legacy(time=-1.0), "outside the sane range"),
        (legacy(time="1999-01-01T00:00:00Z"), "outside the sane range"),
        (legacy(time=time.time() + 5 * 365 * 86400), "outside the sane range"),
        (legacy(price="5e-324", best_bid="", best_ask=""), "outside"),
        (legacy(price="1e300", best_bid="", best_ask=""), "outside"),
        (legacy(best_bid="1e-320"), "outside"),
        (legacy(best_ask="1e12"), "outside"),
        (legacy(best_bid="100.7"), "crossed book"),
        (legacy(best_bid_size="1e300"), "above"),
    ],
)
def test_a_tick_outside_the_physical_bounds_is_a_bad_tick_with_the_reason(raw, reason):
    with pytest.raises(BadTick, match=reason):
        parse_message(raw)


def test_a_tick_within_the_clock_skew_of_now_is_accepted():
    [tick] = parse_message(legacy(time=time.time() + MAX_FUTURE_SKEW_S / 2))
    assert tick.price == 100.5


def test_an_epoch_millisecond_timestamp_in_an_envelope_is_refused():
    env = {"channel": "ticker", "timestamp": 1_714_564_800_000, "events": [{"tickers": [
        {"product_id": "BTC-USD", "price": "100.5"}]}]}
    with pytest.raises(BadTick, match="outside the sane range"):
        parse_message(json.dumps(env).encode())
