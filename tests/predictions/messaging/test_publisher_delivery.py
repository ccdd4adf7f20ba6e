"""The ingest publisher delivers every message it accepted, across a broker restart.

kafka-python's `send` only queues; after a broker restart the idempotent producer fails for
good and aborts what it had queued. The publisher must notice the failed futures and send those
messages again with a new producer, in order, instead of losing them silently."""

from __future__ import annotations

import pytest

from predictions.messaging.kafka import ensure_topics
from predictions.messaging.publisher import Publisher
from tests.helpers import broker_stopped, read_topic

pytestmark = pytest.mark.integration

KEYS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def messages(start: int, n: int) -> list[tuple[str, bytes]]:
    return [(KEYS[i % 3], b'{"n":%d}' % i) for i in range(start, start + n)]


@pytest.mark.parametrize("round_", range(3))  # the race is timing-dependent: try it a few times
def test_messages_sent_right_after_a_broker_restart_all_arrive_in_order(
        kafka, broker_address, round_):
    topic = kafka.KAFKA_TOPIC_TICKS
    publisher = Publisher(topic)
    for key, value in messages(0, 30):
        publisher.send(key, value)
    publisher.flush(timeout=10)

    with broker_stopped(broker_address):
        pass  # memory storage: the broker comes back empty, and the producer's id is unknown
    ensure_topics()
    after = messages(30, 300)
    for key, value in after:  # at once, as a live feed would: they queue in the old producer
        publisher.send(key, value)
    publisher.close()

    assert publisher.pending == type(publisher.pending)()
    records = read_topic(topic, len(after))
    got = [r.value for r in records]
    assert set(got) == {value for _, value in after}, "messages were lost"
    for key in KEYS:  # per key (one partition each) the order is the order sent
        sent = [value for k, value in after if k == key]
        arrived = [r.value for r in records if r.key == key.encode()]
        deduplicated = [v for i, v in enumerate(arrived) if v not in arrived[:i]]
        assert deduplicated == sent
