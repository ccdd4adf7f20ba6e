"""The backtest's arithmetic: figures equal `core.evaluation.scores` on the same rows, a
candidate identical to the champion differs by exactly 0, and the paired block-bootstrap
interval covers a difference known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.core.backtest import (
    BlockCounts,
    Interval,
    Rows,
    average_precision_many,
    compare,
    paired_bootstrap,
)
from predictions.core.evaluation import scores
from predictions.core.score_buckets import average_precision


def history(blocks: int, per_block: int, seed: int, *, candidate_noise: float = 0.3):
    """Rows in hour blocks whose spike rate varies by block (clustered volatility): the
    champion ranks with some noise, the candidate with other noise."""
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(blocks) * 3600, per_block)
    rate = np.repeat(rng.uniform(0.03, 0.2, blocks), per_block)
    y = rng.random(len(block)) < rate
    signal = y * 1.0 + rate * 3
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.5, len(y)) - 1.5)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(0, candidate_noise, len(y)) - 1.5)))
    return y, block, champion, candidate


def test_its_figures_equal_evaluation_scores_on_the_same_rows():
    y, block, champion, candidate = history(30, 200, seed=1)
    thresholds = np.where(np.arange(len(y)) % 2, 0.4, 0.55)  # two versions served
    report = compare(Rows(y, block, {"candidate": (candidate, 0.5),
                                     "champion": (champion, thresholds)}),
                     candidate="candidate", champion="champion", resamples=50, seed=0)
    for name, (p, t) in (("candidate", (candidate, 0.5)), ("champion", (champion, thresholds))):
        direct = scores(y, p, t)
        for key in ("n", "prevalence", "pr_auc", "brier", "precision", "recall", "threshold"):
            assert report["figures"][name][key] == direct[key], (name, key)
    assert report["blocks"] == 30
    diff = report["intervals"]["pr_auc"]["diff"]
    assert diff == direct_diff(y, candidate, champion)


def direct_diff(y, a, b) -> float:
    return scores(y, a, 0.5)["pr_auc"] - scores(y, b, 0.5)["pr_auc"]


def test_an_identical_candidate_differs_by_exactly_zero_and_its_interval_holds_zero():
    y, block, champion, _ = history(24, 150, seed=2)
    report = compare(Rows(y, block, {"candidate": (champion.copy(), 0.5),
                                     "champion": (champion, 0.5)}),
                     candidate="candidate", champion="champion", resamples=200, seed=3)
    for name in ("pr_auc", "brier"):
        interval = report["intervals"][name]
        assert interval["diff"] == 0.0
        assert interval["low"] <= 0.0 <= interval["high"]
        assert Interval(**interval).spans_zero


def test_the_bucketed_average_precision_of_many_resamples_matches_the_live_one():
    rng = np.random.default_rng(4)
    neg, pos = rng.integers(0, 5, (3, 1000)), rng.integers(0, 2, (3, 1000))
    many = average_precision_many(neg, pos)
    assert many == pytest.approx([average_precision(n, p) for n, p in zip(neg, pos)], abs=1e-12)
    assert np.isnan(average_precision_many(neg[:1], np.zeros((1, 1000), int)))[0]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    y, block, champion, candidate = history(20, 100, seed=5)
    _, index = np.unique(block, return_inverse=True)
    counts = [BlockCounts.of(y, p, index, 20) for p in (candidate, champion)]
    first = paired_bootstrap(*counts, resamples=100, seed=7)
    assert first == paired_bootstrap(*counts, resamples=100, seed=7)
    assert first != paired_bootstrap(*counts, resamples=100, seed=8)


def test_a_better_candidate_on_much_history_has_an_interval_wholly_above_zero():
    y, block, champion, candidate = history(96, 400, seed=6, candidate_noise=0.1)
    report = compare(Rows(y, block, {"candidate": (candidate, 0.5), "champion": (champion, 0.5)}),
                     candidate="candidate", champion="champion", resamples=300, seed=0)
    assert report["intervals"]["pr_auc"]["low"] > 0
    assert report["intervals"]["brier"]["high"] < 0


def test_the_interval_covers_the_true_difference_in_most_simulated_histories():
    """The truth: both variants' figures on a history 60 times as long as each trial's. A 95 %
    interval should cover it in about 57 of 60 trials; fewer than 51 (85 %) would be a broken
    interval (too narrow, or off centre)."""
    y, _, champion, candidate = history(2400, 200, seed=100)
    true_pr_auc = direct_diff(y, candidate, champion)
    true_brier = float(np.mean((candidate - y) ** 2) - np.mean((champion - y) ** 2))
    covered = {"pr_auc": 0, "brier": 0}
    trials = 60
    for trial in range(trials):
        y, block, champion, candidate = history(40, 200, seed=trial)
        report = compare(Rows(y, block, {"c": (candidate, 0.5), "k": (champion, 0.5)}),
                         candidate="c", champion="k", resamples=200, seed=trial,
                         buckets=2000)
        for name, truth in (("pr_auc", true_pr_auc), ("brier", true_brier)):
            interval = report["intervals"][name]
            covered[name] += interval["low"] <= truth <= interval["high"]
    assert covered["pr_auc"] >= 51, covered
    assert covered["brier"] >= 51, covered
