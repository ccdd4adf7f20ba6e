from __future__ import annotations

import numpy as np
import pytest

from predictions.core.features import batch_features
from predictions.core.labels import forward_realized_vol
from predictions.core.simulator import simulate_history
from predictions.core.training import NotEnoughData, best_f1_threshold, train


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


def test_held_out_numbers_come_from_the_walk_forward_and_the_refit_is_apart(trained):
    m = trained.metrics
    assert 0.0 < m["prevalence"] < 1.0
    assert m["split"]["folds"] == len(m["folds"]) >= 1
    assert m["n_rows"] == sum(f["test_rows"] for f in m["folds"])
    for variant in ("ml", "baseline"):
        for key in ("pr_auc", "roc_auc", "brier", "precision", "recall"):
            assert m[variant][key] is not None
        # both rank spikes well above chance (PR-AUC of a random ranking is the prevalence)
        assert m[variant]["pr_auc"] > m["prevalence"] * 1.5
    for fold in m["folds"]:  # every fold's model was fitted on rows a purge gap earlier
        assert fold["train_rows"] >= 500 and fold["test_rows"] >= 200
    assert "refit" in m["metrics_source"]["refit_in_sample"]
    assert m["refit"]["rows"] > m["n_rows"]  # the registered model saw every labelled row
    assert trained.train_span[0] < trained.test_span[0] <= trained.test_span[1] \
        <= trained.train_span[1]


def test_the_refit_fits_its_label_threshold_on_all_rows(trained, feature_frame_sim):
    fwd = forward_realized_vol(feature_frame_sim, 60.0)
    assert trained.label_threshold == pytest.approx(np.nanpercentile(fwd, 90.0))
    assert trained.metrics["refit"]["prevalence"] == pytest.approx(0.1, abs=0.01)


def test_the_baseline_ranks_exactly_as_raw_rv_60s(trained):
    from predictions.core.scorers import BaselineScorer

    names = trained.feature_names
    col = names.index("rv_60s")
    X = np.zeros((200, len(names)))
    X[:, col] = np.geomspace(1e-6, 1e-1, 200)
    p = BaselineScorer.from_params(trained.baseline_params, names).score(X)
    assert np.all(np.diff(p) > 0) or np.all(np.diff(p[(p > 1e-4) & (p < 1 - 1e-4)]) > 0)
    for fold in trained.metrics["folds"]:  # one map per fold: the same ranking as rv_60s
        assert fold["baseline"]["pr_auc"] == pytest.approx(fold["rv_60s"]["pr_auc"], abs=1e-9)


def test_probabilities_are_never_exactly_0_or_1(trained):
    from predictions.core.scorers import BaselineScorer, ml_scorer

    names = trained.feature_names
    sample = np.asarray(trained.reference_sample)
    extreme = np.vstack([np.zeros((1, len(names))), np.full((1, len(names)), 1e6),
                         sample * 1e-9, sample * 1e9])
    ml = ml_scorer(trained.model, trained.ml_threshold, sample[:50])
    for scorer in (ml, BaselineScorer.from_params(trained.baseline_params, names)):
        p = scorer.score(extreme)
        assert np.all((p > 0.0) & (p < 1.0))


def test_too_little_data_says_how_much_is_needed():
    ticks = simulate_history(["BTC-USD"], seed=2, start_ts=0.0, duration_s=120)
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    with pytest.raises(NotEnoughData, match="needs at least"):
        train(frame, horizon_s=60.0, percentile=90.0, test_fraction=0.3)


def test_candidates_are_compared_walking_forward_and_reported_by_regime(trained):
    from predictions.core.volmodels import CANDIDATES

    m = trained.metrics
    assert m["algorithm"] in CANDIDATES
    assert set(m["validation_pr_auc"]) == set(CANDIDATES) == set(m["validation_brier"])
    for variant in ("ml", "baseline"):
        regimes = m["calibration"][variant]
        assert set(regimes) <= {"calm", "normal", "volatile"} and regimes
        assert sum(r["rows"] for r in regimes.values()) == m["n_rows"]


def test_the_card_carries_the_data_for_the_pictures(trained):
    m = trained.metrics
    for variant in ("ml", "baseline"):
        curve = m["pr_curves"][variant]
        assert 2 <= len(curve["recall"]) == len(curve["precision"]) <= 60
        bins = m["reliability"][variant]
        assert 1 <= len(bins) <= 10 and sum(b["n"] for b in bins) == m["n_rows"]
        assert all(0 < b["p_mean"] < 1 and 0 <= b["freq"] <= 1 for b in bins)
    assert set(m["reliability_by_regime"]) <= {"calm", "normal", "volatile"}


def test_the_compiled_model_scores_exactly_like_scikit_learn(trained):
    from predictions.core.scorers import ml_scorer

    ticks = simulate_history(["BTC-USD", "SOL-USD"], seed=21, start_ts=2e9, duration_s=1800)
    X = batch_features(ticks, [30, 60, 300], 30.0).X
    scorer = ml_scorer(trained.model, trained.ml_threshold, np.asarray(trained.reference_sample))
    assert scorer.compiled is not None
    for rows in (X[:1], X[:17], X[:500]):
        np.testing.assert_allclose(scorer.compiled.predict_proba1(rows),
                                   trained.model.predict_proba(rows)[:, 1], rtol=0, atol=1e-9)


def test_a_model_that_cannot_be_compiled_is_served_by_scikit_learn(trained):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from predictions.core.scorers import ml_scorer

    X = np.asarray(trained.reference_sample)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    scorer = ml_scorer(plain, 0.5, X[:10])
    assert scorer.compiled is None
    np.testing.assert_allclose(scorer.score(X[:5]),
                               np.clip(plain.predict_proba(X[:5])[:, 1], 1e-4, 1 - 1e-4))


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


def test_the_registered_model_is_the_same_procedure_refit_on_every_row(trained,
                                                                        feature_frame_sim):
    from predictions.core.training import fit_variants, labelled_rows

    data = labelled_rows(feature_frame_sim, 60.0, 30.0)
    again = fit_variants(data, np.arange(len(data.ts)), 90.0, trained.algorithm, 0)
    np.testing.assert_allclose(again.model.coef_, trained.model.coef_)
    assert again.ml_threshold == trained.ml_threshold
    assert again.baseline_params == trained.baseline_params
    assert trained.metrics["refit"]["rows"] == len(data.ts)


def test_the_model_quality_bench_skips_without_the_real_data(tmp_path, capsys, monkeypatch):
    import bench.model_quality as bench

    monkeypatch.setattr(bench, "DATA", tmp_path / "absent.ndjson.gz")
    bench.main()
    assert "skipped" in capsys.readouterr().out
