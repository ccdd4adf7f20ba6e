from __future__ import annotations

import pytest

from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig
from predictions.services import model_version_create
from tests.helpers import CHANGE_URL, form_data

pytestmark = pytest.mark.django_db


def test_an_operator_rolls_back_to_baseline_in_the_admin(client, staff_user, model_version):
    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="baseline"))
    assert response.status_code == 302
    assert ServiceConfig.objects.get().active_variant == "baseline"
    entry = ConfigAuditEntry.objects.first()
    assert entry.actor == staff_user and entry.changes["active_variant"] == ["ml", "baseline"]
    assert entry.reason == "rollback drill"


def test_the_admin_requires_a_reason(client, staff_user, model_version):
    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="baseline", reason=""))
    assert response.status_code == 200  # the form again, with its error
    assert b"This field is required" in response.content
    assert ServiceConfig.objects.get().active_variant == "ml"


def test_the_admin_refuses_ml_with_a_tampered_artifact(client, staff_user, model_version):
    ServiceConfig.objects.filter(pk=1).update(active_variant="baseline")
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="ml"))
    assert response.status_code == 200
    assert b"sha256 mismatch" in response.content
    assert ServiceConfig.objects.get().active_variant == "baseline"


def test_the_admin_lists_model_versions_with_their_metrics(client, staff_user, model_version):
    client.force_login(staff_user)
    response = client.get("/admin/predictions/modelversion/")
    assert response.status_code == 200
    assert model_version.name.encode() in response.content
    page = client.get(f"/admin/predictions/modelversion/{model_version.pk}/change/")
    assert page.status_code == 200


def test_anonymous_users_cannot_reach_the_admin(client, db):
    response = client.get(CHANGE_URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_admin_refuses_a_version_with_other_features_even_for_the_baseline(
        client, staff_user, model_version):
    ModelVersion.objects.filter(pk=model_version.pk).update(feature_names=["rv_60s"])
    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="baseline"))
    assert response.status_code == 200
    assert b"features differ" in response.content
    assert ServiceConfig.objects.get().active_variant == "ml"


def test_the_promote_action_refuses_a_version_whose_artifact_is_refused(
        client, staff_user, model_version, trained):
    other = model_version_create(result=trained, name="tampered", data_source="tests",
                                 algorithm="test")
    ModelVersion.objects.filter(pk=other.pk).update(sha256="0" * 64)
    client.force_login(staff_user)
    response = client.post("/admin/predictions/modelversion/",
                           {"action": "promote", "_selected_action": [other.pk]}, follow=True)
    assert b"Refused: tampered cannot serve" in response.content
    assert b"sha256 mismatch" in response.content
    assert ServiceConfig.objects.get().active_model_version == model_version


def test_the_promote_action_promotes_a_sound_version(client, staff_user, model_version, trained):
    other = model_version_create(result=trained, name="sound", data_source="tests",
                                 algorithm="test")
    client.force_login(staff_user)
    response = client.post("/admin/predictions/modelversion/",
                           {"action": "promote", "_selected_action": [other.pk]}, follow=True)
    assert b"Sound is now promoted and serves ML. ML beats the baseline" in response.content
    config = ServiceConfig.objects.get()
    assert (config.active_model_version, config.active_variant) == (other, "ml")


def test_the_promote_action_serves_the_baseline_when_ml_lost_held_out(
        client, staff_user, model_version, trained):
    lost = {**trained.metrics, "ml": {**trained.metrics["ml"], "pr_auc": 0.01}}
    other = model_version_create(result=trained, name="weaker", data_source="tests",
                                 algorithm="test")
    ModelVersion.objects.filter(pk=other.pk).update(metrics=lost)
    client.force_login(staff_user)
    response = client.post("/admin/predictions/modelversion/",
                           {"action": "promote", "_selected_action": [other.pk]}, follow=True)
    assert b"Weaker is now promoted, but the baseline variant serves" in response.content
    assert b"ML does not beat the baseline on PR-AUC" in response.content
    config = ServiceConfig.objects.get()
    assert (config.active_model_version, config.active_variant) == (other, "baseline")
    audit = ConfigAuditEntry.objects.order_by("-id").first()
    assert "guardrail: ML does not beat the baseline" in audit.reason
