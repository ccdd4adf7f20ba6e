"""The stream consumer: ticks from Kafka → features → both variants → Prediction rows.

A run is bounded (seconds or messages) so no Celery task runs forever. Within a run:
1. take the partitions of this consumer's lease slot (p % STREAM_CONSUMER_SLOTS == slot) and
   seek each to the offset stored in the database;
2. rebuild each partition's feature windows if this process does not hold them at that offset:
   seek back to a tick older than the longest window (found from the stored rows) and replay
   up to the stored offset through the feature engine, writing nothing;
3. poll a batch; parse each message; send poison messages to the dead-letter topic;
4. update the feature windows and score the batch with the served variant and the shadow one
   (the configuration is re-read per batch, so a flip applies at the next);
5. in one database transaction: renew the lease (fails if another holder took it), check that
   the stored offset is still the one this consumer started the batch from (fencing), write the
   rows and the next offset (exactly once in the database);
6. commit the same offset to the Kafka consumer group so standard tooling sees progress.
On PostgreSQL step 5 runs on a writer thread (`BatchWriter`) while step 3–4 prepare the next
batch; each batch is still its own fenced transaction, written in order.
A crash anywhere loses nothing and duplicates nothing: the next run starts from step 1.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone as djtz
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from monitoring import metrics, sli
from predictions.core.features import FeatureEngine
from predictions.core.ticks import BadTick, parse_message
from predictions.messaging.kafka import make_consumer
from predictions.messaging.publisher import Publisher
from predictions.models import Prediction, StreamLease, StreamOffset
from predictions.serving import active_scorers

log = logging.getLogger(__name__)

LEASE_PREFIX = "ticks"
# Margin below the longest window when choosing where to replay from (rounding of stored times).
_WARMUP_MARGIN_S = 1.0


class LeaseLost(Exception):
    """Another holder owns this consumer's lease now: stop consuming at once."""


class Fenced(Exception):
    """The stored offset moved under this consumer (another one wrote): nothing was written."""


class OffsetReset(Exception):
    """The broker returned records before the stored offset: its log was lost or truncated."""


@dataclass
class RunStats:
    messages: int = 0
    scored: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    warmed_up: int = 0  # messages replayed to rebuild feature windows (no rows written)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TickColumns:
    """The scorable ticks of one polled batch, column by column: cheap to score and to write."""

    offsets: list[int] = field(default_factory=list)
    tick_index: list[int] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    mids: list[float] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(slots=True)
class ScoredBatch:
    """A partition batch ready to write: its ticks, features and both variants' scores."""

    topic: str
    partition: int
    ticks: TickColumns
    names: list[str]
    X: np.ndarray  # (n, len(names)) feature matrix
    variant: str
    score: np.ndarray
    threshold: float
    shadow_variant: str
    shadow_score: np.ndarray
    shadow_threshold: float
    model_version_id: int

    def __len__(self) -> int:
        return len(self.ticks)


# --- Feature state per partition ----------------------------------------------------------------
# A product's ticks all go to one partition (key = product id), so one engine per partition
# holds every product it needs. The state outlives a run in the same process; `position` says
# which offset it has seen up to, so a run reuses it only when it continues from there.


@dataclass
class PartitionState:
    engine: FeatureEngine
    position: int | None  # next offset this engine has not seen


_states: dict[tuple[str, int], PartitionState] = {}


def new_engine() -> FeatureEngine:
    return FeatureEngine(settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)


def reset_feature_engine() -> None:
    """Forget every partition's windows (the next run rebuilds them from the stream)."""
    _states.clear()


def warmup_start(*, topic: str, partition: int) -> int | None:
    """Offset to replay from so that every product of the partition has full windows again.

    For each product seen on the partition: the newest stored row at least the longest window
    (plus a margin) older than the product's newest row — its tick and everything before it are
    already out of every window, so replaying from it rebuilds the windows exactly; without
    such a row, the product's oldest row. The partition replays from the smallest of these.
    """
    rows = Prediction.objects.filter(topic=topic, partition=partition)
    span = timedelta(seconds=max(settings.FEATURE_WINDOWS_SECONDS) + _WARMUP_MARGIN_S)
    starts: list[int] = []
    for product_id, newest in rows.values("product_id").annotate(newest=Max("event_ts")) \
            .values_list("product_id", "newest"):
        product_rows = rows.filter(product_id=product_id)
        before = (product_rows.filter(event_ts__lte=newest - span)
                  .order_by("-event_ts", "-offset").values_list("offset", flat=True).first())
        if before is None:
            before = product_rows.aggregate(first=Min("offset"))["first"]
        starts.append(before)
    return min(starts) if starts else None


