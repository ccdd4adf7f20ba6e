"""Lag per partition, checked against offsets the test produced itself (end_offsets() is not
trusted: on the embedded broker it is wrong with batched producers), exported to Prometheus
and shown in the admin."""

from __future__ import annotations

import json

import pytest

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.kafka import make_producer
from predictions.models import StreamOffset
from predictions.stream.consumer import consume_run
from tests.helpers import sample, scrape

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PRODUCED = {0: 60, 1: 35, 2: 12}  # messages per partition, one product each


def produce(topic: str) -> None:
    producer = make_producer(linger_ms=50)  # batched, as ingest sends
    for partition, count in PRODUCED.items():
        product = f"P{partition}-USD"
        for i in range(count):
            tick = Tick(product, 1_700_000_000.0 + i, 100.0 + i * 0.01, 99.99 + i * 0.01,
                        100.01 + i * 0.01, 1.0, 2.0, 10.0, i)
            producer.send(topic, partition=partition, key=product.encode(),
                          value=json.dumps(advanced_trade_envelope(tick, sequence_num=i))
                          .encode())
    producer.flush(timeout=10)
    producer.close()


def test_lag_per_partition_is_what_was_produced_minus_what_was_consumed(
        kafka, model_version, client, staff_user):
    kafka.STREAM_POLL_MAX_RECORDS = 9
    produce(kafka.KAFKA_TOPIC_TICKS)

    consume_run(max_seconds=10, max_messages=40)

    stored = {o.partition: o for o in StreamOffset.objects.all()}
    assert sum(o.next_offset for o in stored.values()) < sum(PRODUCED.values())  # M < N
    assert any(o.lag > 0 for o in stored.values())
    for partition, offset in stored.items():
        assert offset.lag == PRODUCED[partition] - offset.next_offset, partition

    families = scrape(client)
    for partition, offset in stored.items():
        assert sample(families, "volatility_consumer_lag", topic=kafka.KAFKA_TOPIC_TICKS,
                      partition=str(partition)) == offset.lag

    client.force_login(staff_user)
    page = client.get("/admin/predictions/streamoffset/").content.decode()
    for offset in stored.values():
        assert f'<td class="field-lag">{offset.lag}</td>' in page
