from __future__ import annotations

import pytest

from predictions.config import current_config
from predictions.models import ConfigAuditEntry, ServiceConfig
from predictions.services import ConfigError, service_config_update

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
