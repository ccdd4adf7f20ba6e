"""The predict hot path: orjson in and out, no database query per request once warm, and
token checks that still notice a revoked token quickly."""

from __future__ import annotations

import json

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIRequestFactory

from predictions.api.views import PredictView

pytestmark = pytest.mark.django_db


def body(names, n=1):
    return json.dumps({"rows": [dict.fromkeys(names, 0.002)] * n})


def test_a_warm_predict_makes_no_database_query(api_user, model_version, feature_names,
                                                settings):
    settings.CONFIG_REFRESH_SECONDS = 60  # as in production: the counter is read every 0.5 s
    key = Token.objects.create(user=api_user).key
    view = PredictView.as_view()  # the view itself, without the SLI middleware's writes

    def call(rows):
        request = APIRequestFactory().post("/api/v1/predict", body(feature_names, rows),
                                           content_type="application/json",
                                           HTTP_AUTHORIZATION=f"Token {key}")
        return view(request).render()

    assert call(1).status_code == 200  # warm-up: config, model and token are read once
    with CaptureQueriesContext(connection) as queries:
        responses = [call(1), call(64)]
    assert [r.status_code for r in responses] == [200, 200]
    assert len(orjson.loads(responses[1].content)["scores"]) == 64
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_revoked_token_is_refused_once_its_cache_time_passes(api_client, api_user,
                                                               model_version, feature_names,
                                                               settings):
    settings.API_TOKEN_CACHE_SECONDS = 0.2
    ok = api_client.post("/api/v1/predict", body(feature_names), content_type="application/json")
    assert ok.status_code == 200
    Token.objects.filter(user=api_user).delete()
    import time

    time.sleep(0.25)
    refused = api_client.post("/api/v1/predict", body(feature_names),
                              content_type="application/json")
    assert refused.status_code == 401 and refused.json()["error"] == "authentication_failed"


def test_a_deactivated_user_is_refused(api_client, api_user, model_version, feature_names,
                                       settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    api_user.is_active = False
    api_user.save()
    response = api_client.post("/api/v1/predict", body(feature_names),
                               content_type="application/json")
    assert response.status_code == 401


def test_a_malformed_token_is_refused_without_asking_the_database(client, model_version,
                                                                  feature_names):
    response = client.post("/api/v1/predict", body(feature_names),
                           content_type="application/json",
                           HTTP_AUTHORIZATION="Token abc\x00def")
    assert response.status_code == 401


def test_a_body_without_a_content_type_gets_415(api_client, model_version, feature_names):
    response = api_client.generic("POST", "/api/v1/predict", body(feature_names),
                                  content_type="")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_a_declared_charset_is_honoured(api_client, model_version, feature_names):
    data = body(feature_names).encode("latin-1")
    response = api_client.generic("POST", "/api/v1/predict", data,
                                  content_type="application/json; charset=latin-1")
    assert response.status_code == 200, response.content


def test_deep_nesting_is_a_parse_error_not_a_crash(api_client, model_version):
    response = api_client.generic("POST", "/api/v1/predict", "[" * 100_000,
                                  content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "parse_error"


def test_unknown_top_level_fields_and_a_bad_variant_are_named(api_client, model_version,
                                                              feature_names):
    rows = [dict.fromkeys(feature_names, 0.1)]
    extra = api_client.post("/api/v1/predict", {"rows": rows, "extra": 1}, format="json")
    assert extra.json()["errors"] == [{"field": "extra", "reason": "unknown field"}]
    bad = api_client.post("/api/v1/predict", {"rows": rows, "variant": None}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "variant"


def test_history_accepts_a_naive_datetime_as_utc(api_client, db):
    response = api_client.get("/api/v1/predictions", {"since": "2026-01-01T00:00:00"})
    assert response.status_code == 200
