"""A history page reads what it shows and no more: the model version's name, never its
artifact, reference sample, metrics or card, in a fixed number of queries whatever the page
holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from predictions.models import ModelVersion
from tests.helpers import matured_rows

pytestmark = pytest.mark.django_db
BLOB_COLUMNS = [f'"predictions_modelversion"."{name}"' for name in ModelVersion.BLOB_FIELDS]


def queries_of(client, url: str, **params) -> tuple[dict, list[str]]:
    client.get(url, params)  # the token is verified once and then cached
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json(), [q["sql"] for q in captured]


@pytest.mark.parametrize("rows", [3, 100])
def test_a_history_page_reads_no_model_version_blob_in_two_queries(api_client, model_version,
                                                                   rows):
    matured_rows(model_version, [0.2] * rows, [0.3] * rows, [False] * rows)
    body, sql = queries_of(api_client, "/api/v1/predictions", product_id="BTC-USD")
    assert len(body["results"]) == rows
    assert {r["model_version"] for r in body["results"]} == {model_version.name}
    assert not [s for s in sql if any(col in s for col in BLOB_COLUMNS)]
    # the page (with the version's name joined in) and the SLI minute's upsert
    assert len([s for s in sql if "predictions_prediction" in s]) == 1


def test_latest_and_served_at_read_no_model_version_blob(api_client, model_version):
    matured_rows(model_version, [0.2], [0.3], [False])
    body, sql = queries_of(api_client, "/api/v1/products/BTC-USD/latest")
    assert body["model_version"] == model_version.name
    served, sql_at = queries_of(api_client, "/api/v1/served-at",
                                at=timezone.now().isoformat())
    assert served["model_version"] == model_version.name
    assert not [s for s in sql + sql_at if any(col in s for col in BLOB_COLUMNS)]
