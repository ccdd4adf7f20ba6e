"""Which handler answers which request (volsite/token_api.py): the plain token predict request
takes the lean handler, everything else Django's full handler, as always. What they answer is
pinned by tests/predictions/api/test_api_predict_contract.py; here, the routing, and that the
lean handler's answers carry the same headers as the full chain's."""

from __future__ import annotations

import json

import pytest
from rest_framework.authtoken.models import Token

from predictions.api.token_predict import is_plain
from tests.predictions.api.wsgi_client import wsgi_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(api_user):
    return Token.objects.create(user=api_user).key


@pytest.fixture
def paths(monkeypatch):
    """Records which handler answered each request ("lean" or "full")."""
    from volsite import wsgi

    seen: list[str] = []
    router = wsgi.application
    lean, full = router.token_api, router.full

    def lean_recorded(env, start):
        seen.append("lean")
        return lean(env, start)

    def full_recorded(env, start):
        seen.append("full")
        return full(env, start)

    monkeypatch.setattr(router, "token_api", lean_recorded)
    monkeypatch.setattr(router, "full", full_recorded)
    monkeypatch.setattr(lean, "full", full_recorded)  # what the lean handler hands over
    return seen


def body_of(names) -> bytes:
    return json.dumps({"rows": [dict.fromkeys(names, 0.001)]}).encode()


def post(names, content_length=None, secure=False, **headers):
    return wsgi_call("POST", "/api/v1/predict", body_of(names),
                     headers={"Content-Type": "application/json", **headers},
                     content_length=content_length, secure=secure)


def test_a_plain_token_request_takes_the_lean_handler(paths, token, model_version,
                                                      feature_names):
    assert post(feature_names, Authorization=f"Token {token}").status == 200
    assert paths == ["lean"]


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json; charset=utf-8"},
    {"Accept": "application/json; indent=2"},
    {"Authorization": "token a b"},
    {"Authorization": "Token \xe9t\xe9"},
    {"Authorization": "Bearer x"},
    {"Authorization": None},
    {"Authorization": None, "Cookie": "sessionid=abc"},
])
def test_an_unusual_request_takes_the_full_chain(paths, token, model_version, feature_names,
                                                 headers):
    sent = {"Authorization": f"Token {token}", **headers}
    post(feature_names, **{k: v for k, v in sent.items() if v is not None})
    assert paths == ["full"]


@pytest.mark.parametrize(("content_length", "status"), [("abc", 400), (" 12", None),
                                                        (str(3 * 1024 * 1024), 413)])
def test_a_framing_error_is_handed_to_the_full_chain(paths, token, model_version, feature_names,
                                                     content_length, status):
    answer = post(feature_names, content_length=content_length, Authorization=f"Token {token}")
    assert paths == ["lean", "full"]
    if status:
        assert answer.status == status


def test_a_disallowed_host_is_handed_to_the_full_chain(paths, token, model_version,
                                                       feature_names):
    answer = post(feature_names, Authorization=f"Token {token}", Host="evil.example")
    assert paths == ["lean", "full"] and answer.status == 400


def test_an_https_redirect_is_handed_to_the_full_chain(token, model_version, feature_names,
                                                       settings, monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler

    from volsite import wsgi

    settings.SECURE_SSL_REDIRECT = True
    fresh = WSGIHandler()  # middleware read their settings when the handler is built
    seen: list[str] = []
    monkeypatch.setattr(wsgi.application.token_api, "full",
                        lambda env, start: (seen.append("full"), fresh(env, start))[1])
    assert post(feature_names, Authorization=f"Token {token}").status == 301
    assert seen == ["full"]
    assert post(feature_names, secure=True, Authorization=f"Token {token}").status == 200
    assert seen == ["full"]


def test_other_paths_and_methods_take_the_full_chain(paths, token):
    wsgi_call("GET", "/api/v1/predict", headers={"Authorization": f"Token {token}"})
    wsgi_call("GET", "/api/v1/predictions", headers={"Authorization": f"Token {token}"})
    wsgi_call("GET", "/admin/login/")
    assert paths == ["full"] * 3


@pytest.mark.parametrize(("headers", "plain"), [
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Token abc"}, True),
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "token abc",
      "HTTP_ACCEPT": "*/*"}, True),
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Token a b"}, False),
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "TOKEN"}, False),
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Bearer abc"}, False),
    ({"CONTENT_TYPE": "text/plain", "HTTP_AUTHORIZATION": "Token abc"}, False),
    ({"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Token abc",
      "HTTP_ACCEPT": "text/html"}, False),
])
def test_plain_requests_are_told_from_the_rest(headers, plain):
    assert is_plain(headers) is plain


@pytest.mark.parametrize("secure", [False, True])
def test_the_lean_answer_carries_the_full_chains_headers(token, model_version, feature_names,
                                                         settings, secure):
    """Every header, not only the pinned ones, and over HTTPS with HSTS on too."""
    from django.core.handlers.wsgi import WSGIHandler

    from volsite import wsgi

    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    answers = [wsgi_call("POST", "/api/v1/predict", body_of(feature_names), headers=headers,
                         secure=secure, application=app)
               for app in (wsgi.application, WSGIHandler())]  # a full chain built now
    lean, full = ({k: v for k, v in a.headers.items() if k != "content-length"} for a in answers)
    assert answers[0].status == answers[1].status == 200
    assert lean == full
    assert ("strict-transport-security" in lean) is secure
    assert int(answers[0].headers["content-length"]) == len(answers[0].content)


@pytest.mark.parametrize("who", ["unknown", "invalid"])
def test_the_lean_handler_logs_errors_as_djangos_handler_does(token, model_version,
                                                              feature_names, caplog, who):
    from django.core.handlers.wsgi import WSGIHandler

    from volsite import wsgi

    key = "0" * 40 if who == "unknown" else token
    body = b'{"rows": []}' if who == "invalid" else body_of(feature_names)
    logged = []
    for app in (wsgi.application, WSGIHandler()):
        caplog.clear()
        with caplog.at_level("INFO", logger="django.request"):
            wsgi_call("POST", "/api/v1/predict", body, application=app,
                      headers={"Content-Type": "application/json", "Authorization": f"Token {key}"})
        logged.append([(r.levelname, r.getMessage(), r.status_code) for r in caplog.records
                       if r.name == "django.request"])
    assert logged[0] == logged[1] and len(logged[0]) == 1
