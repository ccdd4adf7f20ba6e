"""SIGKILL `manage.py consume` in the middle of its batches, again and again: every valid tick
still ends up as exactly one Prediction row, and the stored offsets are the produced ones."""

from __future__ import annotations

import random
import time

import pytest
from django.core.management import call_command
from kafka import KafkaConsumer, TopicPartition

from predictions.core.ticks import format_timestamp
from predictions.models import Prediction, StreamOffset
from tests.helpers import (
    assert_same_features,
    consume_all,
    consumer_process,
    features_by_position,
    need,
    postgres_in_use,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 3000  # ≈ 430 s of event time over 3 products: longer than the longest feature window
START = 1_700_000_000.0
BATCH = 10  # small batches: many transactions to land a kill in
CHILD_ENV = {"STREAM_LEASE_SECONDS": "2", "STREAM_POLL_MAX_RECORDS": str(BATCH)}


def ingest(topic: str) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=N, seed=21,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(START), topic=topic,
                 verbosity=0)


def stored_total(topic: str) -> int:
    return sum(StreamOffset.objects.filter(topic=topic).values_list("next_offset", flat=True))


def kill_repeatedly(settings, log_path, kills: int, seed: int) -> list[int]:
    """Start the consumer, let it pass a random row count, SIGKILL it; `kills` times."""
    rng = random.Random(seed)
    thresholds = sorted(rng.sample(range(N // 10, N * 9 // 10), kills))
    at_kill = []
    for threshold in thresholds:
        # This process must have written some batches of its own before it is killed.
        threshold = max(threshold, Prediction.objects.count() + 3 * BATCH)
        proc = consumer_process(settings, log_path, **CHILD_ENV)
        try:
            wait_until(lambda t=threshold: Prediction.objects.count() >= t, timeout=60,
                       interval=0.02, what=f"{threshold} rows")
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            proc.kill()
            proc.wait(timeout=10)
        at_kill.append(Prediction.objects.count())
    return at_kill


def finish(settings, log_path, topic: str) -> None:
    proc = consumer_process(settings, log_path, **CHILD_ENV)
    try:
        wait_until(lambda: stored_total(topic) >= N, timeout=90, what="all offsets")
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_a_consumer_killed_mid_batch_again_and_again_writes_every_tick_exactly_once(
        kafka, model_version, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the child process needs a shared database")
    topic = kafka.KAFKA_TOPIC_TICKS
    ingest(topic)
    produced = read_topic(topic, N)
    log_path = tmp_path / "consume.log"

    at_kill = kill_repeatedly(kafka, log_path, kills=4, seed=5)
    assert all(0 < n < N for n in at_kill), at_kill  # every kill hit a consumer at work
    finish(kafka, log_path, topic)

    rows = list(Prediction.objects.filter(topic=topic)
                .values_list("partition", "offset", "tick_index"))
    assert len(rows) == len(set(rows)) == N
    assert {(p, o) for p, o, _ in rows} == {(r.partition, r.offset) for r in produced}
    ends: dict[int, int] = {}
    for r in produced:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    assert dict(StreamOffset.objects.filter(topic=topic)
                .values_list("partition", "next_offset")) == ends

    group = KafkaConsumer(bootstrap_servers=kafka.KAFKA_BOOTSTRAP_SERVERS,
                          group_id=kafka.KAFKA_CONSUMER_GROUP, enable_auto_commit=False)
    try:
        committed = {p: group.committed(TopicPartition(topic, p)) for p in ends}
    finally:
        group.close()
    assert committed == ends  # standard tooling sees the same progress

    # The windows were rebuilt after each kill: features equal an uninterrupted run's.
    clean_topic = f"{topic}.clean"
    ingest(clean_topic)
    consume_all(clean_topic, N)
    assert_same_features(features_by_position(clean_topic), features_by_position(topic))
