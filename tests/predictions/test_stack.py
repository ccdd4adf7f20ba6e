from __future__ import annotations

import pytest
from django.utils import timezone

from predictions.management.stack import ingest_args
from predictions.models import Prediction, StreamOffset
from predictions.services import stream_positions_forget


def test_make_run_refuses_a_replay_without_files(settings):
    settings.TICK_SOURCE = "replay"
    settings.TICK_REPLAY_FILES = []
    with pytest.raises(RuntimeError, match="TICK_REPLAY_FILES"):
        ingest_args(settings, "1")
    settings.TICK_REPLAY_FILES = ["a.ndjson.gz", "b.csv"]
    assert ingest_args(settings, "10") == ["ingest", "--source", "replay", "--file",
                                           "a.ndjson.gz", "b.csv", "--speed", "10"]


@pytest.mark.django_db
def test_a_new_embedded_broker_starts_from_offset_zero_without_losing_rows(model_version):
    def row(offset: int) -> Prediction:
        return Prediction(product_id="BTC-USD", event_ts=timezone.now(), features={},
                          variant="ml", score=0.1, label=False, threshold=0.5,
                          shadow_variant="baseline", shadow_score=0.1,
                          model_version=model_version, topic="ticks.raw", partition=0,
                          offset=offset)

    Prediction.objects.bulk_create([row(0), row(1)])
    StreamOffset.objects.create(topic="ticks.raw", partition=0, next_offset=2)

    assert stream_positions_forget(topics=["ticks.raw"], reason="test") == 2

    assert not StreamOffset.objects.exists()
    assert Prediction.objects.filter(topic__startswith="ticks.raw@").count() == 2
    Prediction.objects.bulk_create([row(0)], ignore_conflicts=True)  # the new broker's offset 0
    assert Prediction.objects.filter(topic="ticks.raw").count() == 1
