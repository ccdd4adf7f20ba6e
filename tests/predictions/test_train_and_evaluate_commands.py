from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from predictions.models import ModelVersion, ServiceConfig

pytestmark = pytest.mark.django_db

METRIC_KEYS = {"pr_auc", "roc_auc", "brier", "precision", "recall"}


def test_train_registers_a_version_and_writes_its_metrics(tmp_path):
    out = tmp_path / "train.json"
    call_command("train", hours=3, seed=3, test_fraction=0.4, activate=True,
                 json_out=str(out), verbosity=0)
    version = ModelVersion.objects.get()
    assert ServiceConfig.load().active_model_version == version
    report = json.loads(out.read_text())
    assert report["model_version"] == version.name
    assert report["n_rows"] > 0 and 0 < report["prevalence"] < 1
    for variant in ("ml", "baseline"):
        assert METRIC_KEYS <= set(report[variant])
    assert "Model card" in version.model_card and "prevalence" in version.model_card
    # held-out numbers from a walk-forward inside the data; the registered model is refit on all
    assert version.train_start < version.test_start <= version.test_end <= version.train_end
    assert report["refit"]["rows"] > report["n_rows"]


def test_train_activate_serves_ml_only_if_it_beat_the_baseline_held_out(tmp_path):
    from io import StringIO

    from predictions.core.guardrail import ml_beats_baseline

    out = StringIO()
    call_command("train", hours=3, seed=5, activate=True, stdout=out, verbosity=0)
    version = ModelVersion.objects.get()
    config = ServiceConfig.load()
    serve_ml, why = ml_beats_baseline(version.metrics)
    assert config.active_model_version == version
    assert config.active_variant == ("ml" if serve_ml else "baseline")
    assert why in out.getvalue() and ("serving ML" if serve_ml else "serving the baseline") \
        in out.getvalue()


def test_the_guardrail_says_why_in_one_line():
    from predictions.core.guardrail import ml_beats_baseline

    def metrics(ml_pr, base_pr, ml_brier, base_brier):
        return {"n_rows": 1000, "prevalence": 0.2,
                "ml": {"pr_auc": ml_pr, "brier": ml_brier},
                "baseline": {"pr_auc": base_pr, "brier": base_brier}}

    assert ml_beats_baseline(metrics(0.8, 0.7, 0.10, 0.12))[0]
    ok, why = ml_beats_baseline(metrics(0.8, 0.7, 0.13, 0.12))
    assert not ok and "Brier" in why and "PR-AUC ml 0.8000" in why and "\n" not in why
    ok, why = ml_beats_baseline(metrics(0.6, 0.7, 0.10, 0.12))
    assert not ok and "on PR-AUC:" in why
    ok, why = ml_beats_baseline(metrics(None, 0.7, 0.10, 0.12))
    assert not ok and "missing" in why


def test_evaluate_scores_the_active_version_beside_the_baseline(tmp_path, model_version):
    out = tmp_path / "eval.json"
    call_command("evaluate", hours=1.5, seed=99, json_out=str(out), verbosity=0)
    report = json.loads(out.read_text())
    assert report["model_version"] == model_version.name
    assert report["label_threshold"] == model_version.label_threshold
    assert report["n_rows"] > 0 and 0 <= report["prevalence"] <= 1
    for variant in ("ml", "baseline"):
        assert METRIC_KEYS <= set(report[variant])


def test_train_says_how_much_data_it_needs():
    with pytest.raises(CommandError, match="not enough data to train: .*needs at least"):
        call_command("train", hours=0.05, verbosity=0)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("test_fraction", 1.5, "--test-fraction"),
    ("percentile", 100.0, "--percentile"),
    ("horizon", 0.0, "--horizon"),
])
def test_train_rejects_bad_options(option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("train", verbosity=0, **{option: value})


def test_evaluate_needs_a_promoted_version(db):
    with pytest.raises(CommandError, match="no model version is promoted"):
        call_command("evaluate", verbosity=0)
