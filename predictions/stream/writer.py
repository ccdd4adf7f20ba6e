"""Step 5 of a batch: one fenced transaction that renews the lease, advances the stored offset
and inserts the rows — inline, or on a writer thread while the consumer prepares the next batch.

On PostgreSQL the rows go in by COPY (encoded in `copy_encoding`), on a thread of their own
(`BatchWriter`): PostgreSQL inserts on another core while this process parses, computes
features and scores. Each batch is still its own transaction, written in order, so nothing
about exactly-once changes. SQLite has one writer, so there batches are written inline with
bulk_create.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from kafka.structs import TopicPartition

from monitoring import metrics
from predictions.core.features import FEATURE_SET_VERSION
from predictions.models import (
    Fenced,
    LabelPending,
    LeaseLost,
    Prediction,
    StreamLease,
    StreamOffset,
)
from predictions.signals import stream_batch_stored
from predictions.stream.batches import RunStats, ScoredBatch
from predictions.stream.copy_encoding import COPY_COLUMNS, copy_rows
from predictions.stream.watchdog import progress


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
    first_offset: int | None = None  # the batch's first record (what the poison breaker counts)
    epoch: int = 0  # the partition's log epoch the offsets belong to

    def write(self) -> None:
        """One transaction: renew the lease, advance the offset (the fence), insert the rows."""
        with transaction.atomic():
            if self.holder and not StreamLease.objects.renew(self.holder, name=self.lease):
                raise LeaseLost(self.lease)
            try:
                StreamOffset.objects.advance(
                    topic=self.tp.topic, partition=self.tp.partition, expected=self.expected,
                    next_offset=self.next_offset, lag=self.lag, epoch=self.epoch)
            except Fenced:
                metrics.CONSUMER_ERRORS.labels(kind="fenced").inc()
                raise
            if self.batch is not None:
                write_predictions(self.batch, self.payload)


def observe(commit: BatchCommit, stats: RunStats) -> None:
    """Count a committed batch in the run's stats and the metrics."""
    progress()
    stats.batches += 1
    batch = commit.batch
    if batch is not None:
        n = len(batch)
        stats.scored += n
        now = time.time()
        tick_to_prediction = metrics.TICK_TO_PREDICTION.observe
        latencies = [max(now - ts, 0.0) for ts in batch.ticks.ts]
        for latency in latencies:
            tick_to_prediction(latency)
        stream_batch_stored.send(sender=BatchCommit, latencies_s=latencies)
        metrics.CONSUMER_MESSAGES.labels(outcome="scored").inc(n)
        metrics.PREDICTIONS_WRITTEN.labels(variant=batch.variant).inc(n)
    metrics.CONSUMER_BATCH_SECONDS.observe(time.monotonic() - commit.started)


def write_now(commit: BatchCommit, stats: RunStats) -> None:
    """Write a batch in the calling thread (no writer thread)."""
    commit.write()
    observe(commit, stats)


def pipelined_writes() -> bool:
    """Write batches on a thread of their own (PostgreSQL only: SQLite has one writer)."""
    return settings.STREAM_PIPELINE_WRITES and connection.vendor == "postgresql"


