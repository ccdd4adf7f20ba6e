from __future__ import annotations

import json

import pytest

from predictions.core.ticks import (
    BadTick,
    Tick,
    advanced_trade_envelope,
    parse_message,
    parse_timestamp,
)

ENVELOPE = {
    "channel": "ticker",
    "client_id": "",
    "timestamp": "2024-05-01T12:00:00.123456789Z",
    "sequence_num": 42,
    "events": [{"type": "update", "tickers": [{
        "type": "ticker", "product_id": "BTC-USD", "price": "60000.5", "volume_24_h": "1234.5",
        "low_24_h": "59000", "high_24_h": "61000", "best_bid": "60000.1", "best_ask": "60000.9",
        "best_bid_quantity": "0.5", "best_ask_quantity": "1.5",
    }]}],
}


def test_it_reads_an_advanced_trade_envelope():
    [tick] = parse_message(json.dumps(ENVELOPE).encode())
    assert tick.product_id == "BTC-USD"
    assert tick.price == 60000.5 and tick.best_bid == 60000.1 and tick.best_ask == 60000.9
    assert tick.bid_qty == 0.5 and tick.ask_qty == 1.5 and tick.volume_24h == 1234.5
    assert tick.sequence == 42
    assert tick.ts == pytest.approx(parse_timestamp("2024-05-01T12:00:00.123456Z"))


def test_it_skips_subscriptions_and_heartbeats():
    assert parse_message(b'{"channel":"subscriptions","events":[]}') == []
    assert parse_message(b'{"channel":"heartbeats","events":[{"heartbeat_counter":3}]}') == []


def test_it_reads_a_legacy_exchange_ticker():
    msg = {"type": "ticker", "sequence": 7, "product_id": "ETH-USD", "price": "3000.1",
           "best_bid": "3000.0", "best_ask": "3000.2", "best_bid_size": "2", "best_ask_size": "3",
           "time": "2024-05-01T12:00:01Z", "trade_id": 1, "last_size": "0.1"}
    [tick] = parse_message(json.dumps(msg))
    assert (tick.product_id, tick.price, tick.bid_qty, tick.sequence) == ("ETH-USD", 3000.1, 2.0, 7)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"hello":"world"}', "unknown message format"),
        (json.dumps({**ENVELOPE, "timestamp": "yesterday"}).encode(), "not ISO-8601"),
        (json.dumps({"type": "ticker", "product_id": "BTC-USD", "price": "-1",
                     "time": "2024-05-01T12:00:00Z"}).encode(), "not positive"),
        (json.dumps({"type": "ticker", "product_id": "BTC-USD", "price": "10", "best_bid": "11",
                     "best_ask": "10.5", "time": "2024-05-01T12:00:00Z"}).encode(), "crossed book"),
        (json.dumps({"type": "ticker", "price": "10", "time": "2024-05-01T12:00:00Z"}).encode(),
         "product_id"),
        (json.dumps({"type": "ticker", "product_id": "BTC-USD" * 6, "price": "10",
                     "time": "2024-05-01T12:00:00Z"}).encode(), "is not a product id"),
        (json.dumps({"type": "ticker", "product_id": "BTC\tUSD", "price": "10",
                     "time": "2024-05-01T12:00:00Z"}).encode(), "is not a product id"),
        (json.dumps({**ENVELOPE, "events": [{"type": "update", "tickers": [
            ENVELOPE["events"][0]["tickers"][0]] * 1001}]}).encode(), "more than 1000 tickers"),
    ],
)
def test_it_names_the_reason_for_a_bad_message(raw, reason):
    with pytest.raises(BadTick, match=reason):
        parse_message(raw)


def test_a_naive_timestamp_is_utc():
    assert parse_timestamp("2024-05-01T00:00:00") == parse_timestamp("2024-05-01T00:00:00Z")


def test_an_envelope_round_trips():
    tick = Tick("BTC-USD", 1_714_564_800.25, 60000.5, 60000.0, 60001.0, 0.25, 0.75, 100.0, 3)
    [back] = parse_message(json.dumps(advanced_trade_envelope(tick, sequence_num=3)))
    assert back == tick


def test_a_naive_timestamp_can_be_read_in_a_named_zone():
    assert parse_timestamp("2024-01-15T09:00:00", "Europe/Berlin") == parse_timestamp(
        "2024-01-15T08:00:00Z")
    assert parse_timestamp("2024-01-15T09:00:00+00:00", "Europe/Berlin") == parse_timestamp(
        "2024-01-15T09:00:00Z")


def test_epoch_seconds_as_text_are_read_as_epoch_seconds():
    assert parse_timestamp("1714564800.25") == 1714564800.25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000.123456),  # nanoseconds are cut
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T23:13:20.5+01:00", 1_700_000_000.5),
        ("2023-11-14T22:13:20.25", 1_700_000_000.25),  # no zone: UTC
        ("2023-11-14 22:13:20.25Z", 1_700_000_000.25),  # a space instead of the T
        (" 2023-11-14T22:13:20Z ", 1_700_000_000.0),  # surrounding blanks
    ],
)
def test_iso_timestamps_read_the_same_on_every_path(text, expected):
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("price", "reason"), [("nan", "not finite"), ("inf", "not finite"),
                                               ("abc", "is not a number"), (True, "not a number")])
def test_a_price_that_is_not_a_finite_number_is_refused(price, reason):
    ticker = {**ENVELOPE["events"][0]["tickers"][0], "price": price}
    with pytest.raises(BadTick, match=reason):
        parse_message({**ENVELOPE, "events": [{"type": "update", "tickers": [ticker]}]})
