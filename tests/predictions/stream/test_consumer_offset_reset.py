"""Stored offsets outside the broker's log are detected at the claim and reset by the policy,
never waited on (issue #19): a broker restarted empty (memory storage: it lost its log) hands
out offsets 0… again, below what the database holds. The new log is read from its start in a
new log epoch, so its rows never collide with the old rows at the same offsets; each reset is
recorded with the partition, the stored offset and the log's start and end."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from kafka.structs import TopicPartition
from prometheus_client import REGISTRY

from predictions.core.ticks import format_timestamp
from predictions.messaging.kafka import ensure_topics
from predictions.models import Prediction, StreamOffset, StreamOffsetReset
from predictions.stream.consumer import consume_run
from predictions.stream.log_bounds import positions_checked
from tests.helpers import (
    broker_stopped,
    start_broker,
    stop_broker,
    topic_records,
    use_fresh_topics,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEFORE, AFTER = 240, 90  # the new log is shorter than what was read from the old one


@pytest.fixture
def own_broker(settings, tmp_path):
    """A Tansu of this test's own (memory storage), with fresh topics: it is restarted empty."""
    broker = start_broker(tmp_path / "broker.log")
    use_fresh_topics(settings, broker["address"])
    yield broker
    stop_broker(broker)


def produce(topic: str, n: int, *, seed: int, start: float) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=n, seed=seed,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(start),
                 topic=topic, verbosity=0)


def consume_until_stored(topic: str, total: int, *, epoch: int = 0, runs: int = 6) -> None:
    for _ in range(runs):
        if sum(StreamOffset.objects.filter(topic=topic, epoch=epoch)
               .values_list("next_offset", flat=True)) >= total:
            return
        consume_run(topic=topic, max_seconds=8)


def positions(topic: str, epoch: int) -> list[tuple[int, int, int]]:
    return sorted(Prediction.objects.filter(topic=topic, log_epoch=epoch)
                  .values_list("partition", "offset", "tick_index"))


def test_a_broker_that_lost_its_log_is_read_again_from_its_start_in_a_new_epoch(
        settings, own_broker, model_version):
    topic = settings.KAFKA_TOPIC_TICKS
    produce(topic, BEFORE, seed=5, start=1_700_000_000.0)
    consume_until_stored(topic, BEFORE)
    old = dict(StreamOffset.objects.filter(topic=topic).values_list("partition", "next_offset"))
    old_rows = positions(topic, 0)
    assert sum(old.values()) == BEFORE and old_rows

    with broker_stopped(own_broker):
        pass  # back empty: the log is lost
    ensure_topics()
    produce(topic, AFTER, seed=6, start=1_700_100_000.0)
    new_log = topic_records(topic, settings.KAFKA_TOPIC_PARTITIONS)
    ends = {p: len(records) for p, records in new_log.items()}
    assert all(ends[p] < old[p] for p in old), (ends, old)  # every stored offset is past its end

    consume_until_stored(topic, AFTER, epoch=1)

    resets = {r.partition: r for r in StreamOffsetReset.objects.filter(topic=topic)}
    assert sorted(resets) == sorted(old)
    for p, reset in resets.items():
        assert (reset.reason, reset.stored_offset, reset.log_start, reset.log_end,
                reset.reset_to, reset.epoch) == ("ahead_of_log_end", old[p], 0, ends[p], 0, 1)
    assert dict(StreamOffset.objects.filter(topic=topic).values_list("partition", "epoch")) == \
        dict.fromkeys(old, 1)
    assert positions(topic, 0) == old_rows  # the old log's rows are kept as they were
    new_positions = {(p, o) for p, o, _ in positions(topic, 1)}
    assert new_positions == {(p, r.offset) for p, records in new_log.items() for r in records}
    assert len(positions(topic, 1)) == len(set(positions(topic, 1)))  # nothing twice
    for p in old:
        assert REGISTRY.get_sample_value("volatility_consumer_offset_resets_total", {
            "topic": topic, "partition": str(p), "reason": "ahead_of_log_end"}) == 1.0