class WriterStuck(TimeoutError):
    """The writer thread did not take or finish a batch within STREAM_WRITER_TIMEOUT_SECONDS."""


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
        self.failed: BatchCommit | None = None  # the batch whose write failed
        self.thread = threading.Thread(target=self._loop, name="stream-writer", daemon=True)
        self.thread.start()

    def submit(self, commit: BatchCommit) -> None:
        self._raise()
        if commit.batch is not None and commit.payload is None:
            commit.payload = copy_rows(commit.batch)
        try:
            self.todo.put(commit, timeout=settings.STREAM_WRITER_TIMEOUT_SECONDS)
        except queue.Full:
            raise WriterStuck("the writer thread took no batch for "
                              f"{settings.STREAM_WRITER_TIMEOUT_SECONDS:g} s") from None

    def written(self) -> list[BatchCommit]:
        """Batches committed since the last call, in order."""
        self._raise()
        out = []
        while not self.done.empty():
            out.append(self.done.get())
        return out

    def close(self) -> list[BatchCommit]:
        """Wait (bounded) for every submitted batch to be written; the last ones written."""
        self._finish()
        self._raise()
        if self.thread.is_alive():
            raise WriterStuck("the writer thread did not finish within "
                              f"{settings.STREAM_WRITER_TIMEOUT_SECONDS:g} s")
        return self.written()

    def _finish(self) -> None:
        """Hand the stop mark over and wait for the thread, neither longer than the timeout
        (a daemon thread stuck in a call is left behind; its connection is its own)."""
        try:
            self.todo.put(None, timeout=settings.STREAM_WRITER_TIMEOUT_SECONDS)
        except queue.Full:
            return
        self.thread.join(timeout=settings.STREAM_WRITER_TIMEOUT_SECONDS)

    def abandon(self) -> None:
        """Stop after the batch being written (the consumer failed; it re-reads the rest)."""
        self.error = self.error or RuntimeError("abandoned")
        while True:
            try:
                self.todo.get_nowait()
            except queue.Empty:
                break
        self._finish()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while (commit := self.todo.get()) is not None:
                if self.error is not None:
                    continue
                try:
                    write_now(commit, self.stats)
                    self.done.put(commit)
                except BaseException as exc:  # raised in the consumer's thread
                    self.error, self.failed = exc, commit
        finally:
            connection.close()  # this thread's own connection


def write_predictions(batch: ScoredBatch, payload: bytes | None = None) -> None:
    """Insert the batch's rows and register each as undecided for label maturing (inside the
    caller's transaction).

    On PostgreSQL with COPY, the rows encoded in one pass (`copy_rows`, unless the writer
    thread's caller encoded them already), then their LabelPending rows selected by the
    batch's positions, log epoch included (the unique index). Elsewhere (SQLite) bulk_create
    of both. A duplicate position fails the transaction either way.
    """
    if connection.vendor != "postgresql":
        rows = Prediction.objects.bulk_create(prediction_objects(batch), batch_size=500)
        LabelPending.objects.bulk_create(
            [LabelPending(prediction_id=r.pk, product_id=r.product_id, event_ts=r.event_ts)
             for r in rows], batch_size=500)
        return
    columns = ", ".join(f'"{c}"' for c in COPY_COLUMNS)
    offsets = batch.ticks.offsets
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
                f"COPY {Prediction._meta.db_table} ({columns}) FROM STDIN") as copy:
            copy.write(payload if payload is not None else copy_rows(batch))
        cursor.execute(
            f"INSERT INTO {LabelPending._meta.db_table} (prediction_id, product_id, event_ts) "
            f"SELECT id, product_id, event_ts FROM {Prediction._meta.db_table} "
            f'WHERE topic = %s AND "partition" = %s AND log_epoch = %s '
            f'AND "offset" BETWEEN %s AND %s ON CONFLICT DO NOTHING',
            [batch.topic, batch.partition, batch.log_epoch, min(offsets), max(offsets)])


def prediction_objects(batch: ScoredBatch) -> list[Prediction]:
    """The batch's rows as model instances (for bulk_create)."""
    t = batch.ticks
    served, shadow = batch.score.tolist(), batch.shadow_score.tolist()
    return [
        Prediction(
            product_id=t.product_ids[i], event_ts=datetime.fromtimestamp(t.ts[i], tz=UTC),
            features=dict(zip(batch.names, t.values[i])), variant=batch.variant,
            score=served[i], label=served[i] >= batch.threshold, threshold=batch.threshold,
            shadow_variant=batch.shadow_variant, shadow_score=shadow[i],
            model_version_id=batch.model_version_id, topic=batch.topic,
            partition=batch.partition, log_epoch=batch.log_epoch, offset=t.offsets[i],
            tick_index=t.tick_index[i],
            mid=t.mids[i], shadow_threshold=batch.shadow_threshold,
            feature_set=FEATURE_SET_VERSION,
        )
        for i in range(len(t))
    ]
