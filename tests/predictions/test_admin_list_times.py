"""Times in the admin's lists to the second, the zone stated once per page (issue #22:
consecutive predictions read "Dec. 7, 2026, 4:14 p.m." alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from predictions.models import ConfigAuditEntry, Prediction
from tests.helpers import make_prediction

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 7, 16, 14, 41, 250_000, tzinfo=UTC)


@pytest.mark.parametrize("url", ["/admin/predictions/prediction/",
                                 "/admin/predictions/configauditentry/",
                                 "/admin/drift/driftreport/",
                                 "/admin/predictions/modelversion/"])
def test_every_list_states_its_time_zone_once(client, staff_user, model_version, url):
    client.force_login(staff_user)
    page = client.get(url).content.decode()
    assert page.count("Times are in UTC.") == 1


def test_consecutive_predictions_show_distinct_times_to_the_second(client, staff_user,
                                                                   model_version):
    for i in range(2):
        row = make_prediction(model_version, i)
        Prediction.objects.filter(pk=row.pk).update(event_ts=AT + timedelta(seconds=i))
    client.force_login(staff_user)
    page = client.get("/admin/predictions/prediction/").content.decode()
    assert "2026-12-07 16:14:41" in page and "2026-12-07 16:14:42" in page
    assert "p.m." not in page


def test_the_audit_timeline_shows_times_to_the_second(client, staff_user, model_version):
    ConfigAuditEntry.objects.update(at=AT)
    client.force_login(staff_user)
    page = client.get("/admin/predictions/configauditentry/").content.decode()
    assert "2026-12-07 16:14:41" in page
