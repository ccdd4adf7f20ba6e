"""`manage.py ingest --source coinbase` against a local stand-in for the exchange's WebSocket
that replays recorded Advanced Trade messages (tests/fixtures/coinbase_advanced_trade.ndjson)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from predictions.core.ticks import parse_message
from predictions.messaging.coinbase import backoff_delay, ticker_records
from tests.helpers import read_topic, wait_until

pytestmark = [pytest.mark.integration]

RECORDED = (Path(__file__).parents[2] / "fixtures" / "coinbase_advanced_trade.ndjson"
            ).read_bytes().splitlines()
TICKERS = [m for m in RECORDED if json.loads(m)["channel"] == "ticker"]
PRODUCTS = "BTC-USD,ETH-USD"
ROOT = Path(__file__).parents[3]


class FakeCoinbase:
    """The exchange's edge: waits for the two subscribe messages, then sends the recording.

    With `drop_after`, the first connection is cut (no close frame) after that many messages
    and the next connection gets the rest, as after a resubscribe.
    """

    def __init__(self, drop_after: int | None = None) -> None:
        self.drop_after = drop_after
        self.subscribes: list[list[dict]] = []
        self.server = serve(self.handle, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"

    def handle(self, ws: ServerConnection) -> None:
        first = not self.subscribes
        seen: list[dict] = []
        self.subscribes.append(seen)
        for _ in range(2):
            seen.append(json.loads(ws.recv(timeout=5)))
        cut = self.drop_after if self.drop_after is not None else len(RECORDED)
        for message in (RECORDED[:cut] if first else RECORDED[cut:]):
            ws.send(message.decode())
        if first and self.drop_after is not None:
            ws.socket.close()  # the network drops: no closing handshake
            return
        try:
            for _ in ws:  # keep the connection open until the client leaves
                pass
        except ConnectionClosed:
            pass

    def __enter__(self) -> FakeCoinbase:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def run_ingest(kafka, server: FakeCoinbase, **options) -> str:
    kafka.COINBASE_WS_URL = server.url
    kafka.COINBASE_WS_BACKOFF_INITIAL_SECONDS = 0.05
    out = StringIO()
    call_command("ingest", source="coinbase", products=PRODUCTS, max_messages=len(TICKERS),
                 duration=30, stdout=out, **options)
    return out.getvalue()


def expected_subscribes() -> list[dict]:
    return [{"type": "subscribe", "channel": "ticker", "product_ids": ["BTC-USD", "ETH-USD"]},
            {"type": "subscribe", "channel": "heartbeats"}]


def test_ticker_messages_reach_the_topic_keyed_by_product_and_heartbeats_do_not(kafka):
    with FakeCoinbase() as server:
        out = run_ingest(kafka, server)
    records = read_topic(kafka.KAFKA_TOPIC_TICKS, len(TICKERS))
    assert sorted(r.value for r in records) == sorted(TICKERS)  # the exchange's own bytes
    for record in records:
        [tick] = parse_message(record.value)
        assert record.key.decode() == tick.product_id
    assert server.subscribes == [expected_subscribes()]
    assert "10 ticker messages produced, 0 reconnects, 3 heartbeats and 2 control" in out


def test_it_reconnects_and_resubscribes_when_the_connection_drops(kafka):
    with FakeCoinbase(drop_after=7) as server:
        out = run_ingest(kafka, server)
    assert server.subscribes == [expected_subscribes(), expected_subscribes()]
    assert "10 ticker messages produced, 1 reconnects" in out
    by_key: dict[str, list[float]] = defaultdict(list)
    for record in read_topic(kafka.KAFKA_TOPIC_TICKS, len(TICKERS)):
        by_key[record.key.decode()].extend(t.ts for t in parse_message(record.value))
    assert {k: len(v) for k, v in by_key.items()} == {"BTC-USD": 5, "ETH-USD": 5}
    assert all(ts == sorted(ts) for ts in by_key.values())


def test_sigterm_stops_the_live_source_cleanly(kafka):
    env = {**os.environ, "COINBASE_WS_URL": "", "KAFKA_BOOTSTRAP_SERVERS":
           kafka.KAFKA_BOOTSTRAP_SERVERS, "KAFKA_TOPIC_TICKS": kafka.KAFKA_TOPIC_TICKS,
           "KAFKA_TOPIC_DLQ": kafka.KAFKA_TOPIC_DLQ,
           "KAFKA_TOPIC_PREDICTIONS": kafka.KAFKA_TOPIC_PREDICTIONS}
    with FakeCoinbase() as server:
        env["COINBASE_WS_URL"] = server.url
        proc = subprocess.Popen([sys.executable, "manage.py", "ingest", "--source", "coinbase",
                                 "--products", PRODUCTS], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: server.subscribes and len(server.subscribes[0]) == 2,
                       timeout=30, what="the subscription")
            read_topic(kafka.KAFKA_TOPIC_TICKS, len(TICKERS))
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err.decode()
    assert b"10 ticker messages produced, 0 reconnects" in out


def test_the_backoff_doubles_with_jitter_up_to_the_cap():
    low = [backoff_delay(n, initial=1.0, cap=30.0, rand=lambda: 0.0) for n in range(7)]
    high = [backoff_delay(n, initial=1.0, cap=30.0, rand=lambda: 1.0) for n in range(7)]
    assert low == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert high == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_ticker_message_with_two_products_is_split_per_product():
    both = json.loads(TICKERS[0])
    both["events"][0]["tickers"].append(json.loads(TICKERS[1])["events"][0]["tickers"][0])
    records = ticker_records(json.dumps(both).encode(), both)
    assert [key for key, _ in records] == ["BTC-USD", "ETH-USD"]
    assert [[t.product_id for t in parse_message(v)] for _, v in records] == [["BTC-USD"],
                                                                              ["ETH-USD"]]
    assert ticker_records(TICKERS[0], json.loads(TICKERS[0])) == [("BTC-USD", TICKERS[0])]
