"""The drift calibration: per-feature distances of training-history windows to the reference,
and the span a report's window is judged by."""

from __future__ import annotations

import numpy as np

from predictions.core.drift_calibration import (
    calibrated_thresholds,
    drift_calibration,
    normed_wasserstein,
)

CALIBRATION = {"method": "wasserstein", "quantile": 0.95,
               "spans": {"300": {"a": 0.5}, "900": {"a": 0.3}, "3600": {"a": 0.2}}}


def test_the_distance_is_evidentlys_normed_wasserstein():
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    assert normed_wasserstein(ref, ref + 1.0) == 1.0 / np.std(ref)


def test_a_window_is_judged_by_the_shortest_calibrated_span_that_covers_it():
    assert calibrated_thresholds(CALIBRATION, method="wasserstein", span_s=100) == {"a": 0.5}
    assert calibrated_thresholds(CALIBRATION, method="wasserstein", span_s=900) == {"a": 0.3}
    assert calibrated_thresholds(CALIBRATION, method="wasserstein", span_s=901) == {"a": 0.2}
    assert calibrated_thresholds(CALIBRATION, method="wasserstein", span_s=9e9) == {"a": 0.2}


def test_another_method_or_no_calibration_gives_no_thresholds():
    assert calibrated_thresholds(CALIBRATION, method="ks", span_s=900) == {}
    assert calibrated_thresholds(None, method="wasserstein", span_s=900) == {}


def test_a_slowly_wandering_feature_gets_a_wider_threshold_than_white_noise():
    rng = np.random.default_rng(0)
    ts = np.arange(0.0, 5 * 3600, 0.5)
    noise = rng.standard_normal(len(ts))
    wander = np.sin(ts / 600.0) + 0.1 * noise  # a regime that lasts minutes
    X = np.column_stack([noise, wander])
    reference = X[rng.choice(len(ts), 2000, replace=False)]
    spans = drift_calibration(X, ts, reference, ["noise", "wander"])["spans"]
    assert set(spans) == {"300", "900", "3600"}  # 5 h of rows hold no four 4 h windows
    assert spans["900"]["noise"] < 0.1 < spans["900"]["wander"]
    assert spans["3600"]["wander"] < spans["300"]["wander"]
