"""The model version's admin page draws its PR curve and reliability diagram when its card
has curve data, and says so when it has none."""

from __future__ import annotations

import pytest

from predictions.admin_charts import NO_DATA, curve_data
from predictions.models import ModelVersion

pytestmark = pytest.mark.django_db
CHART = 'viewBox="0 0 640 400"'  # our charts; the admin's own icons are SVGs too

CURVES = {
    "prevalence": 0.1,
    "pr_curves": {"ml": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.5, 0.1]},
                  "baseline": {"recall": [0.0, 1.0], "precision": [0.4, 0.1]}},
    "reliability": {"ml": [{"p_mean": 0.05, "freq": 0.04, "n": 500},
                           {"p_mean": 0.6, "freq": 0.55, "n": 20}]},
}


def change_page(client, staff_user, version) -> str:
    client.force_login(staff_user)
    response = client.get(f"/admin/predictions/modelversion/{version.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_version_with_curve_data_shows_both_charts(client, staff_user, model_version):
    ModelVersion.objects.filter(pk=model_version.pk).update(
        metrics={**model_version.metrics, **CURVES})
    page = change_page(client, staff_user, model_version)
    assert page.count(CHART) == 2
    assert "PR curve on test" in page and "Reliability on test" in page
    assert "prevalence 0.100" in page
    assert NO_DATA not in page


def test_a_version_without_curve_data_says_so(client, staff_user, model_version):
    metrics = {k: v for k, v in model_version.metrics.items()
               if k not in ("pr_curves", "reliability")}
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics=metrics)
    page = change_page(client, staff_user, model_version)
    assert NO_DATA in page
    assert CHART not in page


def test_a_hostile_model_name_in_the_curves_is_escaped(client, staff_user, model_version):
    hostile = {"<script>alert(1)</script>": CURVES["pr_curves"]["ml"]}
    ModelVersion.objects.filter(pk=model_version.pk).update(
        metrics={**model_version.metrics, **CURVES, "pr_curves": hostile})
    page = change_page(client, staff_user, model_version)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_curve_data_is_read_from_a_json_card_too():
    version = ModelVersion(name="v", metrics={}, model_card='{"prevalence": 0.2, '
                           '"pr_curves": {"ml": {"recall": [1], "precision": [0.2]}}}')
    data = curve_data(version)
    assert data["prevalence"] == 0.2 and data["reliability"] is None
    assert curve_data(ModelVersion(name="v", metrics={"pr_curves": "junk"}, model_card="# md")) \
        is None
