"""Feature windows survive a run boundary and a restart: the consumer rebuilds them by
replaying the stream from before the stored offset, so the features equal an uninterrupted
run's (up to float rounding of the windows' running sums)."""

from __future__ import annotations

import pytest

from predictions.stream.consumer import consume_run
from predictions.stream.windows import reset_feature_engine
from tests.helpers import assert_same_features, consume_all, features_by_position, ingest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


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
