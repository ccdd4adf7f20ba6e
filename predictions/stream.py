"""The stream consumer: ticks from Kafka → features → both variants → Prediction rows.

A run is bounded (seconds or messages) so no Celery task runs forever. Within a run:
1. assign every partition of the ticks topic and seek to the offsets stored in the database;
2. poll a batch; parse each message; send poison messages to the dead-letter topic;
3. update the per-product feature windows and score the batch with the served variant and
   the shadow one (the configuration is re-read per batch, so a flip applies at the next);
4. write the rows and the next offsets in one database transaction (exactly once in the DB);
5. commit the same offsets to the Kafka consumer group so standard tooling sees progress.
Only one chain of runs consumes at a time: it holds the `StreamLease` (see tasks.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone as djtz
from kafka.structs import OffsetAndMetadata, TopicPartition

from monitoring import metrics
from predictions.features import FeatureEngine
from predictions.ingest import Publisher
from predictions.kafka import make_consumer
from predictions.marketdata import BadTick, parse_message
from predictions.models import Prediction, StreamLease, StreamOffset
from predictions.serving import active_scorers

log = logging.getLogger(__name__)

LEASE_NAME = "ticks"

# Feature windows live for the life of the worker process: the stream worker runs a single
# process (`-P solo`), so consecutive runs continue the same windows.
_engine: FeatureEngine | None = None


def feature_engine() -> FeatureEngine:
    global _engine
    if _engine is None:
        _engine = FeatureEngine(settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)
    return _engine


def reset_feature_engine() -> None:
    global _engine
    _engine = None


@dataclass
class RunStats:
    messages: int = 0
    scored: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Scorable:
    record: object
    tick_index: int
    product_id: str
    ts: float
    values: list[float]


# --- Lease: one consumer chain at a time --------------------------------------------------------


def lease_claim(holder: str, *, seconds: float) -> bool:
    """Take or extend the lease if it is free, expired, or already ours (atomic update)."""
    now = djtz.now()
    StreamLease.objects.get_or_create(name=LEASE_NAME)
    claimed = StreamLease.objects.filter(
        Q(holder="") | Q(holder=holder) | Q(expires_at__lt=now) | Q(expires_at__isnull=True),
        name=LEASE_NAME,
    ).update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    return claimed == 1


def lease_report(holder: str, stats: RunStats) -> None:
    StreamLease.objects.filter(name=LEASE_NAME, holder=holder).update(
        last_run_at=djtz.now(), last_run_messages=stats.messages,
        last_error="; ".join(stats.errors)[:2000],
    )


def lease_release(holder: str) -> None:
    StreamLease.objects.filter(name=LEASE_NAME, holder=holder).update(holder="", expires_at=None)


def lease_is_stale() -> bool:
    lease = StreamLease.objects.filter(name=LEASE_NAME).first()
    return lease is None or lease.expires_at is None or lease.expires_at < djtz.now()


# --- The consumer ----------------------------------------------------------------------------


class StreamConsumer:
    def __init__(self, topic: str | None = None) -> None:
        self.topic = topic or settings.KAFKA_TOPIC_TICKS
        self.consumer = make_consumer()
        self.dlq: Publisher | None = None
        self.partitions: list[TopicPartition] = []

    def assign(self) -> None:
        deadline = time.monotonic() + 10
        parts = self.consumer.partitions_for_topic(self.topic)
        while not parts and time.monotonic() < deadline:
            time.sleep(0.2)
            parts = self.consumer.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} has no partitions (does it exist?)")
        self.partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(self.partitions)
        stored = dict(
            StreamOffset.objects.filter(topic=self.topic).values_list("partition", "next_offset")
        )
        for tp in self.partitions:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)

    def run(self, *, max_seconds: float, max_messages: int,
            should_stop: Callable[[], bool] = lambda: False) -> RunStats:
        stats = RunStats()
        deadline = time.monotonic() + max_seconds
        self.assign()
        while time.monotonic() < deadline and stats.messages < max_messages and not should_stop():
            batches = self.consumer.poll(timeout_ms=500, max_records=settings.STREAM_POLL_MAX_RECORDS)
            try:
                for tp, records in batches.items():
                    self.process_batch(tp, records, stats)
            except Exception:
                # The windows may have seen ticks whose rows were not committed: start them
                # afresh so the next run, which re-reads from the stored offsets, agrees.
                reset_feature_engine()
                raise
        return stats

    def close(self) -> None:
        if self.dlq is not None:
            self.dlq.close()
        self.consumer.close(autocommit=False)

    # -- one batch --

    def process_batch(self, tp: TopicPartition, records: list, stats: RunStats) -> None:
        started = time.monotonic()
        serving = active_scorers()
        engine = feature_engine()
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
                scorable.append(_Scorable(record, index, tick.product_id, tick.ts, row.values))
        rows = self.score(scorable, serving, engine.names)
        next_offset = records[-1].offset + 1
        lag = self.lag(tp, next_offset)
        with transaction.atomic():
            Prediction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
            StreamOffset.objects.update_or_create(
                topic=tp.topic, partition=tp.partition,
                defaults={"next_offset": next_offset, "lag": lag},
            )
        self.consumer.commit({tp: OffsetAndMetadata(next_offset, "", -1)})
        self.observe(rows, stats, started)

    def score(self, scorable: list[_Scorable], serving, names: list[str]) -> list[Prediction]:
        if not scorable:
            return []
        if names != serving.version.feature_names:
            raise RuntimeError("the model's features differ from the engine's; retrain the model")
        X = np.asarray([s.values for s in scorable], dtype=np.float64)
        served = serving.served.score(X)
        shadow = serving.shadow.score(X) if serving.shadow is not None else served
        shadow_variant = serving.shadow.variant if serving.shadow is not None else serving.served.variant
        threshold = serving.served.threshold
        return [
            Prediction(
                product_id=s.product_id,
                event_ts=datetime.fromtimestamp(s.ts, tz=UTC),
                features=dict(zip(names, s.values)),
                variant=serving.served.variant,
                score=float(served[i]),
                label=bool(served[i] >= threshold),
                threshold=threshold,
                shadow_variant=shadow_variant,
                shadow_score=float(shadow[i]),
                model_version_id=serving.version.id,
                topic=s.record.topic,
                partition=s.record.partition,
                offset=s.record.offset,
                tick_index=s.tick_index,
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

    def observe(self, rows: list[Prediction], stats: RunStats, started: float) -> None:
        stats.batches += 1
        stats.scored += len(rows)
        now = time.time()
        for row in rows:
            metrics.TICK_TO_PREDICTION.observe(max(now - row.event_ts.timestamp(), 0.0))
        if rows:
            metrics.CONSUMER_MESSAGES.labels(outcome="scored").inc(len(rows))
            metrics.PREDICTIONS_WRITTEN.labels(variant=rows[0].variant).inc(len(rows))
        metrics.CONSUMER_BATCH_SECONDS.observe(time.monotonic() - started)


def consume_run(*, max_seconds: float | None = None, max_messages: int | None = None,
                topic: str | None = None, should_stop: Callable[[], bool] = lambda: False
                ) -> RunStats:
    """One bounded run of the consumer (the Celery task and `manage.py consume` call this)."""
    consumer = StreamConsumer(topic)
    try:
        return consumer.run(
            max_seconds=max_seconds if max_seconds is not None else settings.STREAM_RUN_SECONDS,
            max_messages=max_messages if max_messages is not None else settings.STREAM_RUN_MAX_MESSAGES,
            should_stop=should_stop,
        )
    finally:
        consumer.close()
