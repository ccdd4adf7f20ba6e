"""Poison messages go to the dead-letter topic (KAFKA_TOPIC_DLQ) with why and where from.

A dead letter is confirmed by the broker before the batch's offset can move past it, so a
message is never skipped without reaching the topic: a failed send fails the batch, and the
next run reads the message and sends it again.
"""

from __future__ import annotations

import logging

from django.conf import settings

from monitoring import metrics
from predictions.messaging.publisher import Publisher
from predictions.stream.batches import RunStats

log = logging.getLogger(__name__)


class DeadLetters:
    """The dead-letter publisher of one run, created at its first dead letter."""

    def __init__(self) -> None:
        self.publisher: Publisher | None = None

    def send(self, record, reason: str, stats: RunStats) -> None:
        """Publish the record as it came, with headers saying why and where it was read."""
        if self.publisher is None:
            self.publisher = Publisher(settings.KAFKA_TOPIC_DLQ)
        headers = [
            ("error", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        self.publisher.send(record.key, record.value, headers)
        self.publisher.flush(timeout=10)
        stats.dead_lettered += 1
        metrics.CONSUMER_MESSAGES.labels(outcome="dead_lettered").inc()
        metrics.CONSUMER_ERRORS.labels(kind="poison_message").inc()
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                    reason)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
