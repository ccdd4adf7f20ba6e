"""The web worker's background refresher (predictions/api/refresher.py): warm predict requests
read configuration, model and token from memory, past the periods that used to make a request
query; the revocation bound holds; the request path learns an outage from it."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from monitoring import sli
from predictions.api import outage, refresher
from tests.predictions.api.wsgi_client import wsgi_call

PREDICT = "/api/v1/predict"


@pytest.fixture
def refreshing(settings):
    settings.CONFIG_REFRESH_SECONDS = 0.5
    settings.API_TOKEN_CACHE_SECONDS = 1.0
    refresher.start()
    deadline = time.monotonic() + 60
    while outage._last_success == 0.0:  # its first round (a loaded machine may be slow)
        assert time.monotonic() < deadline, "the refresher completed no round in 60 s"
        time.sleep(0.02)
    yield
    refresher.stop()


def predict(key: str, names: list[str]):
    body = ('{"rows": [{' + ", ".join(f'"{n}": 0.001' for n in names) + "}]}").encode()
    return wsgi_call("POST", PREDICT, body, headers={"Content-Type": "application/json",
                                                     "Authorization": f"Token {key}"})


@pytest.mark.django_db(transaction=True)
def test_warm_requests_query_nothing_while_the_refresher_keeps_them_fresh(
        api_user, model_version, feature_names, refreshing, settings, monkeypatch):
    """The token is verified by the first request; then, for longer than both periods (4 s),
    a client keeps calling and no request queries anything: the refresher renews the token and
    re-checks the configuration ahead of time (rounds every 2 s, so 2 s of slack). Without it
    the requests past 4 s would re-read both inline."""
    settings.API_TOKEN_CACHE_SECONDS = 4.0  # room for the refresher on a loaded machine
    settings.CONFIG_REFRESH_SECONDS = 4.0
    settings.SLI_FLUSH_SECONDS = 5  # as in production: counts flushed by their own thread,
    monkeypatch.setattr(sli, "_ensure_flusher", lambda: None)  # not started here
    key = Token.objects.create(user=api_user).key
    assert predict(key, feature_names).status == 200  # verifies the token inline
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        while time.monotonic() - started < 5.0:
            answer = predict(key, feature_names)
            assert answer.status == 200, answer.content
            time.sleep(0.2)
    assert [q["sql"] for q in queries] == []


@pytest.mark.django_db(transaction=True)
def test_a_revoked_token_is_refused_within_its_period_with_the_refresher_running(
        api_user, model_version, feature_names, refreshing, settings):
    key = Token.objects.create(user=api_user).key
    for _ in range(3):
        assert predict(key, feature_names).status == 200
        time.sleep(0.3)  # the refresher renews it meanwhile
    Token.objects.filter(key=key).delete()
    time.sleep(settings.API_TOKEN_CACHE_SECONDS)  # every verification before the delete ran out
    answer = predict(key, feature_names)
    assert answer.status == 401
    assert answer.json() == {"error": "authentication_failed", "detail": "Invalid token."}


def test_a_refresher_stuck_past_the_bound_reports_the_database_away():
    outage.watch(True)
    try:
        outage.round_succeeded(time.monotonic())
        assert outage.database_away() is None
        outage.round_succeeded(time.monotonic() - outage.AWAY_AFTER_SECONDS - 1)
        assert "no refresh for more than" in outage.database_away()
        outage.round_failed("OperationalError: connection refused")
        assert outage.database_away() == "OperationalError: connection refused"
    finally:
        outage.watch(False)
    assert outage.database_away() is None  # no refresher in this process: nothing reported


@pytest.mark.django_db
def test_a_round_slower_than_the_bound_does_not_leave_the_database_away(monkeypatch,
                                                                       model_version):
    """A round that spends longer than the bound (a newly promoted model loading on a busy
    machine) counts from when it ended: the first request after it is served, not a 503."""
    from predictions import serving

    loaded = serving.active_scorers

    def slow_load(*args, **kwargs):
        time.sleep(0.3)
        return loaded(*args, **kwargs)

    monkeypatch.setattr(outage, "AWAY_AFTER_SECONDS", 0.2)
    monkeypatch.setattr(serving, "active_scorers", slow_load)
    outage.watch(True)
    try:
        refresher.refresh_once()
        assert outage.database_away() is None
    finally:
        outage.watch(False)
