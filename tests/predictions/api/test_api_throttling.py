from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from predictions.api.throttling import parse_rate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def predict(client, names):
    return client.post("/api/v1/predict", data=json.dumps({"rows": [{n: 0.001 for n in names}]}),
                       content_type="application/json")


def test_a_token_over_its_rate_gets_429_with_retry_after(api_client, model_version,
                                                         feature_names, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "predict": "2/minute"}
    assert [predict(api_client, feature_names).status_code for _ in range(2)] == [200, 200]
    response = predict(api_client, feature_names)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["error"] == "throttled" and "throttled" in body["detail"].lower()


def test_each_token_has_its_own_budget(api_client, staff_user, model_version, feature_names,
                                       settings):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "predict": "1/minute"}
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    assert predict(api_client, feature_names).status_code == 200
    assert predict(api_client, feature_names).status_code == 429
    assert predict(other, feature_names).status_code == 200


def test_history_has_its_own_scope_and_probes_are_never_throttled(api_client, client, db,
                                                                   settings):
    settings.API_THROTTLE_RATES = {"predict": "off", "history": "1/minute"}
    assert api_client.get("/api/v1/predictions").status_code == 200
    assert api_client.get("/api/v1/products/BTC-USD/latest").status_code == 429
    assert all(client.get("/api/v1/health").status_code == 200 for _ in range(5))


def test_rates_read_like_drf_rates():
    assert parse_rate("600/minute") == (600, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("off") is None and parse_rate("") is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_a_mistyped_rate_fails_the_system_check(settings):
    from predictions.apps import check_throttle_rates

    settings.API_THROTTLE_RATES = {"predict": "fast", "history": "600/minute"}
    assert [e.id for e in check_throttle_rates()] == ["predictions.E001"]
