from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import ApiMinute
from monitoring.slo import BREACHING, NO_DATA, OK, SloStatus

pytestmark = pytest.mark.django_db


def test_an_slo_spends_its_error_budget():
    half_spent = SloStatus("a", "A", "", target=0.99, good=995, total=1000)
    assert half_spent.status == OK and half_spent.budget_remaining == pytest.approx(0.5)
    breached = SloStatus("a", "A", "", target=0.99, good=980, total=1000)
    assert breached.status == BREACHING and breached.budget_remaining == pytest.approx(-1.0)
    assert SloStatus("a", "A", "", target=0.99, good=0, total=0).status == NO_DATA


def test_requests_are_rolled_up_per_minute(api_client, model_version, feature_names):
    for _ in range(3):
        api_client.post("/api/v1/predict", data=json.dumps(
            {"rows": [{n: 0.001 for n in feature_names}]}), content_type="application/json")
    api_client.post("/api/v1/predict", data="{", content_type="application/json")
    row = ApiMinute.objects.get(endpoint="predict")
    assert row.requests == 4 and row.client_errors == 1 and row.server_errors == 0
    assert row.le_1000ms == 4


def test_the_slo_page_computes_slis_from_the_rollups(client, staff_user, model_version):
    now = timezone.now().replace(second=0, microsecond=0)
    ApiMinute.objects.create(minute=now - timedelta(minutes=5), endpoint="predict",
                             requests=1000, server_errors=2, client_errors=10,
                             le_10ms=900, le_25ms=950, le_50ms=970, le_100ms=985, le_250ms=999,
                             le_500ms=1000, le_1000ms=1000)
    client.force_login(staff_user)
    page = client.get("/slo/?window=1h")
    assert page.status_code == 200
    slos = {s.key: s for s in page.context["slos"]}
    assert slos["api_availability"].good == 998 and slos["api_availability"].total == 1000
    assert slos["api_availability"].status == OK  # 99.8 % ≥ 99.5 %
    assert slos["api_latency"].good == 985  # within 100 ms
    assert slos["api_latency"].status == BREACHING  # 98.5 % < 99 %
    assert slos["stream_latency"].status == NO_DATA
    assert b"Predict API availability" in page.content


def test_the_slo_page_is_for_staff(client, db):
    response = client.get("/slo/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
