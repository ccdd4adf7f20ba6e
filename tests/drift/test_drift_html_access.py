"""The Evidently page needs the drift report view permission, not just is_staff, and is served
in a CSP sandbox so its scripts never run with the admin's origin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from drift.models import DriftReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(db):
    return DriftReport.objects.create(status="ok", html="<html><script>1</script></html>")


@pytest.fixture
def bare_staff(django_user_model):
    return django_user_model.objects.create_user("plainstaff", "s@example.com", "pw-staff-12345",
                                                 is_staff=True)


def test_staff_without_the_view_permission_is_refused(client, bare_staff, report):
    client.force_login(bare_staff)
    assert client.get(f"/admin/drift/driftreport/{report.pk}/html/").status_code == 403


def test_the_view_permission_opens_it_inside_a_sandbox(client, bare_staff, report):
    bare_staff.user_permissions.add(Permission.objects.get(codename="view_driftreport"))
    client.force_login(bare_staff)
    response = client.get(f"/admin/drift/driftreport/{report.pk}/html/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp
    assert "connect-src 'none'" in csp and "default-src 'none'" in csp
