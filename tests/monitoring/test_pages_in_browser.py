"""The operator's pages in a real headless Chromium (Debian package `chromium`, driven by
Playwright for Python), served for real by pytest-django's live server: the SLO page, and a
rollback to the baseline through the Django admin. Each test also checks that the page made
no request to another host (every asset is served by us), logged no console error and had no
failed response. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from tests.browser import chromium_context, chromium_path
from tests.helpers import close_loop_connections, need

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-ops-12345"  # tests/conftest.py, staff_user


@dataclass
class Browser:
    """A Chromium page and what it did: console errors, uncaught exceptions, every request
    and every response with an error status."""

    page: object
    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def goto(self, path: str):
        return self.page.goto(self.base + path)

    def assert_clean(self) -> None:
        """Every request went to our server, nothing failed, nothing was logged as an error."""
        ours = urlsplit(self.base).netloc
        outside = [u for u in self.requests
                   if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                   and urlsplit(u).netloc != ours]
        assert outside == [], "requests to other hosts"
        assert self.failed == [], "responses with an error status"
        assert self.console_errors == [], "console errors"
        assert self.page_errors == [], "uncaught page errors"


@pytest.fixture
def browser(live_server, tmp_path, monkeypatch):
    need("Chromium", chromium_path() is not None,
         "install the Debian package chromium (scripts/provision-test.sh does, as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need("Playwright for Python", False, "pip install -r requirements-dev.txt")
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses
    # ORM calls under a running loop; the test body is plain synchronous code, so it is safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        with chromium_context(tmp_path / "chromium-profile") as context:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(15_000)
            seen = Browser(page=page, base=live_server.url)
            page.on("console", lambda m: m.type == "error" and seen.console_errors.append(
                f"{m.text} ({m.location.get('url')})"))
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.on("response", lambda r: r.status >= 400 and seen.failed.append(
                f"{r.status} {r.url}"))
            try:
                yield seen
            finally:
                close_loop_connections()
    finally:
        connections.close_all()



def log_in(browser: Browser, username: str, password: str = PASSWORD) -> None:
    """Through the admin's login form, as an operator does."""
    browser.goto("/admin/login/?next=/admin/")
    browser.page.fill("#id_username", username)
    browser.page.fill("#id_password", password)
    browser.page.click("input[type=submit]")
    browser.page.wait_for_url("**/admin/")


def save(browser: Browser):
    """Press the change form's Save and wait for the page that answers."""
    with browser.page.expect_navigation():
        browser.page.click("input[name=_save]")


