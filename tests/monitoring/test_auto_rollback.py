"""Auto-rollback: off by default; each trigger fires on data built to cross it and stays quiet
just below; a rollback goes through the one service function with source `auto-rollback` and
the numbers in its reason, is counted on /metrics, and never switches back to ML."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from monitoring.rollback import auto_rollback_run, drift_trigger, fast_burn_trigger
from predictions.models import ConfigAuditEntry, ServiceConfig
from tests.helpers import availability_minutes, drift_reports, sample, scrape

pytestmark = pytest.mark.django_db


def policy(**fields) -> ServiceConfig:
    """Turn the policy on with these thresholds (tests set the row directly: the admin path
    is tested elsewhere), every other trigger off."""
    values = {"auto_rollback_enabled": True, "auto_rollback_drift_reports": 0,
              "auto_rollback_min_rows": 0, "auto_rollback_on_fast_burn": False, **fields}
    ServiceConfig.objects.filter(pk=1).update(**values)
    return ServiceConfig.load()


def test_the_policy_is_off_by_default_and_scheduled_from_beat(model_version):
    drift_reports([0.9, 0.9, 0.9])
    availability_minutes(minutes=60, requests=100, server_errors=100)
    assert ServiceConfig.load().auto_rollback_enabled is False
    assert auto_rollback_run() == "auto-rollback is off"
    assert ServiceConfig.load().active_variant == "ml"
    task = PeriodicTask.objects.get(name="auto-rollback")
    assert task.task == "monitoring.tasks.auto_rollback_check" and task.enabled


@pytest.mark.parametrize("shares, fires", [([0.5, 0.6, 0.7], True), ([0.7, 0.6, 0.49], False),
                                           ([0.9, 0.9], False), ([0.9, 0.1, 0.9, 0.9], False)])
def test_drift_fires_after_n_consecutive_reports_at_or_above_the_share(
        model_version, shares, fires):
    config = policy(auto_rollback_drift_reports=3, drift_share_threshold=0.5)
    drift_reports(shares[:-3] if len(shares) > 3 else [])
    drift_reports(shares[-3:])
    assert drift_trigger(config).fired is fires


def test_the_fast_burn_fires_at_14_4_times_the_budget_and_not_just_below(model_version):
    from django.utils import timezone

    config = policy(auto_rollback_on_fast_burn=True, slo_availability_target=0.995)
    availability_minutes(minutes=60, requests=1000, server_errors=71)  # burn 14.2
    assert not fast_burn_trigger(config, timezone.now()).fired
    from monitoring.models import SloMinute

    SloMinute.objects.all().delete()
    availability_minutes(minutes=60, requests=1000, server_errors=73)  # burn 14.6
    assert fast_burn_trigger(config, timezone.now()).fired


def test_a_rollback_is_audited_counted_and_never_undone_by_itself(client, model_version):
    policy(auto_rollback_drift_reports=3, drift_share_threshold=0.5)
    drift_reports([0.8, 0.8, 0.8])
    said = auto_rollback_run()
    assert said.startswith("auto-rollback: drift: drift share of the last 3 reports")
    config = ServiceConfig.load()
    assert config.active_variant == "baseline"
    entry = ConfigAuditEntry.objects.first()
    assert (entry.source, entry.actor_name) == ("auto-rollback", "auto-rollback")
    assert "0.80, 0.80, 0.80" in entry.reason and entry.changes["active_variant"] == [
        "ml", "baseline"]
    families = scrape(client)
    assert sample(families, "volatility_auto_rollbacks") == 1.0
    assert sample(families, "volatility_auto_rollback_enabled") == 1.0
    assert auto_rollback_run() == "the baseline already serves"
    assert ServiceConfig.load().active_variant == "baseline"


def test_after_an_operator_returns_to_ml_old_drift_reports_do_not_fire_again(model_version):
    from predictions.services import service_config_update

    policy(auto_rollback_drift_reports=3, drift_share_threshold=0.5)
    drift_reports([0.8, 0.8, 0.8])
    auto_rollback_run()
    service_config_update(actor_name="ops", reason="drift understood", active_variant="ml")
    assert auto_rollback_run() == "no trigger holds"
    assert ServiceConfig.load().active_variant == "ml"


def test_the_slo_page_shows_the_latest_auto_rollback(client, staff_user, model_version):
    client.force_login(staff_user)
    assert "It has never rolled back on its own" in client.get("/slo/").content.decode()
    policy(auto_rollback_drift_reports=3, drift_share_threshold=0.5)
    drift_reports([0.8, 0.8, 0.8])
    auto_rollback_run()
    page = client.get("/slo/").content.decode()
    assert 'id="auto-rollback"' in page and "auto-rollback: drift" in page


def test_an_operator_turns_the_policy_on_and_sets_thresholds_in_the_admin(
        client, staff_user, model_version):
    from tests.helpers import CHANGE_URL, form_data

    client.force_login(staff_user)
    data = form_data(ServiceConfig.load(), auto_rollback_enabled="on",
                     auto_rollback_drift_reports=2, auto_rollback_pr_auc_margin=0.1,
                     auto_rollback_min_rows=1000, reason="turn the policy on")
    assert client.post(CHANGE_URL, data).status_code == 302
    config = ServiceConfig.load()
    assert config.auto_rollback_enabled and config.auto_rollback_drift_reports == 2
    assert (config.auto_rollback_pr_auc_margin, config.auto_rollback_min_rows) == (0.1, 1000)
    entry = ConfigAuditEntry.objects.first()
    assert entry.changes["auto_rollback_enabled"] == [False, True] and entry.source == "admin"
