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


# --- blocks reserved from the shared count ----------------------------------------------------
class _View:
    throttle_scope = "predict"


class _Request:
    def __init__(self, pk: int) -> None:
        self.user = type("U", (), {"pk": pk, "is_authenticated": True})()


def _shared_count_hour(pk: int) -> int:
    """The shared count of a token's current hour window."""
    import time

    return cache.get(f"throttle:predict:{pk}:3600:{int(time.time() // 3600)}") or 0


def _admit(pk: int) -> bool:
    from predictions.api.throttling import TokenRateThrottle

    return TokenRateThrottle().allow_request(_Request(pk), _View)


@pytest.fixture
def per_hour(settings, monkeypatch):
    """Hour windows and a clock stopped mid-hour, so no test straddles a window edge; a clean
    process state."""
    import time

    from predictions.api import throttling

    frozen = (int(time.time() // 3600) + 0.5) * 3600
    monkeypatch.setattr(time, "time", lambda: frozen)
    throttling.forget_reservations()
    yield lambda n: settings.API_THROTTLE_RATES.update(predict=f"{n}/hour")
    throttling.forget_reservations()


def test_a_process_touches_the_shared_count_once_per_block(per_hour, settings):
    settings.API_THROTTLE_RATES = dict(settings.API_THROTTLE_RATES)
    per_hour(6400)  # a block: min(64, 6400 // 64) = 64 requests
    assert _admit(1) and _shared_count_hour(1) == 64
    assert all(_admit(1) for _ in range(63)) and _shared_count_hour(1) == 64
    assert _admit(1) and _shared_count_hour(1) == 128


def test_reserve_1_counts_every_request_in_the_cache(per_hour, settings):
    settings.API_THROTTLE_RATES = dict(settings.API_THROTTLE_RATES)
    settings.API_THROTTLE_RESERVE = 1
    per_hour(6400)
    assert all(_admit(2) for _ in range(10)) and _shared_count_hour(2) == 10


def test_several_processes_never_admit_past_the_rate(per_hour, settings):
    """Three 'processes' (each its own reserved blocks, one shared count) take turns at
    random: never more than the rate is admitted, and what is refused early is at most one
    unspent block per other process."""
    import random

    from predictions.api import throttling

    settings.API_THROTTLE_RATES = dict(settings.API_THROTTLE_RATES)
    rate = 5000
    per_hour(rate)
    processes = [{} for _ in range(3)]
    rng = random.Random(3)
    admitted = 0
    for _ in range(rate + 500):
        held = processes[rng.randrange(3)]
        throttling._reserved.clear()
        throttling._reserved.update(held)
        admitted += _admit(3)
        held.clear()
        held.update(throttling._reserved)
    unspent = sum(left for held in processes for _, left, _ in held.values())
    assert admitted <= rate
    assert admitted + unspent == rate
    assert unspent <= 2 * 63


def test_a_small_rate_is_exact(per_hour, settings):
    settings.API_THROTTLE_RATES = dict(settings.API_THROTTLE_RATES)
    per_hour(100)  # under 128: one request at a time
    assert [_admit(4) for _ in range(101)] == [True] * 100 + [False]
    assert _shared_count_hour(4) == 101
