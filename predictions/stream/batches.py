"""What one poll becomes on its way to the database: a partition's records parsed into
scorable tick columns, scored by both variants, and the run's counters.

Columns rather than one object per tick, because scoring takes a matrix and the COPY encoder
writes column by column; both are far cheaper that way at thousands of ticks a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from kafka.structs import TopicPartition

from monitoring import metrics
from predictions.core.features import FeatureEngine
from predictions.core.ticks import BadTick, parse_message


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
    log_epoch: int = 0  # the partition's log epoch (predictions.stream.log_bounds)

    def __len__(self) -> int:
        return len(self.ticks)


# Sends a record that cannot be scored to the dead-letter topic, with the reason.
DeadLetter = Callable[[object, str, RunStats], None]


def tick_columns(records: list, engine: FeatureEngine, stats: RunStats,
                 dead_letter: DeadLetter) -> TickColumns:
    """Parse a partition's records and update its feature windows: the scorable ticks.

    A message that does not parse, a tick older than its product's last, or any exception
    while handling one record (a parser or feature bug meeting odd data) is dead-lettered with
    the reason, and the batch goes on; a message without ticks (a control message) is skipped.
    """
    ticks = TickColumns()
    offsets, indexes, products = ticks.offsets, ticks.tick_index, ticks.product_ids
    times, mids, values = ticks.ts, ticks.mids, ticks.values
    update = engine.update
    stats.messages += len(records)
    for record in records:
        try:
            parsed = parse_message(record.value)
        except BadTick as exc:
            dead_letter(record, str(exc), stats)
            continue
        except Exception as exc:  # a bug meeting odd data must not stop the partition
            dead_letter(record, f"cannot parse: {type(exc).__name__}: {exc}", stats)
            continue
        if not parsed:
            stats.skipped += 1
            metrics.CONSUMER_MESSAGES.labels(outcome="skipped").inc()
            continue
        for index, tick in enumerate(parsed):
            try:
                row = update(tick)
            except Exception as exc:
                dead_letter(record, f"cannot compute features: {type(exc).__name__}: {exc}",
                            stats)
                break
            if row is None:
                dead_letter(record, "out-of-order tick (older than the product's last)", stats)
                continue
            offsets.append(record.offset)
            indexes.append(index)
            products.append(tick.product_id)
            times.append(tick.ts)
            mids.append(row.mid)
            values.append(row.values)
    return ticks


def score_batch(tp: TopicPartition, ticks: TickColumns, serving,
                names: list[str]) -> ScoredBatch | None:
    """Both variants' scores of the ticks (the served one stands in for a missing shadow)."""
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
