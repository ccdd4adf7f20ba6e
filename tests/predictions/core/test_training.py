from __future__ import annotations

import numpy as np
import pytest

from predictions.core.features import batch_features
from predictions.core.labels import forward_realized_vol
from predictions.core.simulator import simulate_history
from predictions.core.training import NotEnoughData, best_f1_threshold, time_split, train


def test_the_split_is_by_time_with_a_purge_gap():
    ts = np.arange(0.0, 1000.0, 1.0)
    split = time_split(ts, test_fraction=0.3, purge_s=60.0)
    assert ts[split.train].max() <= split.cut_ts - 60.0
    assert ts[split.test].min() > split.cut_ts
    assert ts[split.test].min() - ts[split.train].max() >= 60.0


def test_forward_vol_is_unobserved_at_the_end_of_the_stream():
    ticks = simulate_history(["BTC-USD"], seed=2, start_ts=0.0, duration_s=600)
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    fwd = forward_realized_vol(frame, 60.0)
    assert np.isnan(fwd[frame.ts > frame.ts.max() - 60.0]).all()
    assert not np.isnan(fwd[frame.ts < frame.ts.max() - 61.0]).any()


def test_the_f1_threshold_separates_a_clean_ranking():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert best_f1_threshold(y, p) == 0.8


def test_training_reports_both_variants_with_prevalence(trained):
    m = trained.metrics
    assert 0.0 < m["prevalence"] < 1.0
    for variant in ("ml", "baseline"):
        for key in ("pr_auc", "roc_auc", "brier", "precision", "recall"):
            assert m[variant][key] is not None
        # both rank spikes well above chance (PR-AUC of a random ranking is the prevalence)
        assert m[variant]["pr_auc"] > m["prevalence"] * 1.5
    assert trained.train_span[1] < trained.test_span[0] - 60.0


def test_the_baseline_is_a_monotone_map_of_recent_volatility(trained):
    y = np.asarray(trained.baseline_params["y"])
    assert trained.baseline_params["feature"] == "rv_60s"
    assert np.all(np.diff(y) >= 0) and y.max() > y.min()


def test_too_little_data_says_how_much_is_needed():
    ticks = simulate_history(["BTC-USD"], seed=2, start_ts=0.0, duration_s=120)
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    with pytest.raises(NotEnoughData, match="needs at least"):
        train(frame, horizon_s=60.0, percentile=90.0, test_fraction=0.3)


def test_calibration_folds_partition_train_and_purge_around_each_block():
    from predictions.core.training import purged_time_folds

    ts = np.arange(0.0, 4000.0, 1.0)
    folds = purged_time_folds(ts, 4, purge_s=60.0)
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests.tolist()) == list(range(len(ts)))  # a partition: every row once
    for train_idx, test_idx in folds:
        lo, hi = ts[test_idx].min(), ts[test_idx].max()
        near = (ts[train_idx] >= lo - 60.0) & (ts[train_idx] <= hi + 60.0)
        assert not near.any()


def test_model_selection_only_validates_on_later_blocks():
    from predictions.core.training import purged_time_folds, walk_forward_folds

    ts = np.arange(0.0, 4000.0, 1.0)
    for train_idx, val_idx in walk_forward_folds(purged_time_folds(ts, 4, purge_s=60.0)):
        assert ts[train_idx].max() < ts[val_idx].min() - 60.0


def test_the_kept_model_is_calibrated_out_of_fold_and_reported_by_regime(trained):
    m = trained.metrics
    assert m["algorithm"] in {"logistic", "hist_gradient_boosting"}
    assert set(m["validation_pr_auc"]) == {"logistic", "hist_gradient_boosting"}
    assert trained.model.__class__.__name__ == "CalibratedClassifierCV"
    for variant in ("ml", "baseline"):
        regimes = m["calibration"][variant]
        assert set(regimes) <= {"calm", "normal", "volatile"} and regimes
        assert sum(r["rows"] for r in regimes.values()) == m["n_rows"]


def test_the_compiled_model_scores_exactly_like_scikit_learn(trained):
    from predictions.core.features import batch_features
    from predictions.core.scorers import ml_scorer

    ticks = simulate_history(["BTC-USD", "SOL-USD"], seed=21, start_ts=2e9, duration_s=1800)
    X = batch_features(ticks, [30, 60, 300], 30.0).X
    scorer = ml_scorer(trained.model, trained.ml_threshold, np.asarray(trained.reference_sample))
    assert scorer.compiled is not None
    for rows in (X[:1], X[:17], X[: scorer.compiled_max_rows]):
        np.testing.assert_allclose(scorer.compiled.predict_proba1(rows),
                                   trained.model.predict_proba(rows)[:, 1], rtol=0, atol=1e-9)


def test_a_model_that_cannot_be_compiled_is_served_by_scikit_learn(trained):
    from sklearn.linear_model import LogisticRegression

    from predictions.core.scorers import ml_scorer

    X = np.asarray(trained.reference_sample)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    plain = LogisticRegression(max_iter=500).fit(X, y)
    scorer = ml_scorer(plain, 0.5, X[:10])
    assert scorer.compiled is None
    np.testing.assert_allclose(scorer.score(X[:5]), plain.predict_proba(X[:5])[:, 1])


def test_model_selection_skips_an_early_block_without_spikes():
    from predictions.core.training import purged_time_folds, select_candidate

    rng = np.random.default_rng(0)
    ts = np.arange(0.0, 4000.0, 1.0)
    X = rng.normal(size=(len(ts), 3))
    y = ((X[:, 0] > 1.0) & (ts > 1200)).astype(int)  # the first block is calm: no spikes
    name, scores = select_candidate(X, y, purged_time_folds(ts, 4, 60.0), 0, lambda _: None)
    assert name in scores and all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores[name] > y.mean()  # the feature that makes spikes is found


def test_a_test_period_without_spikes_is_refused_before_anything_is_registered():
    from predictions.core.ticks import Tick

    rng = np.random.default_rng(4)
    ticks, price = [], 100.0
    for i in range(6000):
        ts = float(i)
        if i < 4000:  # a lively first part, then a dead-flat market
            price *= float(np.exp(rng.normal(0, 0.001 if (i // 300) % 2 else 0.0002)))
        ticks.append(Tick("BTC-USD", ts, price, price - 0.01, price + 0.01, 1.0, 1.0, 1.0, i))
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    with pytest.raises(NotEnoughData, match="test period .* has no spike"):
        train(frame, horizon_s=60.0, percentile=90.0, test_fraction=0.3)
