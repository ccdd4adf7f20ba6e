"""`manage.py backtest`: the candidate re-scored on the stored feature rows of matured
predictions, beside the champion as served and the baseline; figures equal
`core.evaluation.scores` on the same rows, an identical candidate differs by exactly 0, rows of
another feature set are never mixed in, and a missing feature is refused by name."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from predictions.core.evaluation import scores
from predictions.models import Backtest, ModelVersion
from predictions.services import model_version_create
from predictions.serving import load_version
from tests.helpers import served_history

pytestmark = pytest.mark.django_db
ROWS = 3000


@pytest.fixture
def history(model_version, feature_frame_sim):
    """3000 matured rows over 50 minutes, two products, labels drawn from the ML score."""
    X = feature_frame_sim.X[-ROWS:]
    p = load_version(model_version.pk).ml.score(X)
    y = np.random.default_rng(0).random(ROWS) < p
    start = timezone.now() - timedelta(hours=2)
    served_history(model_version, X, feature_frame_sim.names, y, start=start,
                   products=("BTC-USD", "ETH-USD"))
    return X, y


def backtest(tmp_path, version, *args: str) -> dict:
    out = tmp_path / "backtest.json"
    call_command("backtest", "--model-version", version.name, "--since", "1d",
                 "--json-out", str(out), *args, stdout=open(tmp_path / "out.txt", "w"))
    return json.loads(out.read_text())


def test_a_candidate_identical_to_the_champion_differs_by_exactly_zero(
        tmp_path, model_version, history):
    report = backtest(tmp_path, model_version)
    assert report["rows"] == ROWS
    for name in ("pr_auc", "brier"):
        interval = report["overall"]["intervals"][name]
        assert interval["diff"] == 0.0
        assert interval["low"] <= 0.0 <= interval["high"]
    assert Backtest.objects.get().status == Backtest.OK


def test_its_figures_equal_evaluation_scores_on_the_same_rows(
        tmp_path, model_version, history, trained):
    X, y = history
    other = model_version_create(result=trained, name="candidate", data_source="t",
                                 algorithm="t")
    ModelVersion.objects.filter(pk=other.pk).update(threshold=0.2)
    other.refresh_from_db()
    report = backtest(tmp_path, other)
    loaded = load_version(model_version.pk)
    expected = {"candidate": scores(y, load_version(other.pk).ml.score(X), 0.2),
                "champion": scores(y, loaded.ml.score(X), model_version.threshold),
                "baseline": scores(y, loaded.baseline.score(X), loaded.baseline.threshold)}
    for variant, direct in expected.items():
        figures = report["overall"]["figures"][variant]
        for key in ("n", "prevalence", "pr_auc", "brier", "precision", "recall"):
            assert figures[key] == pytest.approx(direct[key], rel=1e-12, abs=1e-12), (variant, key)
    assert set(report["products"]) == {"BTC-USD", "ETH-USD"}
    assert sum(s["figures"]["champion"]["n"] for s in report["products"].values()) == ROWS
    assert sum(s["figures"]["champion"]["n"] for s in report["days"].values()) == ROWS


def test_rows_of_another_feature_set_are_never_mixed_in(
        tmp_path, model_version, history, feature_frame_sim):
    X = feature_frame_sim.X[:500]
    served_history(model_version, X, feature_frame_sim.names, np.ones(500, bool),
                   feature_set="f0", topic="older", start=timezone.now() - timedelta(hours=3))
    report = backtest(tmp_path, model_version)
    assert report["rows"] == ROWS


def test_a_product_filter_backtests_that_product_alone(tmp_path, model_version, history):
    report = backtest(tmp_path, model_version, "--product", "ETH-USD")
    assert report["rows"] == ROWS // 2
    assert list(report["products"]) == ["ETH-USD"]


def test_a_candidate_needing_a_feature_the_rows_lack_is_refused_by_name(
        tmp_path, model_version, history, trained):
    other = model_version_create(result=trained, name="wider", data_source="t", algorithm="t")
    names = list(other.feature_names)
    names[-1] = "log_vol_900s"
    ModelVersion.objects.filter(pk=other.pk).update(feature_names=names)
    with pytest.raises(CommandError, match="needs feature log_vol_900s"):
        backtest(tmp_path, other)
    assert Backtest.objects.get().error.startswith("wider needs feature log_vol_900s")


def test_a_window_without_rows_is_refused(tmp_path, model_version, history):
    with pytest.raises(CommandError, match="no matured rows"):
        backtest(tmp_path, model_version, "--until", "2020-01-01T00:00:00")


def test_rows_that_matured_after_the_count_are_taken_in_too(model_version, feature_frame_sim):
    from predictions.services.backtest import Columns

    X = feature_frame_sim.X[:5]
    columns = Columns(2)  # counted 2, then 5 arrive
    ones = np.ones(5)
    columns.add(load_version(model_version.pk).ml, ts=np.arange(5.0), product=ones,
                served_base=np.zeros(5, bool), score=ones / 2, threshold=ones / 2,
                shadow=ones / 3, shadow_t=ones / 2, label=np.ones(5, bool), X=X)
    assert columns.n == 5 and columns.rows(0.5, 3600).y.tolist() == [True] * 5
