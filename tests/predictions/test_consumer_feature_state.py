"""Feature windows survive a run boundary and a restart: the consumer rebuilds them by
replaying the stream from before the stored offset, so the features equal an uninterrupted
run's (up to float rounding of the windows' running sums)."""

from __future__ import annotations

import math

import pytest
from django.core.management import call_command

from predictions.marketdata import format_timestamp
from predictions.models import Prediction, StreamOffset
from predictions.stream import consume_run, reset_feature_engine

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 2400  # ≈ 350 s of event time over 3 products: longer than the 300 s window


def ingest(topic: str, n: int = N) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=n, seed=33,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(1_700_000_000.0),
                 topic=topic, verbosity=0)


def consume_all(topic: str, n: int = N) -> None:
    """Consume until every offset is stored (a run ends as soon as it has read the rest)."""
    while (done := sum(StreamOffset.objects.filter(topic=topic)
                       .values_list("next_offset", flat=True))) < n:
        consume_run(topic=topic, max_seconds=20, max_messages=n - done)


def features_by_position(topic: str) -> dict[tuple[int, int, int], dict[str, float]]:
    rows = Prediction.objects.filter(topic=topic).values_list("partition", "offset",
                                                              "tick_index", "features")
    return {(p, o, i): f for p, o, i, f in rows}


def assert_same_features(clean: dict, resumed: dict) -> None:
    assert clean.keys() == resumed.keys()
    differ = [
        (pos, name, clean[pos][name], resumed[pos][name])
        for pos in clean for name in clean[pos]
        if not math.isclose(clean[pos][name], resumed[pos][name], rel_tol=1e-9, abs_tol=1e-12)
    ]
    assert not differ, f"{len(differ)} feature values differ, e.g. {differ[:3]}"


def test_features_after_run_boundaries_and_a_restart_equal_an_uninterrupted_runs(
        kafka, model_version):
    clean_topic, resumed_topic = kafka.KAFKA_TOPIC_TICKS, f"{kafka.KAFKA_TOPIC_TICKS}.resumed"
    for topic in (clean_topic, resumed_topic):
        ingest(topic)
    consume_all(clean_topic)

    first = consume_run(topic=resumed_topic, max_messages=900, max_seconds=20)
    second = consume_run(topic=resumed_topic, max_messages=700, max_seconds=20)  # same process
    reset_feature_engine()  # a restart: the new process holds no windows
    consume_all(resumed_topic)

    assert first.warmed_up == 0 and second.warmed_up == 0  # windows carried over in-process
    assert_same_features(features_by_position(clean_topic), features_by_position(resumed_topic))
