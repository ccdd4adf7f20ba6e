"""Supervision: lease slots split the partitions between consumer workers, a consumer that
writes a partition behind another one's back is fenced off, and beat starts one chain per slot
whose lease has expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from predictions.core.ticks import format_timestamp
from predictions.models import Fenced, LeaseLost, Prediction, StreamLease, StreamOffset
from predictions.stream import windows
from predictions.stream.batches import RunStats
from predictions.stream.consumer import StreamConsumer, consume_run
from predictions.stream.writer import pipelined_writes
from predictions.tasks import stream_supervise
from tests.helpers import (
    consumer_process,
    need,
    postgres_in_use,
    read_topic,
    redis_available,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PRODUCTS = "BTC-USD,ETH-USD,SOL-USD,ADA-USD,DOGE-USD,XRP-USD"  # keys on every partition


def ingest(topic: str, n: int) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=n, seed=4,
                 products=PRODUCTS, start=format_timestamp(1_700_000_000.0), topic=topic,
                 verbosity=0)


def test_two_consumer_workers_split_the_partitions_and_write_every_tick_once(
        kafka, model_version, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the child processes need a shared database")
    n, topic = 1200, kafka.KAFKA_TOPIC_TICKS
    ingest(topic, n)
    produced = read_topic(topic, n)
    assert len({r.partition for r in produced}) == 3
    env = {"STREAM_CONSUMER_SLOTS": "2", "STREAM_LEASE_SECONDS": "3",
           "STREAM_POLL_MAX_RECORDS": "50"}
    workers = [consumer_process(kafka, tmp_path / f"slot{s}.log", "--slot", str(s), **env)
               for s in (0, 1)]
    try:
        wait_until(lambda: sum(StreamOffset.objects.values_list("next_offset", flat=True)) >= n,
                   timeout=90, what="all offsets")
        holders = dict(StreamLease.objects.values_list("name", "holder"))
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait(timeout=15)

    assert holders == {"ticks-0-of-2": f"cli-{workers[0].pid}",
                       "ticks-1-of-2": f"cli-{workers[1].pid}"}
    rows = list(Prediction.objects.values_list("partition", "offset", "tick_index"))
    assert len(rows) == len(set(rows)) == n
    assert {(p, o) for p, o, _ in rows} == {(r.partition, r.offset) for r in produced}


def once(action):
    """A `should_stop` for consume_run that does `action` at its first call — after the run has
    taken its partitions and read the stored offsets, before its first poll — and never stops."""
    done = []

    def should_stop() -> bool:
        if not done:
            done.append(action())
        return False

    return should_stop


def test_a_consumer_writing_a_partition_another_has_advanced_is_fenced_and_writes_nothing(
        kafka, model_version):
    """Between this run reading the stored offsets and writing its first batch, another
    consumer writes the same partitions. Both write inline (the writer thread is covered below)."""
    kafka.STREAM_PIPELINE_WRITES = False
    ingest(kafka.KAFKA_TOPIC_TICKS, 60)
    written = []

    def another_consumer_writes() -> None:
        consume_run(max_seconds=20, max_messages=60)
        written.append(Prediction.objects.count())

    with pytest.raises(Fenced):
        consume_run(max_seconds=20, max_messages=60, should_stop=once(another_consumer_writes))
    assert written[0] > 0
    assert Prediction.objects.count() == written[0]


def test_a_consumer_whose_lease_was_taken_stops_without_writing(kafka, model_version):
    kafka.STREAM_PIPELINE_WRITES = False  # written inline (the writer thread's case is next)
    ingest(kafka.KAFKA_TOPIC_TICKS, 60)
    assert StreamLease.objects.claim("old", seconds=60)

    def taken_over() -> None:
        StreamLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert StreamLease.objects.claim("new")  # the old holder's lease expired: taken over

    with pytest.raises(LeaseLost):
        consume_run(holder="old", max_seconds=20, max_messages=60, should_stop=once(taken_over))
    assert Prediction.objects.count() == 0


def test_a_run_whose_lease_is_taken_stops_with_lease_lost_from_its_writer_thread(
        kafka, model_version):
    """The same, through a whole run: on PostgreSQL batches are written on the writer thread,
    and its failure must stop the run, write nothing after it, and drop the feature windows."""
    need("PostgreSQL", postgres_in_use(), "batches are written on a thread only on PostgreSQL")
    assert pipelined_writes()
    kafka.STREAM_POLL_MAX_RECORDS = 20
    ingest(kafka.KAFKA_TOPIC_TICKS, 300)
    assert StreamLease.objects.claim("old", seconds=60)
    StreamLease.objects.update(holder="new")  # taken over before the old run writes
    with pytest.raises(LeaseLost):
        consume_run(holder="old", max_seconds=20, max_messages=300)
    assert Prediction.objects.count() == 0
    assert not StreamOffset.objects.exists()
    assert not windows._states  # windows that saw unwritten ticks are not reused


def test_a_consumer_keeps_its_lease_while_it_rebuilds_feature_windows_and_stops_if_it_is_taken(
        kafka, model_version, caplog):
    """The warm-up replay writes nothing, so no batch renews the lease meanwhile: it renews it
    itself, and stops at once if another holder has taken it rather than replaying on."""
    kafka.STREAM_POLL_MAX_RECORDS = 100
    ingest(kafka.KAFKA_TOPIC_TICKS, 600)
    assert StreamLease.objects.claim("old", seconds=60)
    consume_run(holder="old", max_seconds=20, max_messages=600)
    assert Prediction.objects.count() == 600

    windows.reset_feature_engine()  # a new process: windows are rebuilt from the stream
    kafka.STREAM_LEASE_SECONDS = 0  # renew at every step: expires_at = the last renewal
    started = timezone.now()
    consumer = StreamConsumer(holder="old")
    try:
        stats = RunStats()
        consumer.assign(stats)
    finally:
        consumer.close()
    assert stats.warmed_up > 0
    # Renewed during the replay (unrenewed, it would still end 60 s after the claim).
    assert started <= StreamLease.objects.get().expires_at <= timezone.now()

    windows.reset_feature_engine()
    StreamLease.objects.update(holder="new")
    caplog.set_level("INFO", logger="predictions.stream")
    caplog.clear()
    with pytest.raises(LeaseLost):
        consume_run(holder="old", max_seconds=20, max_messages=600)
    assert "rebuilt feature windows" not in caplog.text  # stopped before replaying it all
    assert Prediction.objects.count() == 600


def test_beat_starts_one_chain_per_slot_whose_lease_expired(kafka, settings):
    need("Redis (Celery broker)", redis_available(), "set CELERY_BROKER_URL=redis://…")
    from volsite.celery import app

    settings.STREAM_CONSUMER_SLOTS = 3
    live = timezone.now() + timedelta(seconds=30)
    StreamLease.objects.create(name="ticks-1-of-3", holder="alive", expires_at=live)
    StreamLease.objects.create(name="ticks-2-of-3", holder="dead",
                               expires_at=timezone.now() - timedelta(seconds=1))
    try:
        started = stream_supervise()
        assert started.startswith("started chain 0:") and ", 2:" in started
        assert StreamLease.objects.get(name="ticks-1-of-3").holder == "alive"
        assert StreamLease.objects.get(name="ticks-2-of-3").holder not in ("", "dead")
        assert stream_supervise() == "consumer alive"  # new chains hold their leases at once
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("stream")


def queued(queue: str) -> int:
    from volsite.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue).message_count


def test_beat_looks_again_at_a_lease_that_runs_out_unrenewed_before_its_next_tick(settings):
    need("Redis (Celery broker)", redis_available(), "set CELERY_BROKER_URL=redis://…")
    from volsite.celery import app

    lease = StreamLease.objects.create(name="ticks", holder="alive",
                                       expires_at=timezone.now() + timedelta(seconds=25))
    try:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
        assert stream_supervise() == "consumer alive"
        assert queued("celery") == 0  # renewed within a third of the lease: nothing to do

        lease.expires_at = timezone.now() + timedelta(seconds=5)  # stopped renewing
        lease.save()
        assert stream_supervise() == "consumer alive"
        assert queued("celery") == 1  # a look at its expiry
        assert stream_supervise(True) == "consumer alive"
        assert queued("celery") == 1  # which itself schedules no further one
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")


def test_a_dead_holder_s_lease_is_taken_over_when_it_expires_without_another_beat(
        kafka, model_version, celery_worker):
    kafka.STREAM_RUN_SECONDS = 1.0
    expires = timezone.now() + timedelta(seconds=3)
    StreamLease.objects.create(name="ticks", holder="dead", expires_at=expires)
    assert stream_supervise() == "consumer alive"  # the one beat of this test

    wait_until(lambda: StreamLease.objects.get().holder != "dead",
               timeout=kafka.STREAM_SUPERVISE_SECONDS, interval=0.05,
               what="a new chain on the lease before the next beat")
    assert timezone.now() >= expires  # never before the lease ran out
