"""Captured files of every accepted format → one clean, ordered stream, bad lines reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from predictions.core.tickfiles import LineError, MarketFileError, iter_file_messages, read_ticks
from predictions.core.ticks import Tick, advanced_trade_envelope, parse_timestamp

T0 = parse_timestamp("2024-05-01T12:00:00Z")


def tick(product: str, dt: float, price: float, seq: int | None = None) -> Tick:
    return Tick(product, T0 + dt, price, price - 0.5, price + 0.5, 1.0, 2.0, 100.0, seq)


def envelope_line(t: Tick, seq: int) -> str:
    return json.dumps(advanced_trade_envelope(t, sequence_num=seq))


def exchange_line(t: Tick, *, time: str | None = None) -> str:
    return json.dumps({"type": "ticker", "sequence": t.sequence, "product_id": t.product_id,
                       "price": str(t.price), "best_bid": str(t.best_bid),
                       "best_ask": str(t.best_ask), "best_bid_size": "1.0",
                       "best_ask_size": "2.0", "volume_24h": "100.0",
                       "time": time or _iso(t.ts), "trade_id": 1, "last_size": "0.01"})


def _iso(ts: float) -> str:
    return pd.Timestamp(ts, unit="s", tz="UTC").isoformat().replace("+00:00", "Z")


def write(path: Path, lines: list[str], *, gz: bool = False) -> str:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


SUBSCRIPTIONS = json.dumps({"channel": "subscriptions", "client_id": "", "timestamp":
                            "2024-05-01T12:00:00.1Z", "sequence_num": 0, "events": [
                                {"subscriptions": {"ticker": ["BTC-USD", "ETH-USD"]}}]})
HEARTBEAT = json.dumps({"channel": "heartbeats", "client_id": "", "timestamp":
                        "2024-05-01T12:00:01.2Z", "sequence_num": 1, "events": [
                            {"current_time": "2024-05-01 12:00:01.1 +0000 UTC",
                             "heartbeat_counter": 7}]})


def test_it_reads_advanced_trade_envelopes_and_skips_control_messages(tmp_path):
    ticks = [tick("BTC-USD", 1, 60000.0, 2), tick("ETH-USD", 2, 3000.0, 3)]
    path = write(tmp_path / "capture.log", [SUBSCRIPTIONS, HEARTBEAT]
                 + [envelope_line(t, t.sequence) for t in ticks])
    report = read_ticks([path])
    assert report.ticks == ticks
    assert report.errors == []
    assert report.files[path] == {"format": "advanced_trade", "lines": 4, "ticks": 2,
                                  "skipped": 2, "errors": 0}


def test_it_reads_exchange_tickers_with_nanosecond_times(tmp_path):
    t = tick("ETH-USD", 0.25, 3000.0, 9)
    path = write(tmp_path / "x.json", [exchange_line(t, time="2024-05-01T12:00:00.250000999Z")])
    report = read_ticks([path])
    assert report.files[path]["format"] == "exchange"
    assert report.ticks == [t]


def test_it_reads_flattened_ndjson_rows(tmp_path):
    rows = [{"product_id": "SOL-USD", "timestamp": "2024-05-01T12:00:03Z", "price": 150.0,
             "best_bid": 149.9, "best_ask": 150.1, "bid_qty": None, "ask_qty": None,
             "volume_24h": None, "sequence": None}]
    path = write(tmp_path / "rows.ndjson", [json.dumps(r) for r in rows])
    report = read_ticks([path])
    assert report.files[path]["format"] == "ndjson_rows"
    assert report.ticks == [Tick("SOL-USD", T0 + 3, 150.0, 149.9, 150.1)]


def test_it_reads_csv_with_any_accepted_time_column(tmp_path):
    for column in ("timestamp", "time", "ts"):
        path = write(tmp_path / f"{column}.txt", [
            f"product_id,{column},price,best_bid,best_ask,bid_qty,ask_qty,volume_24h,sequence",
            "BTC-USD,2024-05-01T12:00:01Z,60000,59999.5,60000.5,1,2,100,5",
            f"ETH-USD,{T0 + 2},3000,2999.5,3000.5,,,,",  # epoch seconds, empty optionals
        ])
        report = read_ticks([path])
        assert report.files[path]["format"] == "csv"
        assert report.ticks == [Tick("BTC-USD", T0 + 1, 60000.0, 59999.5, 60000.5, 1.0, 2.0,
                                     100.0, 5), Tick("ETH-USD", T0 + 2, 3000.0, 2999.5, 3000.5)]


def parquet_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "product_id": ["BTC-USD", "ETH-USD", "BTC-USD"],
        "ts": pd.to_datetime(["2024-05-01T12:00:02.000000001Z", "2024-05-01T12:00:01Z",
                              "2024-05-01T12:00:03Z"], format="ISO8601"),
        "price": [60000.0, 3000.0, 60001.0], "best_bid": [59999.5, 2999.5, None],
        "best_ask": [60000.5, 3000.5, None], "bid_qty": [1.0, 1.0, None],
        "ask_qty": [2.0, 2.0, None], "volume_24h": [100.0, 10.0, None],
        "sequence": pd.array([1, 2, None], dtype="Int64"),
    })


def test_it_reads_parquet_with_arrow_timestamps_and_missing_values(tmp_path):
    path = str(tmp_path / "ticks.bin")
    parquet_frame().to_parquet(path)
    report = read_ticks([path])
    assert report.files[path] == {"format": "parquet", "lines": 3, "ticks": 3, "skipped": 0,
                                  "errors": 0}
    assert [(t.product_id, t.ts) for t in report.ticks] == [
        ("ETH-USD", T0 + 1), ("BTC-USD", pytest.approx(T0 + 2, abs=1e-6)), ("BTC-USD", T0 + 3)]
    assert report.ticks[-1] == Tick("BTC-USD", T0 + 3, 60001.0)


@pytest.mark.parametrize("kind", ["advanced_trade", "csv", "parquet"])
def test_it_reads_gzip_whatever_the_format_inside(tmp_path, kind):
    plain = tmp_path / "plain"
    if kind == "advanced_trade":
        write(plain, [envelope_line(tick("BTC-USD", 1, 60000.0), 1)])
    elif kind == "csv":
        write(plain, ["product_id,ts,price", "BTC-USD,2024-05-01T12:00:01Z,60000"])
    else:
        parquet_frame().to_parquet(plain)
    packed = tmp_path / "capture.dat"  # no .gz: the magic bytes decide
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    report = read_ticks([str(packed)])
    assert report.files[str(packed)]["format"] == kind
    assert report.ticks == read_ticks([str(plain)]).ticks


def test_it_merges_several_files_and_products_in_time_order_without_duplicates(tmp_path):
    btc = [tick("BTC-USD", s, 60000.0 + s, s) for s in (3, 1, 2)]  # out of order
    eth = [tick("ETH-USD", s + 0.5, 3000.0 + s, 10 + s) for s in (2, 1)]
    a = write(tmp_path / "a", [envelope_line(t, t.sequence) for t in btc + eth[:1]])
    b = write(tmp_path / "b", [exchange_line(t) for t in eth + eth[:1]], gz=True)
    report = read_ticks([a, b])
    assert [t.ts - T0 for t in report.ticks] == [1, 1.5, 2, 2.5, 3]
    assert [t.product_id for t in report.ticks] == ["BTC-USD", "ETH-USD", "BTC-USD",
                                                     "ETH-USD", "BTC-USD"]
    assert report.duplicates == 2  # ETH@2.5 once more in b, and again across the files
    assert report.files[a]["ticks"] == 4 and report.files[b]["ticks"] == 3


def test_a_naive_timestamp_is_utc_unless_a_zone_is_given(tmp_path):
    path = write(tmp_path / "local.csv", ["product_id,time,price",
                                          "BTC-USD,2024-05-01 14:00:00,60000"])
    assert read_ticks([path]).ticks[0].ts == T0 + 2 * 3600
    assert read_ticks([path], tz="Europe/Berlin").ticks[0].ts == T0  # CEST is UTC+2


def test_a_naive_parquet_timestamp_follows_the_zone_too(tmp_path):
    path = str(tmp_path / "naive.parquet")
    pd.DataFrame({"product_id": ["BTC-USD"], "timestamp": [pd.Timestamp("2024-05-01 08:00")],
                  "price": [1.0]}).to_parquet(path)
    assert read_ticks([path], tz="America/New_York").ticks[0].ts == T0  # EDT is UTC-4


def test_an_explicit_offset_wins_over_the_zone(tmp_path):
    path = write(tmp_path / "x", [exchange_line(tick("BTC-USD", 0, 1.0))])
    assert read_ticks([path], tz="Asia/Tokyo").ticks[0].ts == T0


def test_an_unknown_zone_is_refused_up_front(tmp_path):
    path = write(tmp_path / "x", [exchange_line(tick("BTC-USD", 0, 1.0))])
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        read_ticks([path], tz="Mars/Olympus")


def test_it_reports_malformed_lines_with_file_line_and_reason(tmp_path):
    good = envelope_line(tick("BTC-USD", 1, 60000.0), 1)
    path = write(tmp_path / "mixed.ndjson", [
        good, "{not json", "", json.dumps({"channel": "ticker", "timestamp": "yesterday",
                                            "events": []}),
        exchange_line(tick("ETH-USD", 2, 3000.0)).replace('"price": "3000.0"', '"price": "-1"'),
        "[1, 2]", json.dumps({"hello": "world"}), good.replace("2024", "2025"),
    ])
    report = read_ticks([path])
    assert len(report.ticks) == 2
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (2, "invalid JSON"), (4, "timestamp 'yesterday' is not ISO-8601"),
        (5, "price -1.0 is not positive"), (6, "message is not a JSON object"),
        (7, "unknown message format")]
    assert all(e.path == path for e in report.errors)
    assert str(report.errors[0]).startswith(f"{path}:2: invalid JSON")
    assert report.files[path] == {"format": "advanced_trade", "lines": 7, "ticks": 2,
                                  "skipped": 0, "errors": 5}


def test_it_reports_bad_csv_rows_by_physical_line(tmp_path):
    path = write(tmp_path / "x.csv", ["product_id,ts,price", "BTC-USD,2024-05-01T12:00:01Z,1",
                                      "BTC-USD,2024-05-01T12:00:02Z", "ETH-USD,never,2",
                                      "ETH-USD,2024-05-01T12:00:03Z,abc"])
    report = read_ticks([path])
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "2 fields, the header has 3"), (4, "timestamp 'never' is not ISO-8601"),
        (5, "field 'price'='abc' is not a number")]


def test_it_streams_one_file_line_by_line(tmp_path):
    path = write(tmp_path / "x", [SUBSCRIPTIONS, "{", envelope_line(tick("BTC-USD", 1, 5.0), 1)])
    items = list(iter_file_messages(path))
    assert [n for n, _ in items] == [1, 2, 3]
    assert items[0][1] == [] and isinstance(items[1][1], LineError)
    assert items[2][1] == [tick("BTC-USD", 1, 5.0, 1)]


def assert_file_error(path: str, reason: str, **kwargs) -> None:
    with pytest.raises(MarketFileError) as caught:
        read_ticks([path], **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert reason in caught.value.reason, message
    assert caught.value.path == path


def test_a_missing_file_is_a_file_error(tmp_path):
    assert_file_error(str(tmp_path / "nope.ndjson"), "no such file")


def test_an_empty_file_is_a_file_error(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "blank").write_bytes(b"\n\n  \n")
    (tmp_path / "empty.gz").write_bytes(gzip.compress(b""))
    for name in ("empty", "blank", "empty.gz"):
        assert_file_error(str(tmp_path / name), "empty file")


def test_a_truncated_gzip_is_a_file_error(tmp_path):
    lines = [envelope_line(tick("BTC-USD", i, 60000.0 + i), i) for i in range(2000)]
    whole = gzip.compress(("\n".join(lines)).encode())
    (tmp_path / "short.gz").write_bytes(whole[:60])
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) - 200])
    assert_file_error(str(tmp_path / "short.gz"), "truncated gzip")
    assert_file_error(str(tmp_path / "cut.gz"), "truncated gzip")


def test_a_corrupt_gzip_is_a_file_error(tmp_path):
    whole = bytearray(gzip.compress(b'{"a": 1}\n' * 1000))
    whole[20:30] = b"\xff" * 10
    (tmp_path / "bad.gz").write_bytes(bytes(whole))
    assert_file_error(str(tmp_path / "bad.gz"), "gzip")


def test_an_unknown_format_is_a_file_error(tmp_path):
    (tmp_path / "a.csv").write_text("date,open,high,low,close\n2024-05-01,1,2,0.5,1.5\n")
    (tmp_path / "b.ndjson").write_text('{"hello": "world"}\n{"x": 1}\n')
    (tmp_path / "c.bin").write_bytes(b"\x00\x01\x02garbage\xff\n")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "d.parquet")
    for name in ("a.csv", "b.ndjson", "c.bin", "d.parquet"):
        assert_file_error(str(tmp_path / name), "unknown format")


def test_a_file_without_any_valid_tick_says_how_many_lines_were_bad(tmp_path):
    path = write(tmp_path / "bad.ndjson", ["{oops", exchange_line(tick("BTC-USD", 0, 1.0))
                                           .replace('"1.0"', '"-5"', 1), HEARTBEAT])
    assert_file_error(path, "no valid ticks: 2 of 3 lines malformed, 1 control messages "
                            "(first: line 1: invalid JSON")


def test_a_capture_of_control_messages_only_has_no_valid_ticks(tmp_path):
    path = write(tmp_path / "quiet.ndjson", [SUBSCRIPTIONS, HEARTBEAT])
    assert_file_error(path, "no valid ticks: 0 of 2 lines malformed, 2 control messages")


def test_a_progress_bar_does_not_change_the_result(tmp_path, capsys):
    path = write(tmp_path / "x", [envelope_line(tick("BTC-USD", i, 1.0 + i), i)
                                  for i in range(1, 50)])
    assert read_ticks([path], progress=True).ticks == read_ticks([path]).ticks
    assert "x:" in capsys.readouterr().err
