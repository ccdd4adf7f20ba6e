"""Predictions in the admin: rounded scores, time ranges, filters by product, variant and
realized label, and a page with the features and both variants' scores."""

from __future__ import annotations

import pytest

from predictions.models import Prediction
from tests.helpers import matured_rows

pytestmark = pytest.mark.django_db
LIST = "/admin/predictions/prediction/"


def test_the_list_rounds_scores_and_offers_time_product_variant_and_label_filters(
        client, staff_user, model_version):
    matured_rows(model_version, [0.123456789012], [0.987654321098], [True])
    client.force_login(staff_user)
    page = client.get(LIST).content.decode()
    assert "0.1235" in page and "0.9877" in page and "0.123456789012" not in page
    assert "event_ts__gte" in page  # fixed time ranges, no distinct-month scan
    for filter_key in ("product_id", "variant", "outcome="):
        assert filter_key in page
    filtered = client.get(LIST, {"variant__exact": "baseline"}).content.decode()
    assert "0.1235" not in filtered


def test_a_prediction_page_shows_its_features_and_both_scores(client, staff_user, model_version):
    matured_rows(model_version, [0.25], [0.75], [False])
    row = Prediction.objects.get()
    Prediction.objects.filter(pk=row.pk).update(features={"rv_60s": 0.00123456789})
    client.force_login(staff_user)
    page = client.get(f"{LIST}{row.pk}/change/").content.decode()
    assert page.count("<table class=\"scores\">") == 1
    assert "0.2500" in page and "0.7500" in page and "served" in page and "shadow" in page
    assert "rv_60s" in page and "0.001235" in page


def test_the_list_neither_counts_nor_scans_the_table_nor_loads_blobs(client, staff_user,
                                                                    model_version):
    """A page reads its 100 rows through an index: the count stops at the cap, products come
    from an index walk, no distinct-month scan, no model version blobs, no features."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from predictions.admin.predictions import COUNT_CAP

    matured_rows(model_version, [0.2] * 150, [0.3] * 150, [False] * 150)
    client.force_login(staff_user)
    client.get(LIST)
    with CaptureQueriesContext(connection) as captured:
        page = client.get(LIST, {"variant__exact": "ml"}).content.decode()
    sql = [q["sql"] for q in captured if "predictions_prediction" in q["sql"]]
    assert "150 predictions" in page and "BTC-USD" in page
    assert not [s for s in sql if "DISTINCT" in s.upper()]
    counts = [s for s in sql if "COUNT(" in s.upper()]
    assert counts and all(f"LIMIT {COUNT_CAP + 1}" in s for s in counts)
    listing = [s for s in sql if "ORDER BY" in s and "LIMIT 100" in s]
    assert len(listing) == 1
    assert '"features"' not in listing[0] and '"artifact"' not in listing[0]