# --- Leases: which consumer owns which partitions -----------------------------------------------


def lease_name(slot: int = 0, slots: int | None = None) -> str:
    """Lease of a slot; with one slot it is plainly "ticks" (the name before slots existed)."""
    slots = slots or settings.STREAM_CONSUMER_SLOTS
    return LEASE_PREFIX if slots == 1 else f"{LEASE_PREFIX}-{slot}-of-{slots}"


def slot_partitions(partitions: list[int], slot: int, slots: int) -> list[int]:
    return [p for p in sorted(partitions) if p % slots == slot]


def lease_claim(holder: str, *, name: str | None = None, seconds: float | None = None) -> bool:
    """Take or extend the lease if it is free, expired, or already ours (atomic update)."""
    name = name or lease_name()
    seconds = seconds if seconds is not None else settings.STREAM_LEASE_SECONDS
    now = djtz.now()
    StreamLease.objects.get_or_create(name=name)
    claimed = StreamLease.objects.filter(
        Q(holder="") | Q(holder=holder) | Q(expires_at__lt=now) | Q(expires_at__isnull=True),
        name=name,
    ).update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    return claimed == 1


def lease_renew(holder: str, *, name: str, seconds: float | None = None) -> bool:
    """Extend the lease only if we still hold it (inside a batch's transaction: the fence)."""
    seconds = seconds if seconds is not None else settings.STREAM_LEASE_SECONDS
    return StreamLease.objects.filter(name=name, holder=holder).update(
        expires_at=djtz.now() + timedelta(seconds=seconds)) == 1


def lease_report(holder: str, stats: RunStats, *, name: str | None = None) -> None:
    StreamLease.objects.filter(name=name or lease_name(), holder=holder).update(
        last_run_at=djtz.now(), last_run_messages=stats.messages,
        last_error="; ".join(stats.errors)[:2000],
    )


def lease_release(holder: str, *, name: str | None = None) -> None:
    StreamLease.objects.filter(name=name or lease_name(), holder=holder).update(
        holder="", expires_at=None)


def lease_is_stale(name: str | None = None) -> bool:
    lease = StreamLease.objects.filter(name=name or lease_name()).first()
    return lease is None or lease.expires_at is None or lease.expires_at < djtz.now()


def lease_seconds_left(name: str | None = None) -> float:
    """Seconds until the lease expires; 0 when it is free or has expired."""
    lease = StreamLease.objects.filter(name=name or lease_name()).first()
    if lease is None or lease.expires_at is None:
        return 0.0
    return max((lease.expires_at - djtz.now()).total_seconds(), 0.0)


