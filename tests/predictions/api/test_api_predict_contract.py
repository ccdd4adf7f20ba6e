"""The whole contract of POST /api/v1/predict, pinned request by request (issue #18).

Written against the code as it stood before the predict path was made faster, so any change
to the path (middleware, DRF, the web server) must answer these requests exactly the same: the
status, the headers that matter (content type, variant, Retry-After, WWW-Authenticate, Allow,
Vary and the security headers) and the JSON body, key order included; and must count each one
the same way in Prometheus and in the SLI rollups the SLO page and the burn-rate rules read.

Requests go to `volsite.wsgi.application`, what the web server runs (see wsgi_client.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pytest
from django.core.cache import caches
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.authtoken.models import Token

from monitoring.models import ApiMinute
from predictions import serving
from tests.helpers import free_port, need, postgres_in_use
from tests.predictions.api.wsgi_client import Answer, wsgi_call

PREDICT = "/api/v1/predict"
JSON = "application/json"
# The headers whose presence and value are part of the contract (lower-cased).
PINNED = ("content-type", "x-model-variant", "retry-after", "www-authenticate", "allow", "vary",
          "x-frame-options", "x-content-type-options", "referrer-policy",
          "cross-origin-opener-policy")
SECURITY = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin", "cross-origin-opener-policy": "same-origin"}
VIEW = {"content-type": JSON, "allow": "POST, OPTIONS", **SECURITY}  # every answer of the view
CSRF_SECRET = "k" * 32


@dataclass
class Case:
    name: str
    body: Callable[[list[str]], Any]  # feature names → a JSON-able body, or raw bytes/str
    status: int
    expect: dict[str, Any] | None  # the JSON body; None for the 200s (checked by scoring)
    headers: dict[str, str] = field(default_factory=lambda: dict(VIEW))
    who: str = "client"  # client | staff | none | unknown | malformed | bearer | session…
    request_headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON})
    method: str = "POST"
    content_length: str | None = None
    counted: bool = True  # reaches the view's accounting (metrics and SLI rollups)


def row(names: list[str], value: float = 0.001) -> dict[str, float]:
    return {n: value for n in names}


def rows(names: list[str], n: int) -> list[dict[str, float]]:
    """Distinct rows, like a client's batch."""
    return [{name: 0.0003 * (i + 1) * (j + 1) for j, name in enumerate(names)} for i in range(n)]


def with_value(names: list[str], value: Any, at: int = 1) -> dict[str, Any]:
    return {"rows": [{**row(names), names[at]: value}]}


