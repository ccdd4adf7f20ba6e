"""Stream positions: forget the stored Kafka offsets of topics a broker re-created."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import transaction


@transaction.atomic
def stream_positions_forget(*, topics: list[str], reason: str) -> int:
    """A broker's topics were recreated from offset 0 (the embedded, memory-only broker after a
    restart). Drop the stored offsets of `topics`, and mark the Kafka positions of existing
    predictions as belonging to the previous incarnation (topic renamed "<topic>@<time>"),
    so new rows at the same offsets are not mistaken for duplicates. Returns rows marked."""
    from predictions.models import Prediction, StreamOffset

    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = 0
    for topic in topics:
        StreamOffset.objects.filter(topic=topic).delete()
        moved += Prediction.objects.filter(topic=topic).update(topic=f"{topic}@{stamp}")
    if moved:
        logging.getLogger(__name__).warning("%s: %d predictions of %s marked as from a "
                                            "previous broker", reason, moved, topics)
    return moved