def test_policy_latest_resumes_at_the_log_end(settings, own_broker, model_version):
    settings.STREAM_OFFSET_RESET = "latest"
    topic = settings.KAFKA_TOPIC_TICKS
    produce(topic, BEFORE, seed=5, start=1_700_000_000.0)
    consume_until_stored(topic, BEFORE)
    with broker_stopped(own_broker):
        pass
    ensure_topics()
    produce(topic, AFTER, seed=6, start=1_700_100_000.0)
    ends = {p: len(r) for p, r in topic_records(topic, settings.KAFKA_TOPIC_PARTITIONS).items()
            if r}  # the three products' keys land on two partitions

    consume_run(topic=topic, max_seconds=4)

    assert {r.partition: r.reset_to for r in StreamOffsetReset.objects.filter(topic=topic)} == \
        ends
    assert positions(topic, 1) == []  # what the new log held before the reset is skipped


class RetainedFrom:
    """A real consumer whose broker reports a log start of `start` (retention deleted what came
    before); Tansu cannot delete records, so this edge of the outside world is stood in for."""

    def __init__(self, consumer, start: int) -> None:
        self.consumer, self.start = consumer, start

    def beginning_offsets(self, partitions):
        return dict.fromkeys(partitions, self.start)

    def end_offsets(self, partitions):
        return {tp: max(end, self.start) for tp, end in
                self.consumer.end_offsets(partitions).items()}

    def __getattr__(self, name):
        return getattr(self.consumer, name)


def test_a_stored_offset_before_the_log_start_moves_to_the_start(settings, kafka,
                                                                 model_version):
    from predictions.messaging.kafka import make_consumer

    topic = settings.KAFKA_TOPIC_TICKS
    StreamOffset.objects.create(topic=topic, partition=0, next_offset=5)
    consumer = make_consumer()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        epochs = StreamOffset.objects.epochs(topic, [0])
        checked = positions_checked(RetainedFrom(consumer, 40), [tp], {0: 5}, epochs, "t")
    finally:
        consumer.close()
    assert checked == {0: 40} and epochs == {0: 1}
    reset = StreamOffsetReset.objects.get(topic=topic)
    assert (reset.reason, reset.stored_offset, reset.log_start, reset.reset_to) == (
        "behind_log_start", 5, 40, 40)
    assert StreamOffset.objects.get(topic=topic).next_offset == 40


def test_a_stored_offset_inside_the_log_is_left_alone(settings, kafka, model_version):
    """Tansu's end_offsets() reports less than the real end with batched producers: a stored
    offset at the real end is confirmed by a fetch, not reset."""
    from predictions.messaging.kafka import make_consumer

    topic = settings.KAFKA_TOPIC_TICKS
    produce(topic, 60, seed=5, start=1_700_000_000.0)
    ends = {p: len(r) for p, r in topic_records(topic, settings.KAFKA_TOPIC_PARTITIONS).items()
            if r}
    consumer = make_consumer()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        checked = positions_checked(consumer, tps, dict(ends), {}, "t")
    finally:
        consumer.close()
    assert checked == ends
    assert not StreamOffsetReset.objects.filter(topic=topic).exists()


def test_the_warm_up_replay_finishes_when_the_log_is_shorter_than_its_window(settings, kafka,
                                                                             model_version):
    """A replay asked for [0, 1000) of a log holding 30 messages feeds those and ends (after
    ten empty polls), rather than waiting for offsets the broker does not have."""
    from predictions.messaging.kafka import make_consumer
    from predictions.stream import windows

    topic = settings.KAFKA_TOPIC_TICKS
    produce(topic, 30, seed=5, start=1_700_000_000.0)
    held = {p: len(r) for p, r in topic_records(topic, settings.KAFKA_TOPIC_PARTITIONS).items()
            if r}
    consumer = make_consumer()
    try:
        tps = [TopicPartition(topic, p) for p in held]
        consumer.assign(tps)
        for tp in tps:
            windows.replay_range(tp, 1000)  # fresh windows (no rows to warm up from)
        fed = windows.replay(consumer, {tp: (0, 1000) for tp in tps}, lambda: None)
    finally:
        consumer.close()
    assert fed == sum(held.values())