def invalid(detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": "invalid", "detail": detail, "errors": errors}


def value_error(names: list[str], reason: str, at: int = 1) -> dict[str, Any]:
    return invalid("1 invalid value(s) in rows", [{"row": 0, "field": names[at], "reason": reason}])


def error(code: str, detail: str) -> dict[str, Any]:
    return {"error": code, "detail": detail}


NOT_PROVIDED = error("not_authenticated", "Authentication credentials were not provided.")
UNAUTHORIZED = {**VIEW, "www-authenticate": "Token"}

CASES = [
    # --- answers -----------------------------------------------------------------------------
    Case("one row", lambda n: {"rows": rows(n, 1)}, 200, None, {**VIEW, "x-model-variant": "ml"}),
    Case("64 rows", lambda n: {"rows": rows(n, 64)}, 200, None, {**VIEW, "x-model-variant": "ml"}),
    Case("staff names the baseline", lambda n: {"rows": rows(n, 3), "variant": "baseline"}, 200,
         None, {**VIEW, "x-model-variant": "baseline"}, who="staff"),
    Case("staff names ml", lambda n: {"rows": rows(n, 2), "variant": "ml"}, 200, None,
         {**VIEW, "x-model-variant": "ml"}, who="staff"),
    Case("a declared charset", lambda n: json.dumps({"rows": rows(n, 1)}).encode("latin-1"), 200,
         None, {**VIEW, "x-model-variant": "ml"},
         request_headers={"Content-Type": "application/json; charset=latin-1"}),
    Case("staff by session with the CSRF token", lambda n: {"rows": rows(n, 1)}, 200, None,
         {**VIEW, "x-model-variant": "ml", "vary": "Cookie"}, who="session+csrf"),
    # --- 400: the body's shape ---------------------------------------------------------------
    Case("body not an object", lambda n: [1, 2], 400,
         invalid("the body must be a JSON object", [{"field": "body", "reason": "not an object"}])),
    Case("unknown top-level fields", lambda n: {"rows": [row(n)], "zeta": 1, "alpha": 2}, 400,
         invalid("unknown fields in body", [{"field": "alpha", "reason": "unknown field"},
                                            {"field": "zeta", "reason": "unknown field"}])),
    Case("a bad variant", lambda n: {"rows": [row(n)], "variant": None}, 400,
         invalid("invalid request", [{"field": "variant", "reason": "one of ['ml', 'baseline']"}])),
    Case("an unknown variant", lambda n: {"rows": [row(n)], "variant": "gbm"}, 400,
         invalid("invalid request", [{"field": "variant", "reason": "one of ['ml', 'baseline']"}])),
    Case("rows missing", lambda n: {}, 400,
         invalid("'rows' is required", [{"field": "rows", "reason": "missing"}])),
    Case("rows not a list", lambda n: {"rows": {"a": 1}}, 400,
         invalid("'rows' must be a list", [{"field": "rows", "reason": "not a list"}])),
    Case("rows empty", lambda n: {"rows": []}, 400,
         invalid("'rows' is empty", [{"field": "rows", "reason": "at least 1 row"}])),
    Case("too many rows", lambda n: {"rows": [row(n)] * 1001}, 400,
         invalid("too many rows: 1001 > 1000",
                 [{"field": "rows", "reason": "at most 1000 rows per request"}])),
    # --- 400: the rows -------------------------------------------------------------------------
    Case("a row not an object", lambda n: {"rows": [row(n), 7]}, 400,
         invalid("1 invalid value(s) in rows",
                 [{"row": 1, "field": None, "reason": "row is not an object"}])),
    Case("a missing feature", lambda n: {"rows": [{k: v for k, v in row(n).items() if k != n[0]}]},
         400, None),  # expectation built from the names below
    Case("an unknown feature", lambda n: {"rows": [{**row(n), "bogus": 1.0}]}, 400, None),
    Case("a string", lambda n: with_value(n, "0.1"), 400, None),
    Case("a null", lambda n: with_value(n, None), 400, None),
    Case("a boolean", lambda n: with_value(n, True), 400, None),
    Case("an array", lambda n: with_value(n, [1]), 400, None),
    Case("an object", lambda n: with_value(n, {"a": 1}), 400, None),
    Case("a number beyond double range",
         lambda n: json.dumps({"rows": [row(n)]}).replace("0.001", "1e400", 1), 400, None),
    Case("an integer beyond double range",
         lambda n: json.dumps({"rows": [row(n)]}).replace("0.001", "1" + "0" * 400, 1), 400, None),
    Case("more than 50 problems", lambda n: {"rows": [{"x": 1}] * 30}, 400, None),
    # --- 400: not JSON, bad headers ----------------------------------------------------------
    Case("not JSON", lambda n: "{nope", 400, error(
        "parse_error", "JSON parse error - unexpected character, expected a string key: "
        "line 1 column 2 (char 1)")),
    Case("a NaN literal", lambda n: '{"rows": [{"a": NaN}]}', 400, error(
        "parse_error", "JSON parse error - unexpected character, expected a JSON value: "
        "line 1 column 17 (char 16)")),
    Case("an Infinity literal", lambda n: '{"rows": [{"a": Infinity}]}', 400, error(
        "parse_error", "JSON parse error - unexpected character, expected a JSON value: "
        "line 1 column 17 (char 16)")),
    Case("bad UTF-8", lambda n: b'{"rows": [\xff]}', 400, error(
        "parse_error", "JSON parse error - str is not valid UTF-8: surrogates not allowed: "
        "line 1 column 1 (char 0)")),
    Case("deep nesting", lambda n: "[" * 100_000, 400, error(
        "parse_error", "JSON parse error - depth limit exceeded: line 1 column 1026 "
        "(char 1025)")),
    Case("a failing charset", lambda n: b"{}", 400,
         error("parse_error", "JSON parse error - body is not valid punycode: UnicodeError"),
         request_headers={"Content-Type": "application/json; charset=punycode"}),
    Case("an unknown charset", lambda n: b"{}", 400,
         error("parse_error", "JSON parse error - body is not valid no-such-codec: LookupError"),
         request_headers={"Content-Type": "application/json; charset=no-such-codec"}),
    Case("Content-Length not a number", lambda n: {"rows": [row(n)]}, 400,
         error("parse_error", "Content-Length is not a number"), {"content-type": JSON},
         content_length="abc", counted=False),
    # --- auth ----------------------------------------------------------------------------------
    Case("no token", lambda n: {"rows": [row(n)]}, 401, NOT_PROVIDED,
         {**UNAUTHORIZED, "vary": "Cookie"}, who="none"),
    Case("another scheme", lambda n: {"rows": [row(n)]}, 401, NOT_PROVIDED,
         {**UNAUTHORIZED, "vary": "Cookie"}, who="bearer"),
    Case("an unknown token", lambda n: {"rows": [row(n)]}, 401,
         error("authentication_failed", "Invalid token."), UNAUTHORIZED, who="unknown"),
    Case("a token with a space", lambda n: {"rows": [row(n)]}, 401,
         error("authentication_failed",
               "Invalid token header. Token string should not contain spaces."),
         UNAUTHORIZED, who="malformed"),
    Case("a bare Token scheme", lambda n: {"rows": [row(n)]}, 401,
         error("authentication_failed", "Invalid token header. No credentials provided."),
         UNAUTHORIZED, who="bare"),
    Case("a token of a deactivated user", lambda n: {"rows": [row(n)]}, 401,
         error("authentication_failed", "User inactive or deleted."), UNAUTHORIZED,
         who="inactive"),
    Case("a variant without staff rights", lambda n: {"rows": [row(n)], "variant": "baseline"},
         403, error("permission_denied", "only staff may choose the variant")),
    Case("staff by session without the CSRF token", lambda n: {"rows": [row(n)]}, 403,
         error("permission_denied", "CSRF Failed: CSRF cookie not set."),
         {**VIEW, "vary": "Cookie"}, who="session"),
    # --- method, negotiation, media type, size -----------------------------------------------
    Case("GET", lambda n: b"", 405, error("method_not_allowed", 'Method "GET" not allowed.'),
         method="GET", request_headers={}),
    Case("an Accept nobody renders", lambda n: {"rows": [row(n)]}, 406,
         error("not_acceptable", "Could not satisfy the request Accept header."),
         request_headers={"Content-Type": JSON, "Accept": "text/html"}),
    Case("no content type", lambda n: {"rows": [row(n)]}, 415,
         error("unsupported_media_type", "send the body as application/json"),
         request_headers={}),
    Case("a form", lambda n: "rows=1", 415,
         error("unsupported_media_type",
               'Unsupported media type "application/x-www-form-urlencoded" in request.'),
         request_headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("a body declared over the limit", lambda n: {"rows": [row(n)]}, 413,
         error("too_large", "request body over API_MAX_BODY_BYTES (2097152 bytes)"),
         {"content-type": JSON}, content_length=str(3 * 1024 * 1024), counted=False),
]


def _row_errors(case: Case, names: list[str]) -> dict[str, Any] | None:
    """Expectations that name the model's features."""
    return {
        "a missing feature": invalid("1 invalid value(s) in rows",
                                     [{"row": 0, "field": names[0], "reason": "missing feature"}]),
        "an unknown feature": invalid("1 invalid value(s) in rows",
                                      [{"row": 0, "field": "bogus", "reason": "unknown feature"}]),
        "a string": value_error(names, "expected a number, got string"),
        "a null": value_error(names, "expected a number, got null"),
        "a boolean": value_error(names, "expected a number, got boolean"),
        "an array": value_error(names, "expected a number, got array"),
        "an object": value_error(names, "expected a number, got object"),
        "a number beyond double range": value_error(names, "not a finite number", at=0),
        "an integer beyond double range": value_error(names, "not a finite number", at=0),
        # Each of the 30 rows misses every feature and has an unknown one: rows are read until
        # 50 reasons are found, the detail counts what was found, the list stops at 50.
        "more than 50 problems": invalid(f"{len(_problems(names))} invalid value(s) in rows",
                                         _problems(names)[:50]),
    }.get(case.name)


def _problems(names: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i in range(30):
        if len(found) >= 50:
            break
        found += [{"row": i, "field": n, "reason": "missing feature"} for n in names]
        found.append({"row": i, "field": "x", "reason": "unknown feature"})
    return found


@pytest.fixture
def callers(api_user, staff_user, django_user_model):
    """Authorization (and cookie) headers of every kind of caller."""
    inactive = django_user_model.objects.create_user("gone", "g@example.com", "pw-gone-12345")
    inactive_key = Token.objects.create(user=inactive).key
    inactive.is_active = False
    inactive.save()
    browser = Client()
    browser.force_login(staff_user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    return {
        "client": {"Authorization": f"Token {Token.objects.create(user=api_user).key}"},
        "staff": {"Authorization": f"Token {Token.objects.create(user=staff_user).key}"},
        "none": {},
        "bearer": {"Authorization": "Bearer abc"},
        "unknown": {"Authorization": "Token " + "0" * 40},
        "malformed": {"Authorization": "Token a b"},
        "bare": {"Authorization": "Token"},
        "inactive": {"Authorization": f"Token {inactive_key}"},
        "session": {"Cookie": cookie},
        "session+csrf": {"Cookie": f"{cookie}; csrftoken={CSRF_SECRET}",
                         "X-CSRFToken": CSRF_SECRET},
    }


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    caches["default"].clear()
    yield
    caches["default"].clear()


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def send(case: Case, names: list[str], callers: dict[str, dict[str, str]]) -> Answer:
    return wsgi_call(case.method, PREDICT, encode(case.body(names)),
                     headers={**case.request_headers, **callers[case.who]},
                     content_length=case.content_length)


def pinned(answer: Answer) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k in PINNED}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def predict_minute_requests() -> int:
    return sum(ApiMinute.objects.filter(endpoint="predict").values_list("requests", flat=True))


def accounting(variant: str, status: int, method: str = "POST") -> dict[str, float]:
    """Every count one predict request moves, for its variant and status."""
    kind = "server_error" if status >= 500 else f"http_{status}"
    return {
        "requests": sample("volatility_api_requests_total", endpoint="predict", variant=variant,
                           status=str(status)),
        "latency": sample("volatility_api_latency_seconds_count", endpoint="predict",
                          variant=variant),
        "errors": sample("volatility_api_errors_total", endpoint="predict", kind=kind),
        "availability": sample("volatility_slo_events_total", slo="api_availability"),
        "available": sample("volatility_slo_good_events_total", slo="api_availability"),
        "latency_slo": sample("volatility_slo_events_total", slo="api_latency"),
        "rows": sample("volatility_api_rows_scored_total", variant=variant),
        "django": sample("django_http_responses_total_by_status_view_method_total",
                         status=str(status), view="predict", method=method),
        "rollup": predict_minute_requests(),
    }


def expected_scores(names: list[str], body: dict[str, Any], variant: str) -> dict[str, Any]:
    active = serving.active_scorers()
    scorer = active.version.baseline if variant == "baseline" else active.version.ml
    X = np.array([[r[n] for n in names] for r in body["rows"]], dtype=np.float64)
    scores = scorer.score(X)
    return {"scores": scores.tolist(), "labels": [int(s >= scorer.threshold) for s in scores],
            "threshold": scorer.threshold, "model_variant": variant,
            "model_version": active.version.name}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_predict_answers_as_pinned(case, callers, model_version, feature_names):
    body = case.body(feature_names)
    variant = case.headers.get("x-model-variant", "none")
    before = accounting(variant, case.status, case.method)
    started = time.time()
    answer = send(case, feature_names, callers)
    assert answer.status == case.status, answer.content
    assert pinned(answer) == case.headers
    got = answer.json()
    if case.status == 200:
        ts = datetime.fromisoformat(got.pop("ts"))
        assert ts.utcoffset().total_seconds() == 0 and started - 1 <= ts.timestamp() <= time.time()
        want = expected_scores(feature_names, orjson.loads(encode(body)), variant)
        assert list(got) == list(want)  # key order too: clients may print it as is
        assert got == want  # the same scorer on the same rows: the same doubles
    else:
        want = case.expect if case.expect is not None else _row_errors(case, feature_names)
        assert want is not None, f"no expectation for {case.name}"
        assert list(got) == list(want) and got == want
    after = accounting(variant, case.status, case.method)
    moved = {k: after[k] - before[k] for k in after}
    if not case.counted:  # answered before any accounting, as it always was
        assert set(moved.values()) == {0}, moved
        return
    assert moved == {"requests": 1, "latency": 1, "errors": int(case.status >= 400),
                     "availability": 1, "available": int(case.status < 500), "latency_slo": 1,
                     "rows": len(got["scores"]) if case.status == 200 else 0, "django": 1,
                     "rollup": 1}


@pytest.mark.django_db
def test_over_the_rate_it_answers_429_with_retry_after(callers, model_version, feature_names,
                                                       settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "predict": "2/minute"}
    case = CASES[0]
    assert [send(case, feature_names, callers).status for _ in range(2)] == [200, 200]
    before = accounting("none", 429)
    answer = send(case, feature_names, callers)
    assert answer.status == 429
    wait = int(answer.headers["retry-after"])
    assert 1 <= wait <= 60
    assert pinned(answer) == {**VIEW, "retry-after": str(wait)}
    assert answer.json() == error("throttled",
                                  "Request was throttled. Expected available in "
                                  f"{wait} second{'' if wait == 1 else 's'}.")  # DRF's ngettext
    moved = {k: v - before[k] for k, v in accounting("none", 429).items()}
    assert moved["requests"] == moved["errors"] == moved["rollup"] == 1


@pytest.mark.django_db
def test_without_a_promoted_model_it_answers_503(callers, feature_names):
    answer = send(CASES[0], feature_names, callers)
    assert answer.status == 503
    assert pinned(answer) == VIEW
    assert answer.json() == error("no_model",
                                  "no model version is promoted; run `manage.py train --activate`")


@pytest.mark.django_db(transaction=True)
def test_with_the_database_away_it_answers_503_with_retry_after(callers, model_version,
                                                                 feature_names, settings,
                                                                 monkeypatch):
    """Cold caches (a worker just started, or its token and configuration are due for a
    re-read) meet a database that refuses connections: 503 + Retry-After, not 500. The SLI
    counts wait in memory, as in production, and reach the rollups once it is back."""
    need("PostgreSQL", postgres_in_use(), "the outage is a real refused connection")
    from django.db import connection

    from monitoring import sli

    settings.SLI_FLUSH_SECONDS = 5  # as in production: the request path never writes them
    monkeypatch.setattr(sli, "_ensure_flusher", lambda: None)  # this test flushes, below
    errors_before = sum(ApiMinute.objects.filter(endpoint="predict")
                        .values_list("server_errors", flat=True))

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        answer = send(CASES[0], feature_names, callers)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert answer.status == 503, answer.content
    assert pinned(answer) == {**SECURITY, "content-type": JSON, "retry-after": "1"}
    assert answer.json() == error("database_unavailable",
                                  "the database is unavailable; retry shortly")
    sli.flush()
    errors_after = sum(ApiMinute.objects.filter(endpoint="predict")
                       .values_list("server_errors", flat=True))
    assert errors_after - errors_before == 1


# --- the same contract with the web worker's background refresher running --------------------
@pytest.fixture
def refreshing(settings):
    """The production refresh periods and a running refresher (predictions/api/refresher.py),
    as in a web worker: configuration, model and tokens are re-read on its thread."""
    from predictions.api import refresher

    settings.CONFIG_REFRESH_SECONDS = 0.5
    settings.API_TOKEN_CACHE_SECONDS = 1.0
    refresher.start()
    yield refresher
    refresher.stop()


@pytest.mark.django_db(transaction=True)
def test_with_the_refresher_running_every_case_answers_as_pinned(callers, model_version,
                                                                 feature_names, refreshing):
    """Every pinned case, in turn, through the same application while the refresher thread
    re-reads the configuration and tokens on its own connection (committed rows)."""
    for case in CASES:
        caches["default"].clear()
        test_predict_answers_as_pinned(case, callers, model_version, feature_names)


def _database_away(connection, port: int):
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port))


@pytest.mark.django_db(transaction=True)
def test_with_the_database_away_and_synchronous_sli_it_still_answers_503(
        callers, model_version, feature_names, settings):
    """SLI_FLUSH_SECONDS=0 (the rollups written in the request, as tests and some setups run):
    the flush meeting the outage keeps the counts for later and the 503 goes out, not a
    500."""
    need("PostgreSQL", postgres_in_use(), "the outage is a real refused connection")
    from django.db import connection

    from monitoring import sli

    assert settings.SLI_FLUSH_SECONDS == 0
    errors_before = sum(ApiMinute.objects.filter(endpoint="predict")
                        .values_list("server_errors", flat=True))
    saved = dict(connection.settings_dict)
    _database_away(connection, free_port())
    try:
        answer = send(CASES[0], feature_names, callers)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert answer.status == 503, answer.content
    assert pinned(answer) == {**SECURITY, "content-type": JSON, "retry-after": "1"}
    assert answer.json() == error("database_unavailable",
                                  "the database is unavailable; retry shortly")
    sli.flush()
    errors_after = sum(ApiMinute.objects.filter(endpoint="predict")
                       .values_list("server_errors", flat=True))
    assert errors_after - errors_before == 1


@pytest.mark.django_db(transaction=True)
def test_once_the_refresher_finds_the_database_away_predict_answers_503_without_it(
        callers, model_version, feature_names, settings):
    """A refresher round that cannot reach the database marks it away: a warm request then
    answers the outage's 503 at once (here the database is back for the request itself, so
    the answer can only come from the refresher's finding), until a round succeeds."""
    need("PostgreSQL", postgres_in_use(), "the outage is a real refused connection")
    from django.db import OperationalError, connection

    from predictions.api import outage, refresher

    settings.CONFIG_REFRESH_SECONDS = 0.5
    settings.API_TOKEN_CACHE_SECONDS = 1.0
    assert send(CASES[0], feature_names, callers).status == 200  # token and config warm
    saved = dict(connection.settings_dict)
    _database_away(connection, free_port())
    try:
        with pytest.raises(OperationalError):
            refresher.refresh_once()
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    try:
        assert outage.database_away()
        for who in ("client", "unknown"):  # remembered token, and one that needs the database
            answer = send(CASES[0], feature_names, {**callers, "client": callers[who]})
            assert answer.status == 503, (who, answer.content)
            assert pinned(answer) == {**SECURITY, "content-type": JSON, "retry-after": "1"}
            assert answer.json() == error("database_unavailable",
                                          "the database is unavailable; retry shortly")
        refresher.refresh_once()
        assert outage.database_away() is None
        assert send(CASES[0], feature_names, callers).status == 200
    finally:
        outage.watch(False)
