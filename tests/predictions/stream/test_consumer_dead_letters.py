from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from predictions.models import Prediction, StreamOffset
from predictions.stream.consumer import consume_run

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def envelope(ts: float, price: float = 100.0, **over) -> bytes:
    tick = Tick("BTC-USD", ts, price, price - 0.01, price + 0.01, 1.0, 1.0, 10.0, None)
    env = advanced_trade_envelope(tick, sequence_num=1)
    env["events"][0]["tickers"][0].update(over)
    return json.dumps(env).encode()


POISON = [
    (b"{definitely not json", "invalid JSON"),
    (b'{"type":"mystery"}', "unknown message format"),
    (envelope(1_700_000_003.0, price=-5.0, best_bid="", best_ask=""), "not positive"),
    (envelope(1_700_000_004.0, best_bid="101", best_ask="100"), "crossed book"),
    (json.dumps({"channel": "ticker", "timestamp": "2024-01-01T00:00:00Z", "events": [
        {"type": "update", "tickers": [{"product_id": "BTC-USD"}]}]}).encode(), "missing field"),
]


def test_poison_messages_go_to_the_dead_letter_topic_and_the_stream_goes_on(kafka, model_version):
    publisher = Publisher(kafka.KAFKA_TOPIC_TICKS)
    good = [envelope(1_700_000_000.0 + i, price=100.0 + i * 0.01) for i in range(3)]
    for value in good[:2] + [p for p, _ in POISON] + good[2:]:
        publisher.send("BTC-USD", value)
    publisher.send("BTC-USD", b'{"channel":"heartbeats","events":[]}')
    publisher.close()

    stats = consume_run(max_seconds=6, max_messages=len(POISON) + 4)

    assert stats.dead_lettered == len(POISON)
    assert stats.skipped == 1  # the heartbeat
    assert Prediction.objects.count() == 3
    assert sum(StreamOffset.objects.values_list("next_offset", flat=True)) == len(POISON) + 4

    dlq = KafkaConsumer(kafka.KAFKA_TOPIC_DLQ, bootstrap_servers=kafka.KAFKA_BOOTSTRAP_SERVERS,
                        auto_offset_reset="earliest", consumer_timeout_ms=5000)
    records = [r for r in dlq][: len(POISON)]
    dlq.close()
    assert [r.value for r in records] == [p for p, _ in POISON]
    for record, (_, reason) in zip(records, POISON):
        headers = dict(record.headers)
        assert reason in headers["error"].decode()
        assert headers["source_topic"].decode() == kafka.KAFKA_TOPIC_TICKS
        assert int(headers["source_offset"]) >= 0
