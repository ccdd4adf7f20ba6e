"""Predictions in the admin: rounded scores, a date hierarchy, filters by product, variant and
realized label, and a page with the features and both variants' scores."""

from __future__ import annotations

import pytest

from predictions.models import Prediction
from tests.helpers import matured_rows

pytestmark = pytest.mark.django_db
LIST = "/admin/predictions/prediction/"


def test_the_list_rounds_scores_and_offers_a_date_hierarchy_and_filters(
        client, staff_user, model_version):
    matured_rows(model_version, [0.123456789012], [0.987654321098], [True])
    client.force_login(staff_user)
    page = client.get(LIST).content.decode()
    assert "0.1235" in page and "0.9877" in page and "0.123456789012" not in page
    assert "event_ts__year" in page or "event_ts__month" in page or "event_ts__day" in page
    for filter_key in ("product_id", "variant", "realized_label"):
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
