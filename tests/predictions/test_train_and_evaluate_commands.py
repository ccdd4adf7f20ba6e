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
    assert version.train_end < version.test_start


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
