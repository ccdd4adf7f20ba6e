"""A broker restart mid-stream: the consumer process and the ingest publisher recover by
themselves, and /api/v1/ready reports the broker not ready while it is down.

The embedded broker keeps everything in memory, so it comes back empty. A production Kafka
keeps its log; the test stands in for that by re-creating the topics and re-producing the
messages of before the restart (same keys, same order, so the same offsets) while the consumer
is paused, then lets the consumer continue from its stored offsets.

It runs on the session's broker, which other tests have produced to: the restarted broker then
does not know the publisher's producer id and refuses its later sends, so the publisher must
re-create its producer and re-send them (test_publisher_delivery.py isolates that part)."""

from __future__ import annotations

import itertools
import os
import signal

import pytest

from predictions.messaging.kafka import ensure_topics, make_producer
from predictions.messaging.publisher import Publisher
from predictions.messaging.sources import simulated_messages
from predictions.models import Prediction, StreamOffset
from tests.helpers import (
    broker_stopped,
    consumer_process,
    need,
    postgres_in_use,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEFORE, AFTER = 300, 300


def stored_total() -> int:
    return sum(StreamOffset.objects.values_list("next_offset", flat=True))


def test_the_consumer_and_the_publisher_recover_from_a_broker_restart_mid_stream(
        kafka, model_version, broker_address, client, staff_user, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the child process needs a shared database")
    client.force_login(staff_user)  # /ready shows its checks to staff
    messages = list(itertools.islice(simulated_messages(
        products=["BTC-USD", "ETH-USD", "SOL-USD"], seed=8, start_ts=1_700_000_000.0),
        BEFORE + AFTER))
    publisher = Publisher(kafka.KAFKA_TOPIC_TICKS)
    for _, key, value in messages[:BEFORE]:
        publisher.send(key, value)
    publisher.flush(timeout=10)
    consumer = consumer_process(kafka, tmp_path / "consume.log", "--run-seconds", "5",
                                STREAM_LEASE_SECONDS="3")
    try:
        wait_until(lambda: stored_total() == BEFORE, timeout=60, what="the first rows")
        with broker_stopped(broker_address):
            ready = client.get("/api/v1/ready")
            assert ready.status_code == 503 and not ready.json()["checks"]["broker"]["ok"]
            os.kill(consumer.pid, signal.SIGSTOP)  # no metadata requests until the log is back
        try:
            ensure_topics()
            restore = make_producer()
            for _, key, value in messages[:BEFORE]:
                restore.send(kafka.KAFKA_TOPIC_TICKS, key=key.encode(), value=value)
            restore.flush(timeout=10)
            restore.close()
        finally:
            os.kill(consumer.pid, signal.SIGCONT)
        for _, key, value in messages[BEFORE:]:  # the publisher of before the restart
            publisher.send(key, value)
        publisher.close()
        assert client.get("/api/v1/ready").json()["checks"]["broker"]["ok"]
        wait_until(lambda: stored_total() == BEFORE + AFTER, timeout=90, what="rows after")
    finally:
        consumer.terminate()
        consumer.wait(timeout=15)

    assert len(read_topic(kafka.KAFKA_TOPIC_TICKS, BEFORE + AFTER)) == BEFORE + AFTER
    rows = list(Prediction.objects.values_list("partition", "offset", "tick_index"))
    assert len(rows) == len(set(rows)) == BEFORE + AFTER
