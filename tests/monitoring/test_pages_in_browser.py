"""The operator's pages in a real headless Chromium (Debian package `chromium`, driven by
Playwright for Python), served for real by pytest-django's live server: the SLO page, and a
rollback to the baseline through the Django admin. Each test also checks that the page made
no request to another host (every asset is served by us), logged no console error and had no
failed response. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from tests.helpers import need

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
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
    chromium = shutil.which("chromium")
    need("Chromium", chromium is not None,
         "install the Debian package chromium (scripts/provision-test.sh does, as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("Playwright for Python", False, "pip install -r requirements-dev.txt")
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses
    # ORM calls under a running loop; the test body is plain synchronous code, so it is safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes our own, fresh --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(15_000)
            seen = Browser(page=page, base=live_server.url)
            page.on("console", lambda m: m.type == "error" and seen.console_errors.append(
                f"{m.text} ({m.location.get('url')})"))
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.on("response", lambda r: r.status >= 400 and seen.failed.append(
                f"{r.status} {r.url}"))
            yield seen
        finally:
            context.close()
            # The test's ORM connection was opened while Playwright's loop ran in this thread;
            # Django's connection teardown does not see it, so close it here, or it outlives
            # the test and blocks dropping the test database.
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

@pytest.fixture
def slo_history(model_version):
    """An hour in which availability held, latency did not, and the stream was quick."""
    from monitoring.models import ApiMinute
    from predictions.models import Prediction

    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    ApiMinute.objects.create(minute=minute, endpoint="predict", requests=1000, server_errors=2,
                             client_errors=10, le_10ms=900, le_25ms=950, le_50ms=970,
                             le_100ms=985, le_250ms=999, le_500ms=1000, le_1000ms=1000)
    now = timezone.now()
    Prediction.objects.bulk_create(
        Prediction(product_id="BTC-USD", event_ts=now - timedelta(milliseconds=300), features={},
                   variant="ml", score=0.1, label=False, threshold=0.5,
                   shadow_variant="baseline", shadow_score=0.1, model_version=model_version,
                   topic="ticks.raw", partition=0, offset=i)
        for i in range(20))


def test_the_slo_page_shows_every_slo_with_its_status(browser, staff_user, slo_history, tmp_path):
    from monitoring.selectors import WINDOWS, slo_statuses
    from predictions.config import current_config

    expected = {s.key: s for s in slo_statuses(config=current_config(), window=WINDOWS["1h"])}
    assert {s.status for s in expected.values()} == {"ok", "breaching"}  # the history's point

    log_in(browser, staff_user.username)
    response = browser.goto("/slo/?window=1h")
    assert response.status == 200
    page = browser.page
    assert page.title() == "SLO status | Volsite"
    assert page.locator("h1").inner_text() == "Service level objectives"

    # SLI and target as percentages, precise enough to compare with targets like 99.5 %.
    shown = {"api_availability": ("99.80 %\n(0.99800)", "99.50 %"),
             "api_latency": ("98.50 %\n(0.98500)", "99.00 %"),
             "stream_latency": ("100.00 %\n(1.00000)", "99.00 %")}
    assert set(shown) == set(expected)
    for key, slo in expected.items():
        row = page.locator(f"#slo-{key}")
        assert row.is_visible()
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == slo.name
        assert (cells[2], cells[3]) == shown[key]
        assert cells[4] == f"{slo.good} / {slo.total}"
        status = row.locator("td").last
        assert status.inner_text() == slo.status
    # The admin's own header: where the operator came from, and how to leave.
    assert page.locator(".breadcrumbs").inner_text() == "Home › Service level objectives"
    user_tools = page.locator("#user-tools").inner_text().lower()
    assert "slo status" in user_tools and "log out" in user_tools
    # Statuses are coloured by the page's own stylesheet: green for ok, red for breaching.
    colour = "el => getComputedStyle(el).color"
    assert page.locator("#slo-api_availability td").last.evaluate(colour) == "rgb(26, 127, 55)"
    assert page.locator("#slo-api_latency td").last.evaluate(colour) == "rgb(207, 34, 46)"
    assert page.locator("#freshness").evaluate(colour) == "rgb(26, 127, 55)"
    # The admin's stylesheet applies (served locally): the header bar is not unstyled.
    assert page.locator("#header").evaluate("el => getComputedStyle(el).display") == "flex"
    assert any(urlsplit(u).path.endswith("/admin/css/base.css") for u in browser.requests)

    screenshot(browser, tmp_path, "slo")
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
