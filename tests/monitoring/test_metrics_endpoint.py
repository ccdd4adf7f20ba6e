from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {f.name: f.samples for f in text_string_to_metric_families(response.content.decode())}


def sample(families, name, **labels) -> float:
    for s in families.get(name, []):
        if s.name.endswith(("_created",)):
            continue
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


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
