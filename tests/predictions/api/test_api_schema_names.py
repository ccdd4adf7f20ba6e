"""The OpenAPI document reads right (issue #22): components have proper names (no
"PredictRequestRequest"), open endpoints carry no security (Swagger drew a lock on the open
/ready), and served-at documents its null variant."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

OPEN = ["/api/v1/health", "/api/v1/ready", "/api/v1/version"]
TOKEN = ["/api/v1/predict", "/api/v1/predictions", "/api/v1/products/{product_id}/latest",
         "/api/v1/served-at"]


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_no_component_repeats_its_request_suffix(schema):
    names = set(schema["components"]["schemas"])
    assert not [n for n in names if n.endswith("RequestRequest")]
    assert {"PredictRequest", "PredictResponse"} <= names
    body = schema["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/PredictRequest"}


@pytest.mark.parametrize("path", OPEN)
def test_open_endpoints_carry_no_security(schema, path):
    operation = schema["paths"][path]["get"]
    assert "security" not in operation
    assert not schema.get("security")  # nor a document-wide default that would apply


@pytest.mark.parametrize("path", TOKEN)
def test_token_endpoints_say_how_to_authenticate(schema, path):
    operation = next(iter(schema["paths"][path].values()))
    assert {"tokenAuth": []} in operation["security"]


def test_served_at_documents_a_null_variant_before_the_first_version(schema):
    variant = schema["components"]["schemas"]["ServedAt"]["properties"]["model_variant"]
    assert variant["nullable"] is True
    assert "no model version" in variant["description"]
