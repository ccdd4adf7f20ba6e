"""Labels mature: once the horizon has passed, each prediction gets the realized label and
forward volatility that training would give the same ticks, and live precision, recall and
PR-AUC per variant are computed from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from predictions.core.features import batch_features
from predictions.core.labels import forward_realized_vol, live_forward_rv
from predictions.core.ticks import format_timestamp, parse_message
from predictions.models import LabelPending, Prediction, PredictionOutcome
from predictions.selectors import prediction_live_performance
from predictions.services import prediction_labels_mature
from tests.helpers import consume_all, read_topic

N = 900  # ≈ 200 s of event time over 2 products: most rows mature, the last minute does not


def test_a_gap_closes_a_segment_so_its_unobservable_labels_are_decided_and_the_open_tail_is_not():
    ts = np.array([0.0, 10, 20, 30, 200, 210, 220, 230, 240])  # a 170 s gap after t=30
    mid = np.exp(np.linspace(0, 0.01, len(ts)))
    fwd, decided = live_forward_rv(ts, mid, horizon_s=15.0, gap_s=30.0)
    assert decided.tolist() == [True, True, True, True, True, True, True, False, False]
    assert not math.isnan(fwd[0]) and math.isnan(fwd[2]) and math.isnan(fwd[3])  # cut by the gap
    assert math.isnan(fwd[7])  # t=230: its horizon (230, 245] is not over yet


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_matured_labels_equal_trainings_and_feed_live_performance_per_variant(kafka,
                                                                              model_version):
    topic = kafka.KAFKA_TOPIC_TICKS
    call_command("ingest", source="simulate", speed="max", max_messages=N, seed=12,
                 products="BTC-USD,ETH-USD", start=format_timestamp(1_700_000_000.0),
                 topic=topic, verbosity=0)
    consume_all(topic, N)

    decided = prediction_labels_mature()
    assert 0 < decided < N
    assert prediction_labels_mature() == 0  # nothing new to decide

    ticks = sorted((t for r in read_topic(topic, N) for t in parse_message(r.value)),
                   key=lambda t: t.ts)
    frame = batch_features(ticks, settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)
    expected = forward_realized_vol(frame, model_version.horizon_s)
    # Trades of a burst share a timestamp (as on the real feed): match them in stream order.
    by_key: dict[tuple[str, float], list[float]] = {}
    for p, t, v in zip(frame.product_id, frame.ts, expected):
        by_key.setdefault((p, round(t, 6)), []).append(v)
    for row in Prediction.objects.select_related("outcome").order_by(
            "event_ts", "partition", "offset", "tick_index"):
        want = by_key[(row.product_id, round(row.event_ts.timestamp(), 6))].pop(0)
        if math.isnan(want):  # the horizon runs past the stream's end: not mature yet
            assert not hasattr(row, "outcome")
            assert LabelPending.objects.filter(prediction=row).exists()
            continue
        outcome = row.outcome
        assert not LabelPending.objects.filter(prediction=row).exists()
        assert math.isclose(outcome.forward_rv, want, rel_tol=1e-9, abs_tol=1e-15)
        assert outcome.realized_label == (want >= model_version.label_threshold)

    live = prediction_live_performance()
    labeled = PredictionOutcome.objects.exclude(realized_label=None)
    assert live["ml"]["n"] == live["baseline"]["n"] == labeled.count() == decided
    assert live["ml"]["prevalence"] == pytest.approx(
        labeled.filter(realized_label=True).count() / decided)
    for variant in ("ml", "baseline"):
        for key in ("precision", "recall", "pr_auc"):
            value = live[variant][key]
            assert value is None or 0.0 <= value <= 1.0
