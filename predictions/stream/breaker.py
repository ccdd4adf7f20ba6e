"""The poison breaker: an offset whose batch failed N times is isolated, then skipped.

Parsing dead-letters what it can name (`BadTick`, any exception of one record), but a record
can still fail its batch later — in scoring, encoding or the database's own checks — and the
next run would read it again, fail again and never get past it. The breaker counts, per
(topic, partition, first offset), the runs that failed with a *data* error there:
- below STREAM_BREAKER_FAILURES: the batch is retried as usual (the fault may be passing);
- at it: the polled records are written one per transaction, so a failure names its record,
  and a record whose own computation fails is dead-lettered at once;
- above it: the record at that offset is dead-lettered and skipped (it failed alone too).

Outages are not counted: a database, broker or lease error says nothing about a record, and
skipping good ticks while PostgreSQL restarts would lose them. The counts live in this process
(the Celery chain and `manage.py consume` run their runs in one process); a process that dies
on a record (a segfault) starts counting afresh.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DataError, IntegrityError
from kafka.structs import TopicPartition

# Failures that come from the data of a record, not from a service being away.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, ArithmeticError, TypeError, KeyError, IndexError, DataError, IntegrityError)

_failures: dict[tuple[str, int, int], int] = {}


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DATA_ERRORS)


def record_failure(tp: TopicPartition, offset: int | None, exc: BaseException) -> None:
    """Count a failed batch that started at `offset` when the failure is a data error."""
    if offset is None or not is_data_error(exc):
        return
    key = (tp.topic, tp.partition, offset)
    if len(_failures) > 10_000:  # never grow without bound
        _failures.clear()
    _failures[key] = _failures.get(key, 0) + 1


def failures(tp: TopicPartition, offset: int) -> int:
    return _failures.get((tp.topic, tp.partition, offset), 0)


def isolate(tp: TopicPartition, offset: int) -> bool:
    """Write the batch starting here one record per transaction."""
    return failures(tp, offset) >= settings.STREAM_BREAKER_FAILURES


def skip(tp: TopicPartition, offset: int) -> bool:
    """Dead-letter and skip the record here: it failed even on its own."""
    return failures(tp, offset) > settings.STREAM_BREAKER_FAILURES


def reset() -> None:
    _failures.clear()
