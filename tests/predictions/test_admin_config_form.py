"""The service configuration form guides (issue #22): the required reason sits with the
serving change and says it is required; a failed save never names the unsaved state as the
current one; the admin's history names a save by what was saved; the overview says which
rollback it means."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry

from predictions.models import ModelVersion, ServiceConfig
from tests.helpers import CHANGE_URL, form_data

pytestmark = pytest.mark.django_db


def title_and_breadcrumb(page: str) -> tuple[str, str]:
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', page, re.S).group(1)
    return title, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", crumbs)).strip()


def test_the_reason_sits_with_the_serving_change_and_is_marked_required(client, staff_user,
                                                                       model_version):
    client.force_login(staff_user)
    page = client.get(CHANGE_URL).content.decode()
    serving = page[page.index("<h2"):page.index("Drift policy")]
    assert 'id="id_active_variant"' in serving and 'id="id_reason"' in serving
    assert re.search(r'<label class="required" for="id_reason">Reason for this change '
                     r"\(required\):</label>", page)
    assert re.search(r'<textarea [^>]*required[^>]*id="id_reason"|<textarea [^>]*id="id_reason"'
                     r"[^>]*required", page)


def test_a_save_without_a_reason_keeps_the_saved_state_in_title_and_breadcrumb(
        client, staff_user, model_version):
    client.force_login(staff_user)
    config = ServiceConfig.objects.get()
    response = client.post(CHANGE_URL, form_data(config, active_variant="baseline", reason=""))
    assert response.status_code == 200
    page = response.content.decode()
    assert "This field is required." in page
    title, crumbs = title_and_breadcrumb(page)
    saved = f"Service configuration (v{config.version}, serving ml)"
    assert title.startswith(f"Error: {saved} |") and crumbs.endswith(saved)
    assert "serving baseline" not in title + crumbs
    # the choice the operator made is kept in the form
    assert re.search(r'<option value="baseline" selected>', page)


def test_a_refused_ml_flip_keeps_the_saved_state_in_the_title(client, staff_user,
                                                             model_version):
    ServiceConfig.objects.filter(pk=1).update(active_variant="baseline")
    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    client.force_login(staff_user)
    config = ServiceConfig.objects.get()
    page = client.post(CHANGE_URL, form_data(config, active_variant="ml")).content.decode()
    assert "sha256 mismatch" in page
    title, crumbs = title_and_breadcrumb(page)
    assert "serving baseline" in title and "serving baseline" in crumbs
    assert "serving ml" not in title + crumbs


def test_recent_actions_name_the_save_by_the_saved_configuration(client, staff_user,
                                                                 model_version):
    client.force_login(staff_user)
    config = ServiceConfig.objects.get()
    response = client.post(CHANGE_URL, form_data(config, active_variant="baseline"))
    assert response.status_code == 302
    entry = LogEntry.objects.latest("action_time")
    assert entry.object_repr == \
        f"Service configuration (v{config.version + 1}, serving baseline)"


def test_the_overview_tells_a_manual_rollback_from_the_automatic_one(client, staff_user,
                                                                    model_version):
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    assert "Manual rollback: none recorded." in page
    config = ServiceConfig.objects.get()
    client.post(CHANGE_URL, form_data(config, active_variant="baseline",
                                      reason="ML misbehaves on live data"))
    page = client.get("/admin/").content.decode()
    manual = re.search(r'<p id="overview-manual-rollback">(.*?)</p>', page, re.S).group(1)
    assert re.fullmatch(rf"Manual rollback: last at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d by "
                        rf"{staff_user.username} \(admin, configuration v{config.version + 1}\): "
                        r"ML misbehaves on live data\.", manual)
    automatic = re.search(r'<p id="overview-auto-rollback">(.*?)</p>', page, re.S).group(1)
    assert "it has never rolled back on its own" in automatic
    assert "Manual rollback: last at" in client.get("/slo/").content.decode()