# --- The consumer ----------------------------------------------------------------------------


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
        self.lease = lease_name(slot, self.slots)
        self.consumer = make_consumer()
        self.dlq: Publisher | None = None
        self.partitions: list[TopicPartition] = []
        # Per partition: the next offset once the batches prepared so far are written, and the
        # offset the database holds now (what the group offsets follow).
        self.expected: dict[int, int | None] = {}
        self.stored: dict[int, int] = {}
        self.renewed = time.monotonic()  # the lease was claimed or renewed just before a run

    def assign(self, stats: RunStats) -> None:
        """Steps 1–2: this slot's partitions, positioned at the stored offsets, windows rebuilt."""
        deadline = time.monotonic() + 10
        parts = self.consumer.partitions_for_topic(self.topic)
        while not parts and time.monotonic() < deadline:
            time.sleep(0.2)
            parts = self.consumer.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} has no partitions (does it exist?)")
        mine = slot_partitions(list(parts), self.slot, self.slots)
        self.partitions = [TopicPartition(self.topic, p) for p in mine]
        self.consumer.assign(self.partitions)
        stored = dict(StreamOffset.objects.filter(topic=self.topic, partition__in=mine)
                      .values_list("partition", "next_offset"))
        replay: dict[TopicPartition, tuple[int, int]] = {}
        for tp in self.partitions:
            offset = stored.get(tp.partition)
            self.expected[tp.partition] = offset
            if offset is not None:
                self.stored[tp.partition] = offset
            state = _states.get((tp.topic, tp.partition))
            if offset is None or state is None or state.position != offset:
                _states[(tp.topic, tp.partition)] = PartitionState(new_engine(), offset)
                start = warmup_start(topic=tp.topic, partition=tp.partition) if offset else None
                if start is not None and start < offset:
                    replay[tp] = (start, offset)
        if replay:
            stats.warmed_up += self.warm_up(replay)
        for tp in self.partitions:
            offset = self.expected[tp.partition]
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    def keep_lease(self) -> None:
        """Renew the lease once a third of it has passed since the last renewal here (idle
        polls, the warm-up replay; batch transactions renew it themselves); LeaseLost if another
        holder took it."""
        if not self.holder or time.monotonic() - self.renewed <= settings.STREAM_LEASE_SECONDS / 3:
            return
        if not lease_renew(self.holder, name=self.lease):
            raise LeaseLost(self.lease)
        self.renewed = time.monotonic()

    def warm_up(self, replay: dict[TopicPartition, tuple[int, int]]) -> int:
        """Feed [start, stored) of each partition through its fresh engine; write nothing."""
        for tp, (start, _) in replay.items():
            self.consumer.seek(tp, start)
        pending = dict(replay)
        fed = idle = 0
        while pending and idle < 10:
            self.keep_lease()  # a long replay must not let the lease lapse
            batches = self.consumer.poll(timeout_ms=500, max_records=5000)
            idle = 0 if batches else idle + 1
            for tp, records in batches.items():
                if tp not in pending:
                    continue  # another partition fetched meanwhile: it is re-seeked afterwards
                stop = pending[tp][1]
                engine = _states[(tp.topic, tp.partition)].engine
                for record in records:
                    if record.offset >= stop:
                        break
                    try:
                        ticks = parse_message(record.value)
                    except BadTick:
                        continue
                    for tick in ticks:
                        engine.update(tick)
                    fed += 1
                if records[-1].offset + 1 >= stop:
                    del pending[tp]
        if pending:
            log.warning("feature warm-up stopped short for %s (the log ends early)",
                        sorted(tp.partition for tp in pending))
        log.info("rebuilt feature windows of %d partitions from %d messages", len(replay), fed)
        return fed

    def run(self, *, max_seconds: float, max_messages: int,
            should_stop: Callable[[], bool] = lambda: False) -> RunStats:
        stats = RunStats()
        deadline = time.monotonic() + max_seconds
        self.assign(stats)
        writer = BatchWriter(stats) if pipelined_writes() else None
        try:
            while (time.monotonic() < deadline and stats.messages < max_messages
                   and not should_stop()):
                batches = self.consumer.poll(timeout_ms=500,
                                             max_records=settings.STREAM_POLL_MAX_RECORDS)
                for tp, records in batches.items():
                    commit = self.prepare_batch(tp, records, stats)
                    if writer is None:
                        self.write_now(commit, stats)
                    else:
                        writer.submit(commit)  # written while the next batch is prepared
                if writer is not None:
                    for commit in writer.written():
                        self.committed(commit)
                if not batches:
                    self.keep_lease()  # idle: no batch transaction renews it
            if writer is not None:
                for commit in writer.close():
                    self.committed(commit)
        except BaseException:
            if writer is not None:
                writer.abandon()
            # The windows may have seen ticks whose rows were not committed: drop them so the
            # next run, which re-reads from the stored offsets, rebuilds them.
            for tp in self.partitions:
                _states.pop((tp.topic, tp.partition), None)
            raise
        return stats

    def close(self) -> None:
        """Leave the group offsets equal to the stored ones (batches commit them without
        waiting), then close."""
        if self.dlq is not None:
            self.dlq.close()
        positions = {TopicPartition(self.topic, p): OffsetAndMetadata(offset, "", -1)
                     for p, offset in self.stored.items()}
        if positions:
            try:
                self.consumer.commit(positions)
            except KafkaError as exc:  # tooling lags until the next run commits again
                log.warning("could not commit group offsets at close: %s", exc)
        self.consumer.close(autocommit=False)

    # -- one batch --

    def process_batch(self, tp: TopicPartition, records: list, stats: RunStats) -> None:
        """Prepare and write one partition batch now (what a run does, without pipelining)."""
        self.write_now(self.prepare_batch(tp, records, stats), stats)

    def write_now(self, commit: BatchCommit, stats: RunStats) -> None:
        commit.write()
        observe(commit, stats)
        self.committed(commit)

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
        state = _states[(tp.topic, tp.partition)]
        ticks = self.features(records, state.engine, stats)
        batch = self.score(tp, ticks, serving, state.engine.names)
        next_offset = records[-1].offset + 1
        self.expected[tp.partition] = state.position = next_offset
        return BatchCommit(tp=tp, expected=expected, next_offset=next_offset,
                           lag=self.lag(tp, next_offset), batch=batch,
                           holder=self.holder, lease=self.lease, started=started)

    def committed(self, commit: BatchCommit) -> None:
        """A batch is in the database: tell the Kafka group (for tooling only, so without
        waiting; the database is the truth)."""
        self.stored[commit.tp.partition] = commit.next_offset
        self.consumer.commit_async({commit.tp: OffsetAndMetadata(commit.next_offset, "", -1)})

    def features(self, records: list, engine: FeatureEngine, stats: RunStats) -> TickColumns:
        ticks = TickColumns()
        offsets, indexes, products = ticks.offsets, ticks.tick_index, ticks.product_ids
        times, mids, values = ticks.ts, ticks.mids, ticks.values
        update = engine.update
        stats.messages += len(records)
        for record in records:
            try:
                parsed = parse_message(record.value)
            except BadTick as exc:
                self.dead_letter(record, str(exc), stats)
                continue
            if not parsed:
                stats.skipped += 1
                metrics.CONSUMER_MESSAGES.labels(outcome="skipped").inc()
                continue
            for index, tick in enumerate(parsed):
                row = update(tick)
                if row is None:
                    self.dead_letter(record, "out-of-order tick (older than the product's last)",
                                     stats)
                    continue
                offsets.append(record.offset)
                indexes.append(index)
                products.append(tick.product_id)
                times.append(tick.ts)
                mids.append(row.mid)
                values.append(row.values)
        return ticks

    def score(self, tp: TopicPartition, ticks: TickColumns, serving,
              names: list[str]) -> ScoredBatch | None:
        if not len(ticks):
            return None
        if names != serving.version.feature_names:
            raise RuntimeError("the model's features differ from the engine's; retrain the model")
        X = np.asarray(ticks.values, dtype=np.float64)
        served = serving.served.score(X)
        shadow = serving.shadow if serving.shadow is not None else serving.served
        return ScoredBatch(
            topic=tp.topic, partition=tp.partition, ticks=ticks, names=names, X=X,
            variant=serving.served.variant, score=served, threshold=serving.served.threshold,
            shadow_variant=shadow.variant,
            shadow_score=served if shadow is serving.served else shadow.score(X),
            shadow_threshold=shadow.threshold, model_version_id=serving.version.id,
        )

    def dead_letter(self, record, reason: str, stats: RunStats) -> None:
        if self.dlq is None:
            self.dlq = Publisher(settings.KAFKA_TOPIC_DLQ)
        headers = [
            ("error", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        # Confirmed before the batch's offset can move past it: a dead letter is never lost
        # (a failure fails the batch, and the next run sends it again).
        self.dlq.send(record.key, record.value, headers)
        self.dlq.flush(timeout=10)
        stats.dead_lettered += 1
        metrics.CONSUMER_MESSAGES.labels(outcome="dead_lettered").inc()
        metrics.CONSUMER_ERRORS.labels(kind="poison_message").inc()
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                    reason)

    def lag(self, tp: TopicPartition, next_offset: int) -> int | None:
        high = self.consumer.highwater(tp)
        return None if high is None else max(high - next_offset, 0)



def observe(commit: BatchCommit, stats: RunStats) -> None:
    stats.batches += 1
    batch = commit.batch
    if batch is not None:
        n = len(batch)
        stats.scored += n
        now = time.time()
        tick_to_prediction = metrics.TICK_TO_PREDICTION.observe
        for ts in batch.ticks.ts:
            tick_to_prediction(max(now - ts, 0.0))
        sli.record_stream_batch([max(now - ts, 0.0) for ts in batch.ticks.ts])
        metrics.CONSUMER_MESSAGES.labels(outcome="scored").inc(n)
        metrics.PREDICTIONS_WRITTEN.labels(variant=batch.variant).inc(n)
    metrics.CONSUMER_BATCH_SECONDS.observe(time.monotonic() - commit.started)


@dataclass(slots=True)
class BatchCommit:
    """Step 5 for one partition batch: what to write, and the offsets that fence it."""

    tp: TopicPartition
    expected: int | None  # the stored offset this batch follows
    next_offset: int
    lag: int | None
    batch: ScoredBatch | None  # None: nothing to score (only dead letters or control messages)
    holder: str | None
    lease: str
    started: float
    payload: bytes | None = None  # COPY rows, encoded before the write (PostgreSQL)

    def write(self) -> None:
        """One transaction: renew the lease, advance the offset (the fence), insert the rows."""
        with transaction.atomic():
            if self.holder and not lease_renew(self.holder, name=self.lease):
                raise LeaseLost(self.lease)
            offset_advance(self.tp, self.expected, self.next_offset, self.lag)
            if self.batch is not None:
                write_predictions(self.batch, self.payload)


def pipelined_writes() -> bool:
    """Write batches on a thread of their own (PostgreSQL only: SQLite has one writer)."""
    return settings.STREAM_PIPELINE_WRITES and connection.vendor == "postgresql"


class BatchWriter:
    """Writes a run's batches on a thread with its own database connection, in order, while the
    consumer prepares the next batch: PostgreSQL inserts the rows on another core meanwhile.

    Each batch is still its own fenced transaction, so nothing about exactly-once changes. At
    most one batch waits; the first failure stops the writer (later batches are dropped, not
    written) and is raised in the consumer's thread at its next submit or at close.
    """

    def __init__(self, stats: RunStats) -> None:
        self.stats = stats
        self.todo: queue.Queue[BatchCommit | None] = queue.Queue(maxsize=1)
        self.done: queue.SimpleQueue[BatchCommit] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="stream-writer", daemon=True)
        self.thread.start()

    def submit(self, commit: BatchCommit) -> None:
        self._raise()
        if commit.batch is not None:
            commit.payload = copy_rows(commit.batch)
        self.todo.put(commit)

    def written(self) -> list[BatchCommit]:
        """Batches committed since the last call, in order."""
        self._raise()
        out = []
        while not self.done.empty():
            out.append(self.done.get())
        return out

    def close(self) -> list[BatchCommit]:
        """Wait for every submitted batch to be written; the last ones written."""
        self.todo.put(None)
        self.thread.join()
        return self.written()

    def abandon(self) -> None:
        """Stop after the batch being written (the consumer failed; it re-reads the rest)."""
        self.error = self.error or RuntimeError("abandoned")
        while True:
            try:
                self.todo.get_nowait()
            except queue.Empty:
                break
        self.todo.put(None)
        self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while (commit := self.todo.get()) is not None:
                if self.error is not None:
                    continue
                try:
                    commit.write()
                    observe(commit, self.stats)
                    self.done.put(commit)
                except BaseException as exc:  # raised in the consumer's thread
                    self.error = exc
        finally:
            connection.close()  # this thread's own connection


