from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_health_answers_without_auth(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_version_describes_what_is_served(client, model_version, feature_names):
    body = client.get("/api/v1/version").json()
    assert body["model_variant"] == "ml"
    assert body["model_version"] == model_version.name
    assert body["sha256"] == model_version.sha256
    assert body["feature_names"] == feature_names
    assert body["threshold"] == pytest.approx(model_version.threshold)
    assert body["trained_start"] and body["trained_end"]


def test_ready_checks_database_model_and_broker(client, staff_user, model_version, kafka):
    client.force_login(staff_user)  # the checks are shown to staff (and the metrics token)
    body = client.get("/api/v1/ready").json()
    assert body["ready"] is True, body
    assert set(body["checks"]) == {"database", "model", "broker"}
    assert all(c["ok"] and c["latency_ms"] >= 0 for c in body["checks"].values())


def test_ready_is_false_when_the_broker_is_unreachable(client, staff_user, model_version,
                                                       settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    client.force_login(staff_user)
    response = client.get("/api/v1/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_the_openapi_schema_documents_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/v1/predict", "/api/v1/health", "/api/v1/ready", "/api/v1/version",
                 "/api/v1/products/{product_id}/latest", "/api/v1/predictions"):
        assert path in schema["paths"], path
    assert "PredictResponse" in schema["components"]["schemas"]


def test_the_latest_prediction_needs_auth_and_says_when_there_is_none(client, api_client, db):
    assert client.get("/api/v1/products/BTC-USD/latest").status_code in (401, 403)
    response = api_client.get("/api/v1/products/BTC-USD/latest")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_schema_documents_every_answer_of_predict_with_examples(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "403", "405", "406", "413", "415", "429",
                              "503"}
    for code, response in responses.items():
        if code == "406":
            continue  # common to every operation (schema.COMMON_ERRORS), without an example
        content = response["content"]["application/json"]
        expected = "PredictResponse" if code == "200" else "Error"
        assert content["schema"]["$ref"].endswith(f"/{expected}"), code
        if code != "405":
            assert content.get("examples"), f"no example for {code}"
    request = schema["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]
    assert request["application/json"]["examples"]