def screenshot(browser: Browser, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    browser.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


# --- The SLO page -----------------------------------------------------------------------------

def linked_json(browser: Browser, selector: str) -> dict:
    """The JSON a link of the page points to, fetched with the page's session."""
    href = browser.page.get_attribute(selector, "href")
    answer = browser.page.request.get(browser.base + "/slo/" + href)
    assert answer.status == 200
    return json.loads(answer.body())


@pytest.fixture
def slo_history(model_version):
    """50 minutes in which availability held, latency burnt its budget, the stream was quick,
    and a product wrote a prediction just now; drift reports were never counted. (Not a full
    hour: the 1 h window must hold every row even if the page loads a minute later.)"""
    from monitoring.models import SloMinute, TickLatencyMinute
    from tests.helpers import make_prediction

    now = timezone.now().replace(second=0, microsecond=0)
    for m in range(50):
        minute = now - timedelta(minutes=m)
        SloMinute.objects.bulk_create([
            SloMinute(slo="api_availability", minute=minute, good=999, total=1000),
            SloMinute(slo="api_latency", minute=minute, good=850, total=1000),
            SloMinute(slo="stream_latency", minute=minute, good=300, total=300),
            SloMinute(slo="prediction_freshness", minute=minute, good=1, total=1)])
        TickLatencyMinute.objects.create(minute=minute, ticks=300, le_100ms=100 + m,
                                         le_250ms=250, le_500ms=290, le_1s=300, le_2500ms=300,
                                         le_5s=300, le_10s=300, le_30s=300, le_60s=300)
    make_prediction(model_version, 1)


def test_the_slo_page_shows_five_slos_their_burn_rates_and_charts(browser, staff_user,
                                                                   slo_history, tmp_path):
    log_in(browser, staff_user.username)
    response = browser.goto("/slo/?window=1h")
    assert response.status == 200
    page = browser.page
    assert page.title() == "SLO status | Volsite"
    assert page.locator("h1").inner_text() == "Service level objectives"

    # Five SLOs; SLI and target as percentages, precise enough to compare with 99.5 %.
    rows = page.locator("#slo-table tbody tr")
    assert rows.count() == 5
    shown = {"api_availability": ("99.90 %\n(0.99900)", "99.50 %", "49950 / 50000", "ok", "ok"),
             "api_latency": ("85.00 %\n(0.85000)", "99.00 %", "42500 / 50000", "breaching",
                             "page"),
             "stream_latency": ("100.00 %\n(1.00000)", "99.00 %", "15000 / 15000", "ok", "ok"),
             "prediction_freshness": ("100.00 %\n(1.00000)", "99.00 %", "50 / 50", "ok", "ok"),
             "drift_freshness": ("—", "99.00 %", "0 / 0", "no data", "no data")}
    for key, (sli, target, events, status, alert) in shown.items():
        cells = page.locator(f"#slo-{key} td").all_inner_texts()
        assert (cells[2], cells[3], cells[4], cells[6], cells[7]) == \
            (sli, target, events, status, alert), key
    # Burn rates over the seven windows: 15 % slow against 1 % allowed is 15×, a page.
    burn = page.locator("#burn-api_latency td").all_inner_texts()
    assert burn[1:8] == ["15.00×"] * 7
    assert burn[8] == "fast_burn, slow_burn, budget_burn, budget_drain"
    assert page.locator("#burn-drift_freshness td").all_inner_texts()[1:8] == ["—"] * 7
    # Charts: inline SVG, drawn, with their titles.
    charts = page.locator("figure.slo-chart svg")
    assert charts.count() == 11
    assert charts.first.bounding_box()["width"] > 300
    assert "p50 / p99" in page.locator("#chart-stream-quantiles svg title").text_content()
    assert page.locator("#chart-stream-quantiles svg path[stroke]").count() >= 2
    # The admin's own header: where the operator came from, and how to leave.
    assert page.locator(".breadcrumbs").inner_text() == "Home › Service level objectives"
    user_tools = page.locator("#user-tools").inner_text().lower()
    assert "slo status" in user_tools and "log out" in user_tools
    # Coloured by the page's own stylesheet: green for ok, red for breaching and pages.
    colour = "el => getComputedStyle(el).color"
    assert page.locator("#slo-api_availability td").nth(6).evaluate(colour) == "rgb(26, 127, 55)"
    assert page.locator("#slo-api_latency td").nth(6).evaluate(colour) == "rgb(207, 34, 46)"
    assert page.locator("#slo-api_latency td").last.evaluate(colour) == "rgb(207, 34, 46)"
    assert page.locator("#freshness").evaluate(colour) == "rgb(26, 127, 55)"
    assert any(urlsplit(u).path.endswith("/admin/css/base.css") for u in browser.requests)

    screenshot(browser, tmp_path, "slo")
    data = linked_json(browser, "#slo-json")  # the JSON link: the same numbers
    assert [s["key"] for s in data["slos"]] == list(shown)
    assert next(s for s in data["slos"] if s["key"] == "api_latency")["alert"]["level"] == "page"
    browser.assert_clean()


# --- Rollback in the admin --------------------------------------------------------------------

def open_service_configuration(browser: Browser) -> None:
    """From the admin index, as an operator would find it."""
    browser.goto("/admin/")
    browser.page.get_by_role("link", name="Service configuration", exact=True).click()
    browser.page.wait_for_url("**/admin/predictions/serviceconfig/1/change/")


def test_an_operator_rolls_back_to_the_baseline_in_the_admin(browser, staff_user, model_version,
                                                            tmp_path):
    from predictions.models import ConfigAuditEntry, ServiceConfig

    before = ServiceConfig.objects.get()
    assert before.active_variant == "ml"
    audit_entries = ConfigAuditEntry.objects.count()
    log_in(browser, staff_user.username)
    open_service_configuration(browser)
    page = browser.page
    page.select_option("#id_active_variant", label="Baseline rule (rollback)")
    page.fill("#id_reason", "rollback drill in the browser")
    save(browser)

    success = page.locator(".messagelist .success")
    assert success.count() == 1
    assert "serving Baseline rule (rollback)" in success.inner_text()
    assert page.locator("#id_active_variant").input_value() == "baseline"
    screenshot(browser, tmp_path, "admin-rollback")

    config = ServiceConfig.objects.get()
    assert config.active_variant == "baseline" and config.version == before.version + 1
    assert ConfigAuditEntry.objects.count() == audit_entries + 1
    entry = ConfigAuditEntry.objects.first()  # the newest
    assert entry.actor == staff_user and entry.reason == "rollback drill in the browser"
    assert entry.changes["active_variant"] == ["ml", "baseline"]
    # What the API answers, asked by the browser (the version endpoint is open).
    answer = page.request.get(browser.base + "/api/v1/version",
                              headers={"Accept": "application/json"})
    assert answer.status == 200
    assert json.loads(answer.body())["model_variant"] == "baseline"
    assert answer.headers["x-model-variant"] == "baseline"
    browser.assert_clean()


def test_the_admin_refuses_ml_with_a_tampered_artifact_and_says_why(browser, staff_user,
                                                                    model_version, tmp_path):
    from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig

    ServiceConfig.objects.filter(pk=1).update(active_variant="baseline")
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    audit_entries = ConfigAuditEntry.objects.count()
    log_in(browser, staff_user.username)
    open_service_configuration(browser)
    page = browser.page
    page.select_option("#id_active_variant", label="ML model")
    page.fill("#id_reason", "back to ML")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        save(browser)
    # The form comes back (200) with its errors; that is the refusal, not a failure.
    assert posted.value.status == 200

    assert "Please correct the error below." in page.locator(".errornote").inner_text()
    refusal = page.locator(".errorlist.nonfield").inner_text()
    assert f"Cannot serve ml with {model_version.name}" in refusal
    assert "sha256 mismatch" in refusal
    assert page.locator(".messagelist .success").count() == 0
    screenshot(browser, tmp_path, "admin-refused")

    assert ServiceConfig.objects.get().active_variant == "baseline"
    assert ConfigAuditEntry.objects.count() == audit_entries
    browser.assert_clean()


def test_the_admin_asks_for_a_reason_before_a_rollback(browser, staff_user, model_version):
    from predictions.models import ServiceConfig

    log_in(browser, staff_user.username)
    open_service_configuration(browser)
    page = browser.page
    page.select_option("#id_active_variant", label="Baseline rule (rollback)")
    save(browser)  # the admin's forms skip the browser's own validation (novalidate)

    assert "This field is required." in page.locator(".field-reason .errorlist").inner_text()
    assert page.locator(".messagelist .success").count() == 0
    assert ServiceConfig.objects.get().active_variant == "ml"
    # The choice is kept; with a reason the same rollback goes through.
    assert page.locator("#id_active_variant").input_value() == "baseline"
    page.fill("#id_reason", "rollback drill, with a reason")
    save(browser)
    assert page.locator(".messagelist .success").count() == 1
    assert ServiceConfig.objects.get().active_variant == "baseline"
    browser.assert_clean()


# --- The operator's cockpit (#12) ---------------------------------------------------------------

def test_an_operator_sees_the_overview_rolls_back_a_version_and_finds_it_on_the_timeline(
        browser, staff_user, model_version, trained, tmp_path):
    from predictions.models import ConfigAuditEntry, ServiceConfig
    from predictions.services import model_version_activate, model_version_create

    newer = model_version_create(result=trained, name="newer", data_source="tests",
                                 algorithm="test")
    model_version_activate(version=newer, actor_name="tests", reason="newer promoted")
    log_in(browser, staff_user.username)
    page = browser.page
    overview = page.locator("#operations-overview")
    assert overview.is_visible()
    assert "with model version newer" in page.locator("#overview-serving").inner_text()
    for chart in ("#chart-scores", "#chart-pr-auc", "#chart-drift"):
        assert page.locator(f"{chart} svg").count() == 1
        assert page.locator(f"{chart} svg").bounding_box()["width"] > 200
    screenshot(browser, tmp_path, "overview")

    browser.goto("/admin/predictions/modelversion/")
    page.locator(f"input[name=_selected_action][value='{newer.pk}']").check()
    page.select_option("select[name=action]", "rollback_previous")
    page.fill("input[name=reason]", "newer misbehaves on live data")
    with page.expect_navigation():
        page.click("button[name=index]")
    said = page.locator(".messagelist").inner_text().lower()
    assert f"{model_version.name} is now promoted" in said

    answer = page.request.get(browser.base + "/api/v1/version",
                              headers={"Accept": "application/json"})
    assert json.loads(answer.body())["model_version"] == model_version.name
    assert ServiceConfig.objects.get().active_model_version == model_version

    browser.goto("/admin/predictions/configauditentry/")
    first_row = page.locator("#result_list tbody tr").first.inner_text()
    assert "rollback" in first_row and "newer misbehaves on live data" in first_row
    assert model_version.name in first_row
    assert ConfigAuditEntry.objects.first().source == "rollback"
    screenshot(browser, tmp_path, "timeline")
    browser.assert_clean()