def offset_advance(tp: TopicPartition, expected: int | None, next_offset: int,
                   lag: int | None) -> None:
    """Move the stored offset from `expected` to `next_offset`, or raise Fenced.

    A compare-and-set inside the batch's transaction: it locks the partition's row, so a second
    writer waits, then finds the offset moved and writes nothing. The first batch of a partition
    creates the row; the unique constraint refuses a second creator.
    """
    now = djtz.now()
    if expected is None:
        try:
            with transaction.atomic():
                StreamOffset.objects.create(topic=tp.topic, partition=tp.partition,
                                            next_offset=next_offset, lag=lag)
            return
        except IntegrityError:
            pass
    elif StreamOffset.objects.filter(topic=tp.topic, partition=tp.partition,
                                     next_offset=expected).update(
            next_offset=next_offset, lag=lag, updated_at=now) == 1:
        return
    stored = (StreamOffset.objects.filter(topic=tp.topic, partition=tp.partition)
              .values_list("next_offset", flat=True).first())
    metrics.CONSUMER_ERRORS.labels(kind="fenced").inc()
    raise Fenced(f"{tp.topic}[{tp.partition}] is at {stored} in the database, this "
                 f"consumer expected {expected}: another consumer wrote it")


def write_predictions(batch: ScoredBatch, payload: bytes | None = None) -> None:
    """Insert the batch's rows (inside the caller's transaction).

    On PostgreSQL with COPY, the rows encoded here in one pass (`copy_rows`): Django's
    bulk_create spends most of a batch escaping the feature JSON, and even psycopg's per-row
    COPY costs more than scoring. Elsewhere (SQLite) bulk_create. A duplicate position fails
    the transaction either way.
    """
    if connection.vendor != "postgresql":
        Prediction.objects.bulk_create(prediction_objects(batch), batch_size=500)
        return
    columns = ", ".join(f'"{c}"' for c in COPY_COLUMNS)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
                f"COPY {Prediction._meta.db_table} ({columns}) FROM STDIN") as copy:
            copy.write(payload if payload is not None else copy_rows(batch))


