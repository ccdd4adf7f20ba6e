from __future__ import annotations

import json

import pytest

from predictions.services import service_config_update

pytestmark = pytest.mark.django_db


def row(names: list[str], value: float = 0.001) -> dict[str, float]:
    return {n: value for n in names}


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/api/v1/predict", data=data, content_type=content_type)


def test_it_scores_rows_with_the_active_variant(api_client, model_version, feature_names):
    response = post(api_client, {"rows": [row(feature_names), row(feature_names, 0.01)]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_variant"] == "ml"
    assert body["model_version"] == model_version.name
    assert len(body["scores"]) == 2 and all(0.0 <= s <= 1.0 for s in body["scores"])
    assert body["labels"] == [int(s >= body["threshold"]) for s in body["scores"]]
    assert body["threshold"] == pytest.approx(model_version.threshold)
    assert response["X-Model-Variant"] == "ml"


def test_a_flip_to_baseline_changes_the_next_answer(api_client, model_version, feature_names):
    assert post(api_client, {"rows": [row(feature_names)]}).json()["model_variant"] == "ml"
    service_config_update(actor_name="tests", reason="rollback drill", active_variant="baseline")
    body = post(api_client, {"rows": [row(feature_names)]}).json()
    assert body["model_variant"] == "baseline"
    assert body["threshold"] == pytest.approx(model_version.baseline_params["threshold"])


def test_it_requires_a_token(client, model_version, feature_names):
    response = post(client, {"rows": [row(feature_names)]})
    assert response.status_code in (401, 403)
    assert response.json()["error"] in {"not_authenticated", "authentication_failed"}


def _missing(names):
    r = row(names)
    r.pop(names[0])
    return {"rows": [r]}, names[0], "missing feature"


def _unknown(names):
    return {"rows": [{**row(names), "bogus": 1.0}]}, "bogus", "unknown feature"


def _string(names):
    return {"rows": [{**row(names), names[1]: "0.1"}]}, names[1], "expected a number, got string"


def _null(names):
    return {"rows": [{**row(names), names[1]: None}]}, names[1], "expected a number, got null"


def _bool(names):
    return {"rows": [{**row(names), names[2]: True}]}, names[2], "expected a number, got boolean"


def _inf(names):
    text = json.dumps({"rows": [row(names)]}).replace("0.001", "1e400", 1)
    return text, names[0], "not a finite number"


def _big_int(names):
    text = json.dumps({"rows": [row(names)]}).replace("0.001", "1" + "0" * 400, 1)
    return text, names[0], "not a finite number"


@pytest.mark.parametrize("case", [_missing, _unknown, _string, _null, _bool, _inf, _big_int])
def test_it_rejects_a_bad_value_with_the_row_and_field(api_client, model_version, feature_names,
                                                       case):
    body, field, reason = case(feature_names)
    response = post(api_client, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {"row": 0, "field": field, "reason": reason} in errors


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": []}, "rows"),
        ({}, "rows"),
        ({"rows": {"a": 1}}, "rows"),
        ([1, 2, 3], "body"),
        ({"rows": [1]}, None),
    ],
)
def test_it_rejects_a_malformed_body(api_client, model_version, body, field):
    response = post(api_client, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_it_rejects_a_nan_literal(api_client, model_version, feature_names):
    text = json.dumps({"rows": [row(feature_names)]}).replace("0.001", "NaN", 1)
    response = post(api_client, text)
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


def test_it_rejects_invalid_json_and_a_wrong_content_type(api_client, model_version):
    assert post(api_client, "{nope").status_code == 400
    response = post(api_client, "rows=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_it_rejects_an_oversized_batch(api_client, model_version, feature_names, settings):
    settings.PREDICT_MAX_ROWS = 5
    response = post(api_client, {"rows": [row(feature_names)] * 6})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "rows", "reason": "at most 5 rows per request"}]


def test_only_staff_may_choose_the_variant(api_client, staff_user, model_version, feature_names):
    body = {"rows": [row(feature_names)], "variant": "baseline"}
    assert post(api_client, body).status_code == 403
    api_client.force_authenticate(staff_user)
    response = post(api_client, body)
    assert response.status_code == 200
    assert response.json()["model_variant"] == "baseline"


def test_without_a_promoted_model_it_answers_503(api_client, db):
    response = post(api_client, {"rows": [{"rv_60s": 1.0}]})
    assert response.status_code == 503
    assert response.json()["error"] == "no_model"
