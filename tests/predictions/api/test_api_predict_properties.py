"""Property-based: whatever body a client sends to predict, the answer is never a 5xx and
always matches what our own OpenAPI document (/api/schema/) says about that status."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

MAX_ROWS = 4
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8",
                 "application/json; charset=latin-1", "application/json; charset=nonsense",
                 "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=xyz", ""]
PROPERTY_RUN = hsettings(max_examples=250, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10**400, 10**400)
                | st.floats() | st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=12)
numbers = st.floats() | st.integers(-10**400, 10**400) | st.floats(-1e3, 1e3)


@st.composite
def rows(draw, names: list[str]) -> dict[str, Any]:
    if draw(st.integers(0, 2)) > 0:  # most rows are right, so whole bodies sometimes are
        return {n: draw(st.floats(-1e3, 1e3) | st.integers(-1000, 1000)) for n in names}
    row = {n: draw(numbers | json_values) for n in names}
    if draw(st.booleans()):
        row.pop(draw(st.sampled_from(sorted(row))))
    if draw(st.booleans()):
        row[draw(st.text(max_size=10))] = draw(numbers)
    return row


@st.composite
def bodies(draw, names: list[str]) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["rows", "rows", "rows", "json", "bytes", "truncated"]))
    if kind == "rows":
        body: Any = {"rows": draw(st.lists(rows(names), max_size=MAX_ROWS + 2)
                                  | st.sampled_from([None, {}, "rows", 1]))}
        if draw(st.integers(0, 3)) == 0:
            body["variant"] = draw(st.sampled_from(["ml", "baseline", "ML", ""]) | json_values)
        if draw(st.integers(0, 5)) == 0:
            body[draw(st.text(max_size=8))] = draw(json_values)
        data = json.dumps(body, allow_nan=True).encode()  # NaN/Infinity literals: not JSON
    elif kind == "json":
        data = json.dumps(draw(json_values), allow_nan=True).encode()
    elif kind == "bytes":
        data = draw(st.binary(max_size=64))
    else:
        full = json.dumps({"rows": [dict.fromkeys(names, 0.001)]}).encode()
        data = full[: draw(st.integers(0, len(full) - 1))]
    content_type = draw(st.sampled_from(CONTENT_TYPES[:2]) | st.sampled_from(CONTENT_TYPES))
    return data, content_type


def as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects → JSON Schema: `nullable` becomes a null alternative, and
    objects allow no properties beyond the documented ones."""
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture
def predict_contract(client) -> dict[str, Any]:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return {"responses": schema["paths"]["/api/v1/predict"]["post"]["responses"],
            "components": as_json_schema(schema["components"])}


@pytest.fixture
def staff_client(staff_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return client


def check_against_contract(contract: dict[str, Any], response) -> None:
    status = response.status_code
    assert status < 500, response.content
    documented = contract["responses"].get(str(status))
    assert documented is not None, f"undocumented status {status}: {response.content!r}"
    ref = documented["content"]["application/json"]["schema"]["$ref"]
    jsonschema.validate(json.loads(response.content),
                        {"$ref": ref, "components": contract["components"]})


def test_no_body_gets_a_5xx_or_an_answer_outside_the_schema(
        api_client, staff_client, model_version, feature_names, predict_contract, settings):
    settings.PREDICT_MAX_ROWS = MAX_ROWS
    settings.API_THROTTLE_RATES = {"predict": "off", "history": "off"}
    seen: set[int] = set()

    @PROPERTY_RUN
    @given(body=bodies(feature_names), as_staff=st.booleans())
    def property_(body: tuple[bytes, str], as_staff: bool) -> None:
        data, content_type = body
        client = staff_client if as_staff else api_client
        response = client.generic("POST", "/api/v1/predict", data, content_type=content_type)
        seen.add(response.status_code)
        check_against_contract(predict_contract, response)

    property_()
    assert {200, 400, 415} <= seen, seen  # the generator reaches the interesting answers


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_get_405_in_the_error_shape(api_client, model_version, predict_contract,
                                                  method):
    response = getattr(api_client, method)("/api/v1/predict")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    check_against_contract(predict_contract, response)


def test_the_other_answers_match_the_schema_too(client, api_client, model_version,
                                                 feature_names, predict_contract, settings):
    row = dict.fromkeys(feature_names, 0.001)
    check_against_contract(predict_contract, client.post(
        "/api/v1/predict", {"rows": [row]}, content_type="application/json"))  # 401
    check_against_contract(predict_contract, api_client.post(
        "/api/v1/predict", {"rows": [row], "variant": "ml"}, format="json"))  # 403
    settings.API_THROTTLE_RATES = {"predict": "1/minute", "history": "off"}
    from django.core.cache import cache

    cache.clear()
    api_client.post("/api/v1/predict", {"rows": [row]}, format="json")
    throttled = api_client.post("/api/v1/predict", {"rows": [row]}, format="json")
    assert throttled.status_code == 429
    check_against_contract(predict_contract, throttled)
    cache.clear()
