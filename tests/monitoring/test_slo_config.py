"""The SLO objectives live in the shared configuration: edited in the admin through the
audited service, validated, and exported by /metrics as the targets the rules divide by."""

from __future__ import annotations

import pytest

from predictions.models import ConfigAuditEntry, ServiceConfig
from predictions.services import ConfigError, service_config_update
from tests.helpers import CHANGE_URL, form_data, sample, scrape

pytestmark = pytest.mark.django_db


def test_an_slo_objective_is_edited_in_the_admin_and_audited(client, staff_user, db):
    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(
        ServiceConfig.load(), slo_stream_latency_target=0.995, slo_stream_latency_seconds=2.5,
        reason="the stream is on a faster host now"))
    assert response.status_code == 302
    config = ServiceConfig.objects.get()
    assert (config.slo_stream_latency_target, config.slo_stream_latency_seconds) == (0.995, 2.5)
    entry = ConfigAuditEntry.objects.first()
    assert entry.actor == staff_user and entry.reason == "the stream is on a faster host now"
    assert entry.changes == {"slo_stream_latency_target": [0.99, 0.995],
                             "slo_stream_latency_seconds": [1.0, 2.5]}
    page = client.get(CHANGE_URL).content.decode()
    assert "SLO drift-report freshness target" in page


def test_metrics_export_every_objective_from_the_configuration(client, db):
    service_config_update(actor_name="tests", reason="stricter", slo_freshness_target=0.999,
                          slo_latency_threshold_ms=250)
    families = scrape(client)
    targets = {s.labels["slo"]: s.value for s in families["volatility_slo_target"]}
    assert targets == {"api_availability": 0.995, "api_latency": 0.99, "stream_latency": 0.99,
                       "prediction_freshness": 0.999, "drift_freshness": 0.99}
    assert sample(families, "volatility_slo_threshold_seconds", slo="api_latency") == 0.25
    assert sample(families, "volatility_slo_threshold_seconds", slo="drift_freshness") == 1800
    thresholds = {s.labels["slo"] for s in families["volatility_slo_threshold_seconds"]}
    assert "api_availability" not in thresholds  # a 5xx is bad at any speed


@pytest.mark.parametrize("change", [{"slo_freshness_target": 1.0},
                                    {"slo_drift_freshness_target": 0.0},
                                    {"slo_stream_latency_target": 1.5},
                                    {"slo_stream_latency_seconds": 0.0}])
def test_the_service_refuses_an_objective_without_an_error_budget(change, db):
    with pytest.raises(ConfigError):
        service_config_update(actor_name="tests", reason="typo", **change)
    assert ConfigAuditEntry.objects.filter(reason="typo").count() == 0
