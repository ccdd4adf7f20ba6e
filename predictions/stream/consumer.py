"""The stream consumer: ticks from Kafka → features → both variants → Prediction rows.

A run is bounded (seconds or messages) so no Celery task runs forever. Within a run:
1. take the partitions of this consumer's lease slot (p % STREAM_CONSUMER_SLOTS == slot) and
   seek each to the offset stored in the database — reset first, in a new log epoch, where it
   lies outside the broker's log (`log_bounds`: the broker lost or truncated it);
2. rebuild each partition's feature windows if this process does not hold them at that offset
   (`windows`: replay from a tick older than the longest window up to the stored offset,
   writing nothing);
3. poll a batch; parse each message; send poison messages to the dead-letter topic
   (`dead_letters`);
4. update the feature windows and score the batch with the served variant and the shadow one
   (`batches`; the configuration is re-read per batch, so a flip applies at the next);
5. in one database transaction: renew the lease (fails if another holder took it), check that
   the stored offset is still the one this consumer started the batch from (fencing), write the
   rows and the next offset (`writer`: exactly once in the database);
6. commit the same offset to the Kafka consumer group so standard tooling sees progress.
On PostgreSQL step 5 runs on a writer thread (`writer.BatchWriter`) while steps 3–4 prepare
the next batch; each batch is still its own fenced transaction, written in order.
A crash anywhere loses nothing and duplicates nothing: the next run starts from step 1.
Who runs it — claim the lease, run, report, retry — is `runner`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from monitoring import metrics
from predictions.messaging.kafka import make_consumer
from predictions.models import LeaseLost, StreamLease, StreamOffset
from predictions.serving import active_scorers
from predictions.stream import breaker, windows
from predictions.stream.batches import RunStats, score_batch, tick_columns
from predictions.stream.copy_encoding import copy_rows
from predictions.stream.dead_letters import DeadLetters
from predictions.stream.log_bounds import check_still_in_log, positions_checked
from predictions.stream.watchdog import progress
from predictions.stream.writer import BatchCommit, BatchWriter, pipelined_writes, write_now

log = logging.getLogger(__name__)


class OffsetReset(Exception):
    """The broker returned records before the stored offset: its log was lost or truncated."""


class StreamConsumer:
    """One bounded run over the partitions of a lease slot.

    Without a `holder` the consumer does not check a lease (tests and the benchmark call it
    directly); offset fencing still applies.
    """

    def __init__(self, topic: str | None = None, *, holder: str | None = None, slot: int = 0,
                 slots: int | None = None) -> None:
        self.topic = topic or settings.KAFKA_TOPIC_TICKS
        self.holder = holder
        self.slot = slot
        self.slots = slots or settings.STREAM_CONSUMER_SLOTS
        self.lease = StreamLease.name_for(slot, self.slots)
        self.consumer = make_consumer()
        self.dead_letters = DeadLetters()
        self.partitions: list[TopicPartition] = []
        # Per partition: the next offset once the batches prepared so far are written, and the
        # offset the database holds now (what the group offsets follow).
        self.expected: dict[int, int | None] = {}
        self.stored: dict[int, int] = {}
        self.epochs: dict[int, int] = {}  # the log epoch of each partition's stored offset
        self.renewed = time.monotonic()  # the lease was claimed or renewed just before a run

    def run(self, *, max_seconds: float, max_messages: int,
            should_stop: Callable[[], bool] = lambda: False) -> RunStats:
        """Steps 1–2, then steps 3–6 poll by poll until the run's time or messages are spent
        or `should_stop()` (asked before every poll) says so. On a failure the writer stops
        after its current batch and the windows are dropped, since they may have seen ticks
        whose rows were not written; the next run rebuilds them from the stored offsets."""
        stats = RunStats()
        deadline = time.monotonic() + max_seconds
        self.assign(stats)
        writer = BatchWriter(stats) if pipelined_writes() else None
        try:
            while (time.monotonic() < deadline and stats.messages < max_messages
                   and not should_stop()):
                self.consume_poll(writer, stats)
            if writer is not None:
                self.committed(*writer.close())
        except BaseException as exc:
            if writer is not None:
                if writer.failed is not None:
                    breaker.record_failure(writer.failed.tp, writer.failed.first_offset, exc)
                writer.abandon()
            windows.forget(self.partitions)
            raise
        return stats

    def assign(self, stats: RunStats) -> None:
        """Steps 1–2: this slot's partitions, positioned at the stored offsets, windows rebuilt."""
        mine = StreamLease.slot_partitions(self.topic_partitions(), self.slot, self.slots)
        self.partitions = [TopicPartition(self.topic, p) for p in mine]
        self.consumer.assign(self.partitions)
        self.epochs = StreamOffset.objects.epochs(self.topic, mine)
        stored = positions_checked(self.consumer, self.partitions,
                                   StreamOffset.objects.next_offsets(self.topic, mine),
                                   self.epochs, self.holder)
        ranges: dict[TopicPartition, tuple[int, int]] = {}
        for tp in self.partitions:
            offset = stored.get(tp.partition)
            self.expected[tp.partition] = offset
            if offset is not None:
                self.stored[tp.partition] = offset
            replay = windows.replay_range(tp, offset, self.epochs.get(tp.partition, 0))
            if replay is not None:
                ranges[tp] = replay
        if ranges:  # bounded by the log's real start (the end: the checked stored offsets)
            starts = self.consumer.beginning_offsets(list(ranges))
            ranges = {tp: (max(a, starts[tp]), b) for tp, (a, b) in ranges.items()
                      if max(a, starts[tp]) < b}
        if ranges:
            stats.warmed_up += windows.replay(self.consumer, ranges, self.keep_lease)
        for tp in self.partitions:
            offset = self.expected[tp.partition]
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    def topic_partitions(self) -> list[int]:
        """The topic's partitions (metadata may take a moment to arrive)."""
        deadline = time.monotonic() + 10
        parts = self.consumer.partitions_for_topic(self.topic)
        while not parts and time.monotonic() < deadline:
            time.sleep(0.2)
            parts = self.consumer.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} has no partitions (does it exist?)")
        return list(parts)

    def keep_lease(self) -> None:
        """Renew the lease once a third of it has passed since the last renewal here (idle
        polls, the warm-up replay; batch transactions renew it themselves); LeaseLost if another
        holder took it."""
        if not self.holder or time.monotonic() - self.renewed <= settings.STREAM_LEASE_SECONDS / 3:
            return
        if not StreamLease.objects.renew(self.holder, name=self.lease):
            raise LeaseLost(self.lease)
        self.renewed = time.monotonic()
        progress()

    def consume_poll(self, writer: BatchWriter | None, stats: RunStats) -> None:
        """Steps 3–6 for one poll: each partition batch prepared, then written inline or handed
        to the writer thread (written while the next one is prepared)."""
        batches = self.consumer.poll(timeout_ms=500, max_records=settings.STREAM_POLL_MAX_RECORDS)
        progress()
        for tp, records in batches.items():
            for commit in self.prepare(tp, records, stats):
                if writer is None:
                    try:
                        write_now(commit, stats)
                    except Exception as exc:
                        breaker.record_failure(commit.tp, commit.first_offset, exc)
                        raise
                    self.committed(commit)
                else:
                    writer.submit(commit)
        if writer is not None:
            self.committed(*writer.written())
        if not batches:
            check_still_in_log(self.consumer, self.partitions, self.expected)
            self.keep_lease()  # idle: no batch transaction renews it

    def prepare(self, tp: TopicPartition, records: list, stats: RunStats) -> list[BatchCommit]:
        """One commit for the polled records, or one per record while the breaker isolates the
        offset they start at (see `breaker`); a data error counts against that offset."""
        if breaker.isolate(tp, records[0].offset):
            return self.isolated(tp, records, stats)
        try:
            return [self.prepare_batch(tp, records, stats)]
        except Exception as exc:
            breaker.record_failure(tp, records[0].offset, exc)
            raise

    def isolated(self, tp: TopicPartition, records: list, stats: RunStats) -> list[BatchCommit]:
        """The breaker tripped here: each record its own transaction. A record that failed on
        its own before, or whose computation fails now, is dead-lettered and skipped."""
        commits = []
        for record in records:
            if breaker.skip(tp, record.offset):
                reason = (f"failed {breaker.failures(tp, record.offset)} times in a row "
                          "(poison breaker): skipped")
                stats.messages += 1
            else:
                try:
                    commits.append(self.prepare_batch(tp, [record], stats))
                    continue
                except Exception as exc:
                    if not breaker.is_data_error(exc):
                        raise
                    reason = f"cannot score: {type(exc).__name__}: {exc}"
            self.dead_letters.send(record, reason, stats)
            commits.append(self.skip_record(tp, record))
        return commits

    def skip_record(self, tp: TopicPartition, record) -> BatchCommit:
        """A commit that moves the stored offset past a dead-lettered record, writing no row."""
        expected = self.expected.get(tp.partition)
        self.expected[tp.partition] = windows.partition_state(tp).position = record.offset + 1
        return BatchCommit(tp=tp, expected=expected, next_offset=record.offset + 1,
                           lag=self.lag(tp, record.offset + 1), batch=None, holder=self.holder,
                           lease=self.lease, started=time.monotonic(),
                           first_offset=record.offset, epoch=self.epochs.get(tp.partition, 0))

    def prepare_batch(self, tp: TopicPartition, records: list, stats: RunStats) -> BatchCommit:
        """Steps 3–4 for one partition batch: parse, features, both variants."""
        started = time.monotonic()
        expected = self.expected.get(tp.partition)
        if expected is not None and records[0].offset < expected:
            metrics.CONSUMER_ERRORS.labels(kind="offset_reset").inc()
            raise OffsetReset(f"{tp.topic}[{tp.partition}] returned offset {records[0].offset} "
                              f"before the stored {expected}: the broker lost or truncated its "
                              "log; see docs/stream.md")
        serving = active_scorers()
        state = windows.partition_state(tp)
        ticks = tick_columns(records, state.engine, stats, self.dead_letters.send)
        batch = score_batch(tp, ticks, serving, state.engine.names)
        epoch = self.epochs.get(tp.partition, 0)
        if batch is not None:
            batch.log_epoch = epoch
        payload = copy_rows(batch) if batch is not None and connection.vendor == "postgresql" \
            else None  # encoded here, so an encoding error is the batch's, not the writer's
        next_offset = records[-1].offset + 1
        self.expected[tp.partition] = state.position = next_offset
        return BatchCommit(tp=tp, expected=expected, next_offset=next_offset,
                           lag=self.lag(tp, next_offset), batch=batch,
                           holder=self.holder, lease=self.lease, started=started,
                           payload=payload, first_offset=records[0].offset, epoch=epoch)

    def lag(self, tp: TopicPartition, next_offset: int) -> int | None:
        """Messages behind the partition's high watermark from the last fetch (not
        `end_offsets()`, which is wrong on Tansu with batched producers)."""
        high = self.consumer.highwater(tp)
        return None if high is None else max(high - next_offset, 0)

    def committed(self, *commits: BatchCommit) -> None:
        """Batches are in the database: tell the Kafka group (for tooling only, so without
        waiting; the database is the truth)."""
        for commit in commits:
            self.stored[commit.tp.partition] = commit.next_offset
            self.consumer.commit_async({commit.tp: OffsetAndMetadata(commit.next_offset, "", -1)})

    def close(self) -> None:
        """Leave the group offsets equal to the stored ones (batches commit them without
        waiting), then close."""
        self.dead_letters.close()
        positions = {TopicPartition(self.topic, p): OffsetAndMetadata(offset, "", -1)
                     for p, offset in self.stored.items()}
        if positions:
            try:
                self.consumer.commit(positions)
            except KafkaError as exc:  # tooling lags until the next run commits again
                log.warning("could not commit group offsets at close: %s", exc)
        self.consumer.close(autocommit=False)


def consume_run(*, max_seconds: float | None = None, max_messages: int | None = None,
                topic: str | None = None, holder: str | None = None, slot: int = 0,
                should_stop: Callable[[], bool] = lambda: False) -> RunStats:
    """One bounded run of the consumer (the runner, the benchmark and tests call this)."""
    consumer = StreamConsumer(topic, holder=holder, slot=slot)
    try:
        return consumer.run(
            max_seconds=max_seconds if max_seconds is not None else settings.STREAM_RUN_SECONDS,
            max_messages=max_messages if max_messages is not None else settings.STREAM_RUN_MAX_MESSAGES,
            should_stop=should_stop,
        )
    finally:
        consumer.close()

