"""Which scorer answers a predict request: the configured variant, a variant staff name, and
the baseline standing in (saying why) when the ML artifact is refused."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.models import ModelVersion, ServiceConfig
from predictions.serving import (
    VariantForbidden,
    active_scorers,
    rows_score,
    served_version,
    variant_choose,
)

pytestmark = pytest.mark.django_db


def tamper(version: ModelVersion) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)


def test_without_a_named_variant_the_configured_one_serves(model_version):
    scorer, fallback = variant_choose(serving=active_scorers(), variant=None, is_staff=False)
    assert scorer.variant == "ml" and fallback is None


def test_a_configured_baseline_serves_the_baseline(model_version):
    ServiceConfig.objects.filter(pk=1).update(active_variant="baseline")
    scorer, fallback = variant_choose(serving=active_scorers(), variant=None, is_staff=False)
    assert scorer.variant == "baseline" and fallback is None


def test_only_staff_may_name_the_variant(model_version):
    with pytest.raises(VariantForbidden, match="only staff"):
        variant_choose(serving=active_scorers(), variant="baseline", is_staff=False)


def test_staff_may_name_the_baseline_while_ml_is_configured(model_version):
    scorer, fallback = variant_choose(serving=active_scorers(), variant="baseline",
                                      is_staff=True)
    assert scorer.variant == "baseline" and fallback is None


def test_a_refused_artifact_falls_back_to_the_baseline_and_says_why(model_version):
    tamper(model_version)
    scorer, fallback = variant_choose(serving=active_scorers(), variant=None, is_staff=False)
    assert scorer.variant == "baseline"
    assert fallback.startswith("ml artifact refused: sha256 mismatch")


def test_ml_named_by_staff_falls_back_too_when_its_artifact_is_refused(model_version):
    tamper(model_version)
    scorer, fallback = variant_choose(serving=active_scorers(), variant="ml", is_staff=True)
    assert scorer.variant == "baseline" and "sha256 mismatch" in fallback


def test_scored_rows_carry_labels_at_the_scorers_threshold(model_version, feature_names):
    X = np.full((3, len(feature_names)), 0.002)
    scored = rows_score(serving=active_scorers(), X=X, variant=None, is_staff=False)
    assert scored.variant == "ml" and scored.version_name == model_version.name
    assert scored.labels.tolist() == (scored.scores >= scored.threshold).tolist()
    assert scored.fallback_reason is None


def test_the_served_version_names_the_baseline_when_the_artifact_is_refused(model_version):
    tamper(model_version)
    served = served_version()
    assert served.variant == "baseline" and served.model_version == model_version
    assert served.threshold == active_scorers().version.baseline.threshold
