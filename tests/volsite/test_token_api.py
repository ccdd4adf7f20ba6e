"""Which chain answers which request (volsite/token_api.py): the plain token predict request
takes the short chain and the fast view, everything else what it always took. What they
answer is pinned by tests/predictions/api/test_api_predict_contract.py."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from predictions.api import token_predict
from tests.predictions.api.wsgi_client import wsgi_call
from volsite.token_api import names_token_scheme

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(api_user):
    return Token.objects.create(user=api_user).key


@pytest.fixture
def paths(monkeypatch):
    """Records which handler and which predict view each request reached."""
    from volsite import wsgi

    seen: list[str] = []
    router = wsgi.application
    for name in ("full", "token_api"):
        handler = getattr(router, name)
        monkeypatch.setattr(router, name, lambda env, start, h=handler, n=name: (
            seen.append(n), h(env, start))[1])
    drf = token_predict._drf_view
    monkeypatch.setattr(token_predict, "_drf_view",
                        lambda request: (seen.append("drf"), drf(request))[1])
    return seen


def post(names, **headers):
    body = json.dumps({"rows": [dict.fromkeys(names, 0.001)]}).encode()
    return wsgi_call("POST", "/api/v1/predict", body,
                     headers={"Content-Type": "application/json", **headers})


def test_a_plain_token_request_skips_drf(paths, token, model_version, feature_names):
    assert post(feature_names, Authorization=f"Token {token}").status == 200
    assert paths == ["token_api"]


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json; charset=utf-8"},
    {"Accept": "application/json; indent=2"},
    {"Authorization": "token a b"},
    {"Authorization": "Token \xe9t\xe9"},
])
def test_an_unusual_token_request_is_left_to_drf(paths, token, model_version, feature_names,
                                                 headers):
    post(feature_names, **{"Authorization": f"Token {token}", **headers})
    assert paths == ["token_api", "drf"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer x"},
                                     {"Cookie": "sessionid=abc"}])
def test_other_callers_take_the_full_chain(paths, model_version, feature_names, headers):
    post(feature_names, **headers)
    assert paths == ["full"]


def test_other_paths_and_methods_take_the_full_chain(paths, token):
    wsgi_call("GET", "/api/v1/predict", headers={"Authorization": f"Token {token}"})
    wsgi_call("GET", "/api/v1/predictions", headers={"Authorization": f"Token {token}"})
    wsgi_call("GET", "/admin/login/")
    assert paths == ["full"] * 3


@pytest.mark.parametrize(("header", "named"), [
    ("Token abc", True), ("token abc", True), ("TOKEN", True), ("Token a b", True),
    ("Bearer abc", False), ("", False), ("Tokenabc", False), ("Basic dG9rZW4=", False),
])
def test_the_token_scheme_is_recognised_as_drf_does(header, named):
    assert names_token_scheme(header) is named


def test_the_short_chain_is_the_full_one_minus_browser_middleware():
    kept = [m for m in settings.MIDDLEWARE if m in settings.TOKEN_API_MIDDLEWARE]
    assert kept == settings.TOKEN_API_MIDDLEWARE  # nothing new, same order
    dropped = set(settings.MIDDLEWARE) - set(settings.TOKEN_API_MIDDLEWARE)
    assert {m.rsplit(".", 1)[1] for m in dropped} == {
        "WhiteNoiseMiddleware", "SessionMiddleware", "CsrfViewMiddleware",
        "AuthenticationMiddleware", "MessageMiddleware"}
