"""History pages by cursor on (event_ts, id): every row once, newest first, without COUNT(*)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def predictions(version, n: int) -> list[Prediction]:
    """n rows, three to an event time (ties the cursor must break by id)."""
    now = timezone.now()
    return Prediction.objects.bulk_create([Prediction(
        product_id="BTC-USD" if i % 2 else "ETH-USD", event_ts=now - timedelta(seconds=i // 3),
        features={}, variant="ml", score=i / 1000, label=False, threshold=0.5,
        shadow_variant="baseline", shadow_score=0.1, model_version=version, topic="ticks.raw",
        partition=0, offset=i) for i in range(n)])


def walk(api_client, query: dict) -> tuple[list[float], list[str]]:
    ids, sqls, url = [], [], "/api/v1/predictions"
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(url, query if url == "/api/v1/predictions" else None)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["score"] for row in body["results"]]  # unique per row here
        sqls += [q["sql"] for q in queries.captured_queries]
        url = body["next"]
    return ids, sqls


def test_history_pages_by_cursor_with_every_row_once_newest_first(api_client, model_version,
                                                                  settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 7}
    rows = predictions(model_version, 50)
    ids, sqls = walk(api_client, {})
    expected = [r.score for r in sorted(rows, key=lambda r: (r.event_ts, r.id), reverse=True)]
    assert ids == expected
    assert not any("COUNT(" in sql.upper() for sql in sqls)


def test_filters_apply_across_pages(api_client, model_version, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 4}
    rows = predictions(model_version, 30)
    ids, _ = walk(api_client, {"product": "BTC-USD", "variant": "ml"})
    assert sorted(ids) == sorted(r.score for r in rows if r.product_id == "BTC-USD")


def test_the_schema_lists_the_filters_and_the_cursor(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/predictions"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"product", "variant", "since", "until", "cursor"} <= names
    assert "400" in operation["responses"]
