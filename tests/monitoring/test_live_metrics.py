"""Champion vs challenger on /metrics: live PR-AUC and Brier per variant and window, from the
rollups of the same matured rows, equal to the offline metric functions on those rows (PR-AUC
on scores rounded to 0.001), with the rows behind each figure and a mark when they are too
few."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from predictions.core.score_buckets import bucket_score
from predictions.selectors import LIVE_MIN_ROWS, prediction_live_performance
from tests.helpers import matured_rows, sample, scrape

pytestmark = pytest.mark.django_db


def built(model_version, n: int):
    rng = np.random.default_rng(7)
    y = rng.random(n) < 0.3
    ml = np.clip(y * 0.5 + rng.random(n) * 0.5, 0, 1)
    base = rng.random(n)
    matured_rows(model_version, ml, base, y)
    return y, ml, base


def test_live_figures_per_variant_are_exported_with_their_rows(client, model_version):
    y, ml, base = built(model_version, LIVE_MIN_ROWS + 50)
    families = scrape(client)
    for variant, p in (("ml", ml), ("baseline", base)):
        labels = {"variant": variant, "window": "1h"}
        assert sample(families, "volatility_live_pr_auc", **labels) == pytest.approx(
            average_precision_score(y, bucket_score(p)))
        assert sample(families, "volatility_live_brier", **labels) == pytest.approx(
            float(np.mean((p - y) ** 2)))
        assert sample(families, "volatility_live_rows", **labels) == len(y)
        assert sample(families, "volatility_live_enough_rows", **labels) == 1.0
    assert sample(families, "volatility_live_rows", variant="ml", window="24h") == len(y)


def test_a_figure_from_too_few_rows_is_marked(client, model_version):
    built(model_version, LIVE_MIN_ROWS - 1)
    live = prediction_live_performance()
    assert live["ml"]["enough"] is False and live["ml"]["n"] == LIVE_MIN_ROWS - 1
    families = scrape(client)
    assert sample(families, "volatility_live_enough_rows", variant="ml", window="1h") == 0.0
