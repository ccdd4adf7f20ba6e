from __future__ import annotations

import pytest

from predictions.config import current_config
from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig
from predictions.services import (
    ConfigError,
    PromotionRefused,
    model_version_activate,
    model_version_create,
    service_config_update,
)

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_one_config_row():
    assert ServiceConfig.objects.count() == 1
    assert ServiceConfig.objects.get().pk == 1


def test_a_change_is_audited_and_bumps_the_version(staff_user):
    before = ServiceConfig.objects.get().version
    service_config_update(actor=staff_user, reason="drill", active_variant="baseline")
    config = ServiceConfig.objects.get()
    assert config.active_variant == "baseline" and config.version == before + 1
    entry = ConfigAuditEntry.objects.get()
    assert entry.actor == staff_user and entry.actor_name == "ops"
    assert entry.changes == {"active_variant": ["ml", "baseline"]}
    assert entry.reason == "drill" and entry.config_version == config.version
    assert "active_variant: ml → baseline" in str(entry)


def test_a_change_without_a_reason_is_refused():
    with pytest.raises(ConfigError, match="reason"):
        service_config_update(actor_name="x", reason=" ", active_variant="baseline")
    assert ConfigAuditEntry.objects.count() == 0


def test_an_unknown_variant_is_refused():
    with pytest.raises(ConfigError, match="active_variant"):
        service_config_update(actor_name="x", reason="r", active_variant="gpt")


def test_a_change_that_changes_nothing_writes_nothing():
    version = ServiceConfig.objects.get().version
    service_config_update(actor_name="x", reason="r", active_variant="ml")
    assert ServiceConfig.objects.get().version == version
    assert ConfigAuditEntry.objects.count() == 0


def test_processes_see_a_change_after_the_refresh_interval(settings):
    settings.CONFIG_REFRESH_SECONDS = 3600
    assert current_config().active_variant == "ml"
    service_config_update(actor_name="x", reason="r", active_variant="baseline")
    assert current_config().active_variant == "ml"  # cached within the interval
    settings.CONFIG_REFRESH_SECONDS = 0
    assert current_config().active_variant == "baseline"


def test_promoting_a_version_with_a_refused_artifact_is_refused(model_version, trained):
    ServiceConfig.objects.filter(pk=1).update(active_variant="baseline")
    other = model_version_create(result=trained, name="tampered", data_source="tests",
                                 algorithm="test")
    ModelVersion.objects.filter(pk=other.pk).update(sha256="0" * 64)
    other.refresh_from_db()
    audited = ConfigAuditEntry.objects.count()
    with pytest.raises(PromotionRefused, match="tampered cannot serve: .*sha256 mismatch"):
        model_version_activate(version=other, actor_name="x", reason="r")
    assert ServiceConfig.objects.get().active_model_version == model_version
    assert ConfigAuditEntry.objects.count() == audited


def test_promoting_a_version_with_other_features_is_refused(model_version, trained):
    other = model_version_create(result=trained, name="narrow", data_source="tests",
                                 algorithm="test")
    ModelVersion.objects.filter(pk=other.pk).update(feature_names=["rv_60s"])
    other.refresh_from_db()
    with pytest.raises(PromotionRefused, match="features differ"):
        model_version_activate(version=other, actor_name="x", reason="r")
    assert ServiceConfig.objects.get().active_model_version == model_version


def test_a_flip_to_ml_with_a_refused_artifact_is_refused(model_version):
    service_config_update(actor_name="x", reason="r", active_variant="baseline")
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    with pytest.raises(ConfigError, match="Cannot serve ml with .*sha256 mismatch"):
        service_config_update(actor_name="x", reason="r", active_variant="ml")
    assert ServiceConfig.objects.get().active_variant == "baseline"


def test_a_rollback_to_the_baseline_works_with_a_refused_artifact(model_version):
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    service_config_update(actor_name="x", reason="rollback", active_variant="baseline")
    assert ServiceConfig.objects.get().active_variant == "baseline"
