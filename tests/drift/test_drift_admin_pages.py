"""The drift report pages state the drift share as a percentage (issue #22: it read
0.7333333333333333), in the list beside the drifted count and on the report."""

from __future__ import annotations

import pytest

from drift.models import DriftReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def report():
    return DriftReport.objects.create(status=DriftReport.OK, method="psi", n_features=15,
                                      n_drifted=11, share_drifted=11 / 15, share_threshold=0.5,
                                      dataset_drift=True, current_rows=3600)


def test_the_list_shows_drifted_features_as_a_count_and_a_percentage(client, staff_user,
                                                                    report):
    client.force_login(staff_user)
    page = client.get("/admin/drift/driftreport/").content.decode()
    assert "11 / 15 (73.3 %)" in page
    assert "0.733333" not in page
    assert "Times are in UTC." in page


def test_the_report_states_its_share_beside_the_threshold(client, staff_user, report):
    client.force_login(staff_user)
    page = client.get(f"/admin/drift/driftreport/{report.pk}/change/").content.decode()
    assert "73.3 % of 15 features (dataset drift at ≥ 50.0 %)" in page
    assert "0.733333" not in page
