from __future__ import annotations

import json

import pytest

from tests.helpers import sample, scrape

pytestmark = pytest.mark.django_db


def test_metrics_count_api_requests_errors_and_latency_by_variant(client, api_client,
                                                                  model_version, feature_names):
    before = scrape(client)
    ok = api_client.post("/api/v1/predict", data=json.dumps(
        {"rows": [{n: 0.001 for n in feature_names}]}), content_type="application/json")
    bad = api_client.post("/api/v1/predict", data=json.dumps({"rows": []}),
                          content_type="application/json")
    assert (ok.status_code, bad.status_code) == (200, 400)
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("volatility_api_requests", endpoint="predict", variant="ml", status="200") == 1
    assert delta("volatility_api_errors", endpoint="predict", kind="http_400") == 1
    latency = [s for s in after["volatility_api_latency_seconds"]
               if s.name.endswith("_count") and s.labels.get("variant") == "ml"]
    assert latency and latency[0].value >= 1
    assert sample(after, "volatility_active_variant", variant="ml") == 1.0
    assert sample(after, "volatility_model_info", model_version=model_version.name) == 1.0
    # django-prometheus' own request metrics are exported too
    assert any(name.startswith("django_http_requests") for name in after)


def test_metrics_export_consumer_lag_and_drift_from_the_database(client, model_version):
    from drift.models import DriftReport
    from predictions.models import StreamOffset

    StreamOffset.objects.create(topic="ticks.raw", partition=2, next_offset=10, lag=7)
    DriftReport.objects.create(status="ok", share_drifted=0.25, dataset_drift=False)
    families = scrape(client)
    assert sample(families, "volatility_consumer_lag", topic="ticks.raw", partition="2") == 7.0
    assert sample(families, "volatility_drift_share") == 0.25
    assert "volatility_consumer_messages_processed" in families


def test_every_consumer_slot_reports_its_own_last_run_age(client, settings):
    """A stalled second slot must show (the gauge used to report only the first lease row),
    and a lease of an earlier slot count, which nothing runs any more, must not page."""
    from datetime import timedelta

    from django.utils import timezone

    from predictions.models import StreamLease

    settings.STREAM_CONSUMER_SLOTS = 2
    now = timezone.now()
    StreamLease.objects.create(name="ticks", last_run_at=now - timedelta(hours=5))  # slots = 1
    StreamLease.objects.create(name="ticks-0-of-2", last_run_at=now - timedelta(seconds=5))
    StreamLease.objects.create(name="ticks-1-of-2", last_run_at=now - timedelta(seconds=600))
    ages = {s.labels["lease"]: s.value
            for s in scrape(client)["volatility_consumer_last_run_age_seconds"]}
    assert set(ages) == {"ticks-0-of-2", "ticks-1-of-2"}
    assert 5 <= ages["ticks-0-of-2"] < 60
    assert 600 <= ages["ticks-1-of-2"] < 660
