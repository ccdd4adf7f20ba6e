"""Live figures from additive counts: every figure equals what `core.evaluation.scores` gives
on the same rows (PR-AUC on the scores rounded to their bucket), and counts of parts add up
to the counts of the whole."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from predictions.core.evaluation import scores
from predictions.core.score_buckets import (
    SCORE_BUCKETS,
    Counts,
    average_precision,
    bucket_of,
    bucket_score,
    pack,
    unpack,
)


def rows(n: int, prevalence: float, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    p = np.clip(0.15 + 0.5 * y * rng.random(n) + 0.4 * rng.random(n) ** 2, 0.0, 1.0)
    p[rng.random(n) < 0.1] = 1e-4  # a clipped mass of identical scores, as served
    thresholds = rng.choice([0.3, 0.45, 0.6], n)  # rows scored under different versions
    return y, p, thresholds


@pytest.mark.parametrize("n, prevalence, seed", [(50, 0.3, 1), (5000, 0.07, 2),
                                                 (20_000, 0.27, 3), (300, 0.9, 4)])
def test_every_figure_equals_the_offline_metrics_on_the_same_rows(n, prevalence, seed):
    y, p, thresholds = rows(n, prevalence, seed)
    figures = Counts.of(y, p, thresholds).figures(min_rows=200)
    exact = scores(y, p, thresholds)
    assert figures["n"] == exact["n"] and figures["prevalence"] == pytest.approx(
        exact["prevalence"])
    for key in ("brier", "precision", "recall"):
        assert figures[key] == pytest.approx(exact[key], rel=1e-12), key
    assert figures["pr_auc"] == pytest.approx(
        average_precision_score(y, bucket_score(p)), rel=1e-12)
    assert figures["enough"] is (n >= 200)


def test_rounding_to_a_thousandth_barely_moves_pr_auc():
    y, p, thresholds = rows(20_000, 0.1, 5)
    bucketed = Counts.of(y, p, thresholds).figures(200)["pr_auc"]
    assert abs(bucketed - average_precision_score(y, p)) < 0.002


def test_counts_of_parts_add_up_to_the_counts_of_the_whole():
    y, p, thresholds = rows(3000, 0.2, 6)
    whole = Counts.of(y, p, thresholds)
    summed = Counts()
    for part in np.array_split(np.arange(3000), 7):
        summed += Counts.of(y[part], p[part], thresholds[part])
    assert np.array_equal(summed.neg, whole.neg) and np.array_equal(summed.pos, whole.pos)
    assert (summed.flagged, summed.flagged_positives) == (whole.flagged, whole.flagged_positives)
    assert summed.brier_sum == pytest.approx(whole.brier_sum)
    assert summed.figures(200) == pytest.approx(whole.figures(200))


def test_packed_buckets_keep_their_counts_and_sum_when_unpacked_together():
    y, p, thresholds = rows(1000, 0.3, 7)
    a, b = Counts.of(y[:400], p[:400], 0.5), Counts.of(y[400:], p[400:], 0.5)
    neg, pos = unpack([pack(a.neg, a.pos), pack(b.neg, b.pos)])
    whole = Counts.of(y, p, 0.5)
    assert np.array_equal(neg, whole.neg) and np.array_equal(pos, whole.pos)
    assert len(pack(a.neg, a.pos)) == 10 * int(np.count_nonzero(a.neg + a.pos))
    assert unpack([])[0].sum() == 0


def test_scores_at_the_edges_fall_in_the_first_and_last_bucket():
    assert bucket_of(np.array([0.0, 1e-4, 0.0015, 0.9999, 1.0])).tolist() == \
        [0, 0, 1, SCORE_BUCKETS - 1, SCORE_BUCKETS - 1]


def test_a_window_of_one_class_has_no_pr_auc_and_an_empty_one_no_figures():
    y = np.zeros(10, dtype=bool)
    assert Counts.of(y, np.linspace(0, 1, 10), 0.5).figures(1)["pr_auc"] is None
    assert average_precision(np.zeros(SCORE_BUCKETS), np.zeros(SCORE_BUCKETS)) is None
    empty = Counts().figures(200)
    assert empty["n"] == 0 and empty["pr_auc"] is None and empty["enough"] is False


def test_the_figures_say_why_a_figure_is_missing_or_unreliable():
    assert Counts().figures(200)["missing"] == "no matured labels yet"
    y, p, thresholds = rows(199, 0.2, 7)
    assert Counts.of(y, p, thresholds).figures(200)["missing"] == "too few rows (n < 200)"
    y, p, thresholds = rows(200, 0.2, 7)
    assert Counts.of(y, p, thresholds).figures(200)["missing"] is None
    calm = np.zeros(300, dtype=bool)
    assert Counts.of(calm, np.linspace(0, 1, 300), 0.5).figures(200)["missing"] == \
        "one class only: PR-AUC needs spikes and calm rows"
