"""Hostile requests get a documented 4xx with the reason, never a 5xx (issue #13)."""

from __future__ import annotations

import json

import pytest

from predictions.api import parsers

pytestmark = pytest.mark.django_db


def post_raw(client, body: bytes, content_type: str, **extra):
    return client.generic("POST", "/api/v1/predict", body, content_type=content_type, **extra)


@pytest.mark.parametrize("charset", ["punycode", "base64", "rot13", "no-such-codec", "",
                                     "utf-16", "idna"])
def test_a_body_in_a_hostile_charset_is_a_400(api_client, model_version, charset):
    response = post_raw(api_client, b'{"rows": [\xff\xfe\x00]}',
                        f"application/json; charset={charset}")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "parse_error"


@pytest.mark.parametrize("query", [
    {"since": "2024-13-01T00:00:00"}, {"until": "2024-02-30T25:61:00Z"}, {"since": "yesterday"},
    {"variant": "bogus"}, {"product": "BTC\x00USD"}, {"product": "x" * 100},
    {"cursor": "not-a-cursor"}, {"cursor": "bm9waXBl"}, {"cursor": "\x00"},
])
def test_a_malformed_history_query_is_a_400_naming_the_parameter(api_client, query):
    response = api_client.get("/api/v1/predictions", query)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == next(iter(query))


def test_page_numbers_are_gone_and_ignored(api_client):
    assert api_client.get("/api/v1/predictions", {"page": "0"}).status_code == 200


@pytest.mark.parametrize("product", ["%00", "a" * 40, "%F0%9F%98%80", "-x"])
def test_a_malformed_product_in_the_path_is_a_400(api_client, product):
    response = api_client.get(f"/api/v1/products/{product}/latest")
    assert response.status_code == 400, response.content


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(api_client, model_version, settings,
                                                            monkeypatch):
    settings.API_MAX_BODY_BYTES = 1000
    monkeypatch.setattr(parsers.orjson, "loads", lambda data: pytest.fail("parsed"))
    body = json.dumps({"rows": [{"x": 0.1}] * 200}).encode()
    response = post_raw(api_client, body, "application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_a_body_longer_than_its_declared_length_is_read_only_to_the_limit(settings):
    import io

    settings.API_MAX_BODY_BYTES = 10
    with pytest.raises(parsers.BodyTooLarge):
        parsers.read_limited(io.BytesIO(b"x" * 1000), None)


def test_an_invalid_body_is_parsed_once(api_client, model_version, monkeypatch):
    calls = []
    monkeypatch.setattr(parsers, "_stdlib_reread", lambda *a: calls.append(a) or {})
    response = post_raw(api_client, b'{"rows": [1, 2,', "application/json")
    assert response.status_code == 400
    assert calls == []


@pytest.mark.parametrize("auth", ["Token", "Token a b", "Token \x7f", "Bearer x", "Basic ???"])
def test_a_malformed_authorization_header_is_a_401(client, auth):
    response = client.get("/api/v1/predictions", HTTP_AUTHORIZATION=auth)
    assert response.status_code in (401, 403)


def test_a_non_numeric_content_length_is_a_400(api_client, model_version):
    response = post_raw(api_client, b'{"rows": []}', "application/json", CONTENT_LENGTH="abc")
    assert response.status_code == 400
