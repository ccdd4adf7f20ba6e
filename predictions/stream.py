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
A crash anywhere loses nothing and duplicates nothing: the next run starts from step 1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone as djtz
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from monitoring import metrics
from predictions.features import FeatureEngine
from predictions.ingest import Publisher
from predictions.kafka import make_consumer
from predictions.marketdata import BadTick, parse_message
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
class PredictionRow:
    """A Prediction to insert: plain attributes, cheaper to build than model instances."""

    product_id: str
    event_ts: datetime
    features: dict[str, float]
    variant: str
    score: float
    label: bool
    threshold: float
    shadow_variant: str
    shadow_score: float
    model_version_id: int
    topic: str
    partition: int
    offset: int
    tick_index: int
    mid: float
    shadow_threshold: float


@dataclass(slots=True)
class _Scorable:
    record: object
    tick_index: int
    product_id: str
    ts: float
    mid: float
    values: list[float]


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
        self.expected: dict[int, int | None] = {}  # next offset stored in the DB, per partition

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

    def warm_up(self, replay: dict[TopicPartition, tuple[int, int]]) -> int:
        """Feed [start, stored) of each partition through its fresh engine; write nothing."""
        for tp, (start, _) in replay.items():
            self.consumer.seek(tp, start)
        pending = dict(replay)
        fed = idle = 0
        while pending and idle < 10:
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
        renew_every = settings.STREAM_LEASE_SECONDS / 3
        renewed = time.monotonic()
        while time.monotonic() < deadline and stats.messages < max_messages and not should_stop():
            batches = self.consumer.poll(timeout_ms=500, max_records=settings.STREAM_POLL_MAX_RECORDS)
            for tp, records in batches.items():
                try:
                    self.process_batch(tp, records, stats)
                except Exception:
                    # The windows may have seen ticks whose rows were not committed: drop them
                    # so the next run, which re-reads from the stored offsets, rebuilds them.
                    _states.pop((tp.topic, tp.partition), None)
                    raise
            if self.holder and not batches and time.monotonic() - renewed > renew_every:
                if not lease_renew(self.holder, name=self.lease):  # idle: keep the lease alive
                    raise LeaseLost(self.lease)
                renewed = time.monotonic()
        return stats

    def close(self) -> None:
        """Leave the group offsets equal to the stored ones (batches commit them without
        waiting), then close."""
        if self.dlq is not None:
            self.dlq.close()
        positions = {TopicPartition(self.topic, p): OffsetAndMetadata(offset, "", -1)
                     for p, offset in self.expected.items() if offset is not None}
        if positions:
            try:
                self.consumer.commit(positions)
            except KafkaError as exc:  # tooling lags until the next run commits again
                log.warning("could not commit group offsets at close: %s", exc)
        self.consumer.close(autocommit=False)

    # -- one batch --

    def process_batch(self, tp: TopicPartition, records: list, stats: RunStats) -> None:
        started = time.monotonic()
        expected = self.expected.get(tp.partition)
        if expected is not None and records[0].offset < expected:
            metrics.CONSUMER_ERRORS.labels(kind="offset_reset").inc()
            raise OffsetReset(f"{tp.topic}[{tp.partition}] returned offset {records[0].offset} "
                              f"before the stored {expected}: the broker lost or truncated its "
                              "log; see docs/stream.md")
        serving = active_scorers()
        state = _states[(tp.topic, tp.partition)]
        scorable = self.features(records, state.engine, stats)
        rows = self.score(scorable, serving, state.engine.names)
        next_offset = records[-1].offset + 1
        lag = self.lag(tp, next_offset)
        with transaction.atomic():
            if self.holder and not lease_renew(self.holder, name=self.lease):
                raise LeaseLost(self.lease)
            self.fence(tp, expected)
            write_predictions(rows)
            StreamOffset.objects.update_or_create(
                topic=tp.topic, partition=tp.partition,
                defaults={"next_offset": next_offset, "lag": lag},
            )
        self.expected[tp.partition] = state.position = next_offset
        # Group offsets are for tooling only (the database is the truth): do not wait for them.
        self.consumer.commit_async({tp: OffsetAndMetadata(next_offset, "", -1)})
        self.observe(rows, stats, started)

    def fence(self, tp: TopicPartition, expected: int | None) -> None:
        """Refuse to write unless the stored offset is still the one this batch follows."""
        stored = (StreamOffset.objects.select_for_update()
                  .filter(topic=tp.topic, partition=tp.partition)
                  .values_list("next_offset", flat=True).first())
        if stored != expected:
            metrics.CONSUMER_ERRORS.labels(kind="fenced").inc()
            raise Fenced(f"{tp.topic}[{tp.partition}] is at {stored} in the database, this "
                         f"consumer expected {expected}: another consumer wrote it")

    def features(self, records: list, engine: FeatureEngine, stats: RunStats) -> list[_Scorable]:
        scorable: list[_Scorable] = []
        for record in records:
            stats.messages += 1
            try:
                ticks = parse_message(record.value)
            except BadTick as exc:
                self.dead_letter(record, str(exc), stats)
                continue
            if not ticks:
                stats.skipped += 1
                metrics.CONSUMER_MESSAGES.labels(outcome="skipped").inc()
                continue
            for index, tick in enumerate(ticks):
                row = engine.update(tick)
                if row is None:
                    self.dead_letter(record, "out-of-order tick (older than the product's last)",
                                     stats)
                    continue
                scorable.append(_Scorable(record, index, tick.product_id, tick.ts, row.mid,
                                          row.values))
        return scorable

    def score(self, scorable: list[_Scorable], serving, names: list[str]) -> list[PredictionRow]:
        if not scorable:
            return []
        if names != serving.version.feature_names:
            raise RuntimeError("the model's features differ from the engine's; retrain the model")
        X = np.asarray([s.values for s in scorable], dtype=np.float64)
        served = serving.served.score(X)
        shadow = serving.shadow.score(X) if serving.shadow is not None else served
        shadow_variant = serving.shadow.variant if serving.shadow is not None else serving.served.variant
        threshold = serving.served.threshold
        shadow_threshold = serving.shadow.threshold if serving.shadow is not None else threshold
        served_l, shadow_l = served.tolist(), shadow.tolist()
        return [
            PredictionRow(
                product_id=s.product_id,
                event_ts=datetime.fromtimestamp(s.ts, tz=UTC),
                features=dict(zip(names, s.values)),
                variant=serving.served.variant,
                score=served_l[i],
                label=served_l[i] >= threshold,
                threshold=threshold,
                shadow_variant=shadow_variant,
                shadow_score=shadow_l[i],
                model_version_id=serving.version.id,
                topic=s.record.topic,
                partition=s.record.partition,
                offset=s.record.offset,
                tick_index=s.tick_index,
                mid=s.mid,
                shadow_threshold=shadow_threshold,
            )
            for i, s in enumerate(scorable)
        ]

    def dead_letter(self, record, reason: str, stats: RunStats) -> None:
        if self.dlq is None:
            self.dlq = Publisher(settings.KAFKA_TOPIC_DLQ)
        headers = [
            ("error", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        self.dlq.producer.send(settings.KAFKA_TOPIC_DLQ, key=record.key, value=record.value,
                               headers=headers)
        self.dlq.producer.flush(timeout=10)
        stats.dead_lettered += 1
        metrics.CONSUMER_MESSAGES.labels(outcome="dead_lettered").inc()
        metrics.CONSUMER_ERRORS.labels(kind="poison_message").inc()
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                    reason)

    def lag(self, tp: TopicPartition, next_offset: int) -> int | None:
        high = self.consumer.highwater(tp)
        return None if high is None else max(high - next_offset, 0)

    def observe(self, rows: list[PredictionRow], stats: RunStats, started: float) -> None:
        stats.batches += 1
        stats.scored += len(rows)
        now = time.time()
        for row in rows:
            metrics.TICK_TO_PREDICTION.observe(max(now - row.event_ts.timestamp(), 0.0))
        if rows:
            metrics.CONSUMER_MESSAGES.labels(outcome="scored").inc(len(rows))
            metrics.PREDICTIONS_WRITTEN.labels(variant=rows[0].variant).inc(len(rows))
        metrics.CONSUMER_BATCH_SECONDS.observe(time.monotonic() - started)



_COPY_COLUMNS = ("product_id", "event_ts", "created_at", "features", "variant", "score", "label",
                 "threshold", "shadow_variant", "shadow_score", "model_version_id", "topic",
                 "partition", "offset", "tick_index", "mid", "shadow_threshold")


def write_predictions(rows: list[PredictionRow]) -> None:
    """Insert the batch's rows (inside the caller's transaction).

    On PostgreSQL with COPY: Django's bulk_create spends most of a batch escaping the feature
    JSON into arrays; COPY takes the rows as they are, a few times faster. Elsewhere (SQLite)
    bulk_create. A duplicate position fails the transaction either way.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        Prediction.objects.bulk_create([Prediction(**{f: getattr(r, f) for f in r.__slots__})
                                        for r in rows], batch_size=500)
        return
    now = djtz.now()
    columns = ", ".join(f'"{c}"' for c in _COPY_COLUMNS)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
                f"COPY {Prediction._meta.db_table} ({columns}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.product_id, r.event_ts, now, orjson.dumps(r.features).decode(),
                                r.variant, r.score, r.label, r.threshold, r.shadow_variant,
                                r.shadow_score, r.model_version_id, r.topic, r.partition,
                                r.offset, r.tick_index, r.mid, r.shadow_threshold))


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
