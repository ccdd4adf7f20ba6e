"""/metrics answers only the bearer token or an allowed network; /ready is cached, throttled,
and shows its checks only to staff or the metrics token, without raw exception text."""

from __future__ import annotations

import pytest

from predictions.api import readiness

pytestmark = pytest.mark.django_db


def test_metrics_from_an_outside_address_without_the_token_is_refused(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403


def test_metrics_with_the_bearer_token_is_served_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9",
                          HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200 and b"volatility_" in response.content


def test_metrics_from_an_allowed_network_needs_no_token(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.2.3").status_code == 403


def test_no_token_configured_means_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_ready_shows_only_the_verdict_to_anonymous_callers(client, model_version, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    readiness.forget_readiness()
    response = client.get("/api/v1/ready")
    assert response.status_code == 503 and response.json() == {"ready": False}


def test_ready_details_for_staff_carry_no_raw_exception_text(client, staff_user, model_version,
                                                             settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    readiness.forget_readiness()
    client.force_login(staff_user)
    broker = client.get("/api/v1/ready").json()["checks"]["broker"]
    assert broker["ok"] is False
    assert ":" not in broker["detail"] and "127.0.0.1" not in broker["detail"]


def test_ready_details_with_the_metrics_token(client, model_version, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    readiness.forget_readiness()
    body = client.get("/api/v1/ready", HTTP_AUTHORIZATION="Bearer scrape-secret").json()
    assert set(body["checks"]) == {"database", "model", "broker"}


def test_ready_runs_its_checks_once_a_second_however_often_it_is_asked(client, model_version,
                                                                      settings, monkeypatch):
    settings.READY_CACHE_SECONDS = 60
    readiness.forget_readiness()
    calls = []
    monkeypatch.setattr(readiness, "broker_reachable", lambda: calls.append(1) or (True, "ok"))
    for _ in range(5):
        client.get("/api/v1/ready")
    assert len(calls) == 1


def test_ready_is_throttled_per_client_address(client, model_version, settings, monkeypatch):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "ready": "3/minute"}
    monkeypatch.setattr(readiness, "broker_reachable", lambda: (True, "ok"))
    statuses = [client.get("/api/v1/ready", REMOTE_ADDR="198.51.100.7").status_code
                for _ in range(5)]
    assert statuses[:3] == [200] * 3 and statuses[3:] == [429, 429]
    assert client.get("/api/v1/ready", REMOTE_ADDR="198.51.100.8").status_code == 200