def prediction_objects(batch: ScoredBatch) -> list[Prediction]:
    t = batch.ticks
    served, shadow = batch.score.tolist(), batch.shadow_score.tolist()
    return [
        Prediction(
            product_id=t.product_ids[i], event_ts=datetime.fromtimestamp(t.ts[i], tz=UTC),
            features=dict(zip(batch.names, t.values[i])), variant=batch.variant,
            score=served[i], label=served[i] >= batch.threshold, threshold=batch.threshold,
            shadow_variant=batch.shadow_variant, shadow_score=shadow[i],
            model_version_id=batch.model_version_id, topic=batch.topic,
            partition=batch.partition, offset=t.offsets[i], tick_index=t.tick_index[i],
            mid=t.mids[i], shadow_threshold=batch.shadow_threshold,
        )
        for i in range(len(t))
    ]


# COPY's column order: the per-row columns first, then those that are the same for the batch.
COPY_COLUMNS = ("product_id", "event_ts", "features", "score", "label", "shadow_score", "offset",
                "tick_index", "mid", "created_at", "variant", "threshold", "shadow_variant",
                "model_version_id", "topic", "partition", "shadow_threshold")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@lru_cache(maxsize=1024)
def copy_text(value: str) -> bytes:
    """A text value escaped for COPY's text format."""
    return value.translate(_COPY_ESCAPES).encode()


