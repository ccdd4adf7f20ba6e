"""The SLO page and its JSON read the per-minute counts: five SLOs, each window exactly the
minutes it names, burn rates, alert state and charts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import ApiMinute, SloHour, SloMinute
from monitoring.services import slo_hours_rebuild
from monitoring.slo import BREACHING, NO_DATA, OK, SLO_KEYS, SloStatus
from predictions.services import service_config_update

pytestmark = pytest.mark.django_db


def minute_ago(minutes: int):
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes)


def page_json(client, window: str = "24h") -> dict:
    response = client.get(f"/slo/?window={window}&format=json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def test_an_slo_spends_its_error_budget():
    half_spent = SloStatus("a", "A", "", target=0.99, good=995, total=1000)
    assert half_spent.status == OK and half_spent.budget_remaining == pytest.approx(0.5)
    breached = SloStatus("a", "A", "", target=0.99, good=980, total=1000)
    assert breached.status == BREACHING and breached.budget_remaining == pytest.approx(-1.0)
    assert SloStatus("a", "A", "", target=0.99, good=0, total=0).status == NO_DATA


def test_requests_are_rolled_up_per_minute_and_counted_for_the_api_slos(
        api_client, model_version, feature_names):
    for _ in range(3):
        api_client.post("/api/v1/predict", data=json.dumps(
            {"rows": [{n: 0.001 for n in feature_names}]}), content_type="application/json")
    api_client.post("/api/v1/predict", data="{", content_type="application/json")
    row = ApiMinute.objects.get(endpoint="predict")
    assert row.requests == 4 and row.client_errors == 1 and row.server_errors == 0
    slo = {r.slo: (r.good, r.total) for r in SloMinute.objects.all()}
    assert slo["api_availability"] == (4, 4)  # a 4xx is the client's fault: a good event
    assert slo["api_latency"][1] == 4
    hours = {r.slo: (r.good, r.total) for r in SloHour.objects.all()}
    assert hours == slo  # the hour rows move with the minute rows


def test_the_page_shows_five_slos_from_the_minute_counts(client, staff_user, model_version):
    SloMinute.objects.create(slo="api_availability", minute=minute_ago(5), good=998, total=1000)
    SloMinute.objects.create(slo="api_latency", minute=minute_ago(5), good=985, total=1000)
    SloMinute.objects.create(slo="prediction_freshness", minute=minute_ago(3), good=1, total=1)
    client.force_login(staff_user)
    page = client.get("/slo/?window=1h")
    assert page.status_code == 200
    reports = {r.definition.key: r for r in page.context["page"].reports}
    assert tuple(reports) == SLO_KEYS and len(SLO_KEYS) == 5
    assert (reports["api_availability"].status.good, reports["api_availability"].status.total) \
        == (998, 1000)
    assert reports["api_availability"].status.status == OK  # 99.8 % ≥ 99.5 %
    assert reports["api_latency"].status.status == BREACHING  # 98.5 % < 99 %
    assert reports["api_latency"].burn_rates["5m"] is None  # 5 minutes ago is outside it
    assert reports["api_latency"].burn_rates["30m"] == pytest.approx(1.5)
    assert reports["stream_latency"].status.status == NO_DATA
    assert reports["drift_freshness"].alert.level == "no data"
    html = page.content.decode()
    for name in ("Predict API availability", "Tick-to-prediction latency",
                 "Prediction freshness", "Drift-report freshness", "Burn rates"):
        assert name in html
    # Inline SVG drawn by the server: 5 × (SLI, budget left) and the stream's p50/p99.
    charts = html.count('<figure class="slo-chart"')
    assert charts == 11 and html.count('viewBox="0 0 640 400"') == charts


def test_a_window_counts_exactly_its_minutes(client, staff_user, db):
    SloMinute.objects.create(slo="stream_latency", minute=minute_ago(59), good=90, total=100)
    SloMinute.objects.create(slo="stream_latency", minute=minute_ago(61), good=0, total=50)
    SloMinute.objects.create(slo="stream_latency", minute=minute_ago(29 * 24 * 60), good=7, total=7)
    SloMinute.objects.create(slo="stream_latency", minute=minute_ago(31 * 24 * 60), good=0, total=9)
    slo_hours_rebuild()  # long windows read hour rows (the flush writes both)
    client.force_login(staff_user)
    slos = {s["key"]: s for s in page_json(client, "1h")["slos"]}
    assert (slos["stream_latency"]["good"], slos["stream_latency"]["total"]) == (90, 100)
    slos = {s["key"]: s for s in page_json(client, "30d")["slos"]}
    assert (slos["stream_latency"]["good"], slos["stream_latency"]["total"]) == (97, 157)
    assert slos["stream_latency"]["sli"] == pytest.approx(97 / 157)
    assert slos["stream_latency"]["budget_remaining"] == pytest.approx(1 - 60 / (0.01 * 157))


def test_the_json_has_burn_rates_alert_state_and_chart_points(client, staff_user, db):
    # Every event bad for the last 10 minutes: a burn of 100 in every window that sees them.
    for m in range(10):
        SloMinute.objects.create(slo="api_latency", minute=minute_ago(m), good=0, total=10)
    client.force_login(staff_user)
    data = page_json(client, "1h")
    assert data["burn_windows"] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert [t["alert"] for t in data["alert_tiers"]] == [
        "VolsiteSloFastBurn", "VolsiteSloSlowBurn", "VolsiteSloBudgetBurn",
        "VolsiteSloBudgetDrain"]
    latency = next(s for s in data["slos"] if s["key"] == "api_latency")
    assert latency["burn_rates"] == {w: pytest.approx(100.0) for w in data["burn_windows"]}
    assert latency["alert"] == {"level": "page", "firing": [
        "fast_burn", "slow_burn", "budget_burn", "budget_drain"]}
    assert latency["budget_remaining"] == pytest.approx(-99.0)
    assert len(latency["points"]) == 60 and sum(p["total"] for p in latency["points"]) == 100
    assert latency["points"][-1]["budget_remaining"] == pytest.approx(-99.0)
    quiet = next(s for s in data["slos"] if s["key"] == "api_availability")
    assert quiet["burn_rates"]["5m"] is None and quiet["alert"]["level"] == "no data"
    assert set(data["tick_to_prediction_seconds"]) == {"p50", "p99"}


def test_targets_edited_through_the_audited_service_apply_to_the_page(client, staff_user, db):
    SloMinute.objects.create(slo="drift_freshness", minute=minute_ago(1), good=95, total=100)
    slo_hours_rebuild()
    service_config_update(actor_name="tests", reason="drift reports may lag",
                          slo_drift_freshness_target=0.9, slo_drift_freshness_seconds=3600)
    client.force_login(staff_user)
    drift = next(s for s in page_json(client)["slos"] if s["key"] == "drift_freshness")
    assert drift["target"] == 0.9 and drift["threshold"] == 3600
    assert drift["status"] == "ok" and drift["burn_rates"]["5m"] == pytest.approx(0.5)
    assert "3600 s" in drift["objective"]


def test_the_slo_page_and_its_json_are_for_staff(client, db):
    for url in ("/slo/", "/slo/?format=json"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_slo_without_events_draws_no_data_rather_than_a_target_line(db):
    from monitoring.slo_page import slo_charts, slo_page_build
    from predictions.config import current_config

    charts = slo_charts(slo_page_build(config=current_config(), window_key="1h"))
    for svg in charts["drift_freshness"].values():
        assert "no data" in svg
        assert "target 99.00%" not in svg
