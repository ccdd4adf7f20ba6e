"""Safe promotion: its own permission (action and service), the guardrail refusing ML unless a
superuser forces it with a written reason, rollback to the previous version, and refusals
shown as messages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig
from predictions.services import (
    PromotionForbidden,
    PromotionRefused,
    model_version_activate,
    model_version_create,
    service_config_update,
)

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/predictions/modelversion/"


@pytest.fixture
def plain_staff(django_user_model):
    """Staff who may use the admin and change the configuration, but not promote."""
    user = django_user_model.objects.create_user("plain", "p@example.com", "pw-plain-12345",
                                                 is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_serviceconfig"))
    return user


@pytest.fixture
def promoter(django_user_model):
    user = django_user_model.objects.create_user("promoter", "pr@example.com", "pw-pr-12345",
                                                 is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_serviceconfig"),
                              Permission.objects.get(codename="promote_modelversion"))
    return user


def weaker_version(trained, name: str = "weaker") -> ModelVersion:
    version = model_version_create(result=trained, name=name, data_source="tests",
                                   algorithm="test")
    lost = {**trained.metrics, "ml": {**trained.metrics["ml"], "pr_auc": 0.01}}
    ModelVersion.objects.filter(pk=version.pk).update(metrics=lost)
    version.refresh_from_db()
    return version


def promote(client, version, **extra):
    return client.post(CHANGELIST, {"action": "promote", "_selected_action": [version.pk],
                                    **extra}, follow=True)


def test_a_staff_user_without_the_permission_does_not_see_the_promote_action(
        client, plain_staff, model_version):
    client.force_login(plain_staff)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b'value="promote"' not in page.content


def test_a_crafted_post_of_the_promote_action_without_the_permission_changes_nothing(
        client, plain_staff, model_version, trained):
    other = model_version_create(result=trained, name="other", data_source="t", algorithm="t")
    client.force_login(plain_staff)
    response = promote(client, other)
    assert response.status_code == 200
    assert ServiceConfig.objects.get().active_model_version == model_version


def test_the_service_refuses_a_user_without_the_permission(plain_staff, model_version, trained):
    other = model_version_create(result=trained, name="other", data_source="t", algorithm="t")
    with pytest.raises(PromotionForbidden):
        model_version_activate(version=other, actor=plain_staff, reason="sneak")
    with pytest.raises(PromotionForbidden):
        service_config_update(actor=plain_staff, reason="sneak", active_model_version=other)
    assert ServiceConfig.objects.get().active_model_version == model_version


def test_a_user_with_the_permission_promotes_through_the_action(
        client, promoter, model_version, trained):
    other = model_version_create(result=trained, name="other", data_source="t", algorithm="t")
    client.force_login(promoter)
    response = promote(client, other, reason="better on last week")
    assert b"serves ML" in response.content
    entry = ConfigAuditEntry.objects.first()
    assert entry.source == "promote" and "better on last week" in entry.reason
    assert (entry.active_model_version, entry.active_variant) == (other, "ml")


def test_ml_that_loses_held_out_is_refused_and_the_baseline_serves(
        client, promoter, model_version, trained):
    weaker = weaker_version(trained)
    client.force_login(promoter)
    response = promote(client, weaker, force_ml="on", reason="I insist")
    assert b"Refused: Only a superuser may force ML" in response.content
    assert ServiceConfig.objects.get().active_model_version == model_version
    response = promote(client, weaker)
    assert b"the baseline variant serves" in response.content and b"ML refused" in response.content
    assert ServiceConfig.objects.get().active_variant == "baseline"


def test_flipping_to_ml_with_a_version_that_lost_held_out_is_refused_as_a_message(
        client, staff_user, model_version, trained):
    weaker = weaker_version(trained)
    model_version_activate(version=weaker, actor_name="tests", reason="setup")
    with pytest.raises(PromotionRefused, match="superuser may force"):
        service_config_update(actor_name="x", reason="back to ml", active_variant="ml")
    from tests.helpers import CHANGE_URL, form_data

    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="ml"))
    assert response.status_code == 200 and b"superuser may force" in response.content
    assert ServiceConfig.objects.get().active_variant == "baseline"


def test_a_superuser_forces_ml_only_with_a_written_reason_which_is_audited(
        client, staff_user, model_version, trained):
    weaker = weaker_version(trained)
    client.force_login(staff_user)
    response = promote(client, weaker, force_ml="on", reason="")
    assert b"Refused:" in response.content and b"superuser may force" in response.content
    assert ServiceConfig.objects.get().active_model_version == model_version
    response = promote(client, weaker, force_ml="on", reason="live data differs, watching it")
    assert b"serves ML, forced" in response.content
    config = ServiceConfig.objects.get()
    assert (config.active_model_version, config.active_variant) == (weaker, "ml")
    entry = ConfigAuditEntry.objects.first()
    assert "ML FORCED by ops: live data differs, watching it" in entry.reason


def test_rolling_back_to_the_previous_version_promotes_it_again(
        client, promoter, model_version, trained):
    other = model_version_create(result=trained, name="newer", data_source="t", algorithm="t")
    model_version_activate(version=other, actor_name="tests", reason="newer")
    client.force_login(promoter)
    response = client.post(CHANGELIST, {"action": "rollback_previous",
                                        "_selected_action": [other.pk],
                                        "reason": "newer misbehaves"}, follow=True)
    assert response.status_code == 200
    assert ServiceConfig.objects.get().active_model_version == model_version
    entry = ConfigAuditEntry.objects.first()
    assert entry.source == "rollback" and "newer misbehaves" in entry.reason


def test_rolling_back_with_no_earlier_version_is_a_message_not_an_error(
        client, promoter, model_version):
    client.force_login(promoter)
    response = client.post(CHANGELIST, {"action": "rollback_previous",
                                        "_selected_action": [model_version.pk]}, follow=True)
    assert response.status_code == 200
    assert b"Refused: No earlier model version" in response.content
