"""Feature windows per partition: kept across runs in this process, rebuilt by replay when not.

A product's ticks all go to one partition (key = product id), so one engine per partition
holds every product it needs. The state outlives a run in the same process; `position` says
which offset it has seen up to, so a run reuses it only when it continues from there.
Otherwise — a new process, a failed batch, another worker took the partition meanwhile — the
run replays the partition from a tick older than the longest window up to the stored offset
through a fresh engine, writing nothing: ticks that old are out of every window already, so the
rebuilt windows hold the same ticks as an uninterrupted run's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Max, Min
from kafka.structs import TopicPartition

from predictions.core.features import FeatureEngine
from predictions.core.ticks import BadTick, parse_message
from predictions.models import Prediction
from predictions.stream.watchdog import progress

log = logging.getLogger(__name__)

# Margin below the longest window when choosing where to replay from (rounding of stored times).
_WARMUP_MARGIN_S = 1.0


@dataclass
class PartitionState:
    engine: FeatureEngine
    position: int | None  # next offset this engine has not seen
    epoch: int = 0  # the log epoch `position` belongs to


_states: dict[tuple[str, int], PartitionState] = {}


def new_engine() -> FeatureEngine:
    return FeatureEngine(settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)


def reset_feature_engine() -> None:
    """Forget every partition's windows (the next run rebuilds them from the stream)."""
    _states.clear()


def partition_state(tp: TopicPartition) -> PartitionState:
    return _states[(tp.topic, tp.partition)]


def forget(partitions: Iterable[TopicPartition]) -> None:
    """Drop the partitions' windows: they may have seen ticks whose rows were not committed."""
    for tp in partitions:
        _states.pop((tp.topic, tp.partition), None)


def replay_range(tp: TopicPartition, stored: int | None,
                 epoch: int = 0) -> tuple[int, int] | None:
    """Make sure the partition has windows for continuing from `stored`: reuse this process's
    if they have seen exactly up to it, else start fresh ones; the [start, stored) range to
    replay into fresh ones, or None when there is nothing to replay."""
    state = _states.get((tp.topic, tp.partition))
    if stored is not None and state is not None and state.position == stored \
            and state.epoch == epoch:
        return None
    _states[(tp.topic, tp.partition)] = PartitionState(new_engine(), stored, epoch)
    start = warmup_start(topic=tp.topic, partition=tp.partition, epoch=epoch) if stored \
        else None
    return (start, stored) if start is not None and start < stored else None


def warmup_start(*, topic: str, partition: int, epoch: int = 0) -> int | None:
    """Offset to replay from so that every product of the partition has full windows again.

    For each product seen on the partition: the newest stored row at least the longest window
    (plus a margin) older than the product's newest row — its tick and everything before it are
    already out of every window, so replaying from it rebuilds the windows exactly; without
    such a row, the product's oldest row. The partition replays from the smallest of these.
    """
    rows = Prediction.objects.filter(topic=topic, partition=partition, log_epoch=epoch)
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


def replay(consumer, ranges: dict[TopicPartition, tuple[int, int]],
           keep_lease: Callable[[], None]) -> int:
    """Feed [start, stored) of each partition through its fresh engine; write nothing.

    `keep_lease` runs before every poll: a long replay must not let the lease lapse, and stops
    at once (LeaseLost) if another holder took it. Returns the messages fed.
    """
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    pending = dict(ranges)
    fed = idle = 0
    while pending and idle < 10:
        keep_lease()
        batches = consumer.poll(timeout_ms=500, max_records=5000)
        progress()
        idle = 0 if batches else idle + 1
        for tp, records in batches.items():
            if tp not in pending:
                continue  # another partition fetched meanwhile: it is re-seeked afterwards
            fed += _feed(partition_state(tp).engine, records, stop=pending[tp][1])
            if records[-1].offset + 1 >= pending[tp][1]:
                del pending[tp]
    if pending:
        log.warning("feature warm-up stopped short for %s (the log ends early)",
                    sorted(tp.partition for tp in pending))
    log.info("rebuilt feature windows of %d partitions from %d messages", len(ranges), fed)
    return fed


def _feed(engine: FeatureEngine, records: list, *, stop: int) -> int:
    """Update the engine with the records before offset `stop` (bad ones are skipped: the
    original pass dead-lettered them); the messages fed."""
    fed = 0
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
    return fed