def copy_floats(values: np.ndarray) -> list[bytes]:
    """Float column → COPY text per value (shortest round-trip form; NaN kept as NaN)."""
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] \
        .replace(b"null", b"NaN").split(b",")


@lru_cache(maxsize=8)
def _features_template(names: tuple[str, ...]) -> bytes:
    keys = (copy_text(orjson.dumps(name).decode()).replace(b"%", b"%%") for name in names)
    return b"{" + b",".join(key + b":%s" for key in keys) + b"}"


def features_json(X: np.ndarray, names: list[str]) -> list[bytes]:
    """Each row of X as the JSON object {name: value}, as orjson would write it (NaN as null).

    orjson writes a float64 matrix about ten times faster than it writes one dict per row; the
    matrix's rows are then cut apart and their numbers set into a template of the names.
    """
    template = _features_template(tuple(names))
    body = orjson.dumps(np.ascontiguousarray(X, dtype=np.float64),
                        option=orjson.OPT_SERIALIZE_NUMPY)
    return [template % tuple(row.split(b",")) for row in body[2:-2].split(b"],[")]


def copy_rows(batch: ScoredBatch, *, created_at: datetime | None = None) -> bytes:
    """The batch's rows in COPY text format, columns in COPY_COLUMNS order (created now)."""
    created_at = created_at or djtz.now()
    t = batch.ticks
    constant = b"\t".join([
        created_at.isoformat().encode(), copy_text(batch.variant), repr(float(batch.threshold)).encode(),
        copy_text(batch.shadow_variant), str(batch.model_version_id).encode(),
        copy_text(batch.topic), str(batch.partition).encode(),
        repr(float(batch.shadow_threshold)).encode(),
    ]) + b"\n"
    labels = [b"t" if hit else b"f" for hit in (batch.score >= batch.threshold).tolist()]
    times = [datetime.fromtimestamp(ts, tz=UTC).isoformat().encode() for ts in t.ts]
    return b"".join([
        b"%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s" % row
        for row in zip(map(copy_text, t.product_ids), times, features_json(batch.X, batch.names),
                       copy_floats(batch.score), labels, copy_floats(batch.shadow_score),
                       t.offsets, t.tick_index, copy_floats(np.asarray(t.mids)),
                       itertools.repeat(constant))
    ])


def consume_run(*, max_seconds: float | None = None, max_messages: int | None = None,
                topic: str | None = None, holder: str | None = None, slot: int = 0,
                should_stop: Callable[[], bool] = lambda: False) -> RunStats:
    """One bounded run of the consumer (the Celery task and `manage.py consume` call this)."""
    consumer = StreamConsumer(topic, holder=holder, slot=slot)
    try:
        return consumer.run(
            max_seconds=max_seconds if max_seconds is not None else settings.STREAM_RUN_SECONDS,
            max_messages=max_messages if max_messages is not None else settings.STREAM_RUN_MAX_MESSAGES,
            should_stop=should_stop,
        )
    finally:
        consumer.close()
