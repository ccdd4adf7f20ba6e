"""Stored offsets outside the broker's log are detected when a run claims and seeks, and reset
by a policy — never waited on.

A broker that lost its log (a memory-storage broker restarted, a topic deleted and created
again, an unclean leader election) starts the partition again at 0, below the offset the
database holds; retention can delete what a stopped consumer had not read, leaving the stored
offset before the log's start. Waiting for the new log to reach the stored offset would skip
everything before it without a word. Steps, per partition of the run:
1. read the log's start and end (`beginning_offsets`, `end_offsets`); a stored offset past the
   reported end is confirmed by one fetch's high watermark first (Tansu's `end_offsets()` may
   report less than the real end with batched producers);
2. a stored offset before the start (`behind_log_start`) or past the end (`ahead_of_log_end`)
   moves to the start of the log there now (STREAM_OFFSET_RESET=earliest, the default) or to
   its end (`latest`), in a new log epoch: the broker hands out old offsets again, and a
   prediction's exactly-once position is (topic, partition, log_epoch, offset);
3. each reset is a StreamOffsetReset row (admin), a structured log line and
   `volatility_consumer_offset_resets_total{topic,partition,reason}`.
During a run, a high watermark below the position read means the log was lost meanwhile: the
run ends (`LogLost`) and the next one resets at its claim.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from kafka.structs import TopicPartition

from monitoring import metrics
from predictions.models import Fenced, StreamOffset, StreamOffsetReset
from predictions.stream.watchdog import progress

log = logging.getLogger(__name__)

CONFIRM_SECONDS = 3.0  # longest wait for a fetch's high watermark when confirming a log end


class LogLost(RuntimeError):
    """The broker's log of a partition ends before the position this run reads from."""


@dataclass(frozen=True, slots=True)
class LogBounds:
    start: int
    end: int


def log_bounds(consumer, partitions: list[TopicPartition]) -> dict[TopicPartition, LogBounds]:
    """Step 1, as the broker reports them (ends may be low on Tansu: see `confirmed_end`)."""
    starts = consumer.beginning_offsets(partitions)
    ends = consumer.end_offsets(partitions)
    return {tp: LogBounds(starts[tp], max(ends[tp], starts[tp])) for tp in partitions}


def confirmed_ends(consumer, bounds: dict[TopicPartition, LogBounds],
                   suspects: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The real log end of each suspect partition from a fetch's high watermark (None when no
    fetch answered within CONFIRM_SECONDS: then nothing is reset this time)."""
    others = [tp for tp in bounds if tp not in suspects]
    consumer.pause(*others)
    try:
        for tp in suspects:
            consumer.seek(tp, max(bounds[tp].end - 1, bounds[tp].start))
        ends: dict[TopicPartition, int | None] = dict.fromkeys(suspects)
        deadline = time.monotonic() + CONFIRM_SECONDS
        while any(e is None for e in ends.values()) and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200, max_records=1)
            progress()
            for tp in suspects:
                high = consumer.highwater(tp)
                seen = polled.get(tp)
                if high is not None or seen:
                    ends[tp] = max(high or 0, seen[-1].offset + 1 if seen else 0,
                                   bounds[tp].end)
        return ends
    finally:
        consumer.resume(*others)


def positions_checked(consumer, partitions: list[TopicPartition], stored: dict[int, int],
                      epochs: dict[int, int], holder: str | None) -> dict[int, int]:
    """Steps 1–3 for the partitions with a stored offset: the stored offsets, reset where they
    were outside the log (`epochs` is updated in place). Fenced if another consumer moved one."""
    having = [tp for tp in partitions if tp.partition in stored]
    if not having:
        return stored
    bounds = log_bounds(consumer, having)
    suspects = [tp for tp in having if stored[tp.partition] > bounds[tp].end]
    ends = confirmed_ends(consumer, bounds, suspects) if suspects else {}
    checked = dict(stored)
    for tp in having:
        offset, b = stored[tp.partition], bounds[tp]
        if offset < b.start:
            reason = "behind_log_start"
        elif tp in ends and ends[tp] is not None and offset > ends[tp]:
            reason, b = "ahead_of_log_end", LogBounds(b.start, ends[tp])
        else:
            continue
        checked[tp.partition] = offset_reset(tp, stored=offset, bounds=b, reason=reason,
                                             epochs=epochs, holder=holder)
    return checked


def offset_reset(tp: TopicPartition, *, stored: int, bounds: LogBounds, reason: str,
                 epochs: dict[int, int], holder: str | None) -> int:
    """Step 2–3 for one partition: the new stored offset, in a new epoch, recorded."""
    to = bounds.start if settings.STREAM_OFFSET_RESET == "earliest" else bounds.end
    epoch = epochs.get(tp.partition, 0)
    if not StreamOffset.objects.reset(topic=tp.topic, partition=tp.partition, stored=stored,
                                      epoch=epoch, next_offset=to):
        raise Fenced(f"{tp.topic}[{tp.partition}] moved while its offset was being reset")
    epochs[tp.partition] = epoch + 1
    StreamOffsetReset.objects.create(
        topic=tp.topic, partition=tp.partition, reason=reason, stored_offset=stored,
        log_start=bounds.start, log_end=bounds.end, reset_to=to, epoch=epoch + 1,
        holder=holder or "")
    metrics.CONSUMER_OFFSET_RESETS.labels(topic=tp.topic, partition=str(tp.partition),
                                          reason=reason).inc()
    log.warning("offset reset: topic=%s partition=%d reason=%s stored_offset=%d log_start=%d "
                "log_end=%d reset_to=%d epoch=%d policy=%s", tp.topic, tp.partition, reason,
                stored, bounds.start, bounds.end, to, epoch + 1, settings.STREAM_OFFSET_RESET,
                extra={"topic": tp.topic, "partition": tp.partition, "reason": reason,
                       "stored_offset": stored, "log_start": bounds.start,
                       "log_end": bounds.end, "reset_to": to, "epoch": epoch + 1})
    return to


def check_still_in_log(consumer, partitions: list[TopicPartition],
                       expected: dict[int, int | None]) -> None:
    """During a run: LogLost when a partition's last fetch saw a log ending before the
    position this run has reached (the broker lost its log meanwhile)."""
    for tp in partitions:
        high, position = consumer.highwater(tp), expected.get(tp.partition)
        if high is not None and position is not None and high < position:
            metrics.CONSUMER_ERRORS.labels(kind="log_lost").inc()
            raise LogLost(f"{tp.topic}[{tp.partition}] log ends at {high}, before the stored "
                          f"{position}: the broker lost its log; the next run resets the offset "
                          "(docs/stream.md, offset policy)")
