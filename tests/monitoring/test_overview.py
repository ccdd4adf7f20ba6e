"""The operations overview on the admin index, with its three inline SVG pictures, and the
same content as JSON for scripts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import drift_reports, matured_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_data(model_version):
    rng = np.random.default_rng(3)
    y = rng.random(150) < 0.25
    matured_rows(model_version, np.clip(y * 0.6 + rng.random(150) * 0.4, 0, 1),
                 rng.random(150), y)
    drift_reports([0.1, 0.3, 0.6])


def test_the_admin_index_shows_the_overview_with_its_pictures(client, staff_user, live_data,
                                                              model_version):
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    assert 'id="operations-overview"' in page
    assert f"with model version <strong>{model_version.name}</strong>" in page
    for chart in ("chart-scores", "chart-pr-auc", "chart-drift"):
        start = page.index(f'id="{chart}"')
        assert "<svg" in page[start:start + 400]
    assert "BTC-USD: served score" in page and "Live PR-AUC per variant" in page
    assert "60.0 % of features drifted" in page and "drift found" in page
    assert "Predict API availability" in page and "it has never rolled back on its own" in page
    assert "test setup" in page  # the last configuration change
    assert "http://" not in page.split('id="operations-overview"')[1].split("</svg>")[0] \
        .replace("http://www.w3.org", "")  # nothing fetched from elsewhere
    assert page.count("(too few rows (n &lt; 200))") == 6  # 150 rows: below the minimum


def test_before_any_label_matures_the_live_table_says_so(client, staff_user, model_version):
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    table = page.split('id="overview-live"')[1].split("</table>")[0]
    assert table.count("(no matured labels yet)") == 6  # 3 windows × 2 variants
    assert "0.000" not in table


def test_the_overview_is_available_as_json(client, staff_user, live_data, model_version):
    client.force_login(staff_user)
    body = client.get("/admin/overview.json").json()
    assert body["serving"]["variant"] == "ml"
    assert body["serving"]["model_version"] == model_version.name
    assert set(body["live"]) == {"1h", "24h", "7d"}
    ml = body["live"]["1h"]["ml"]
    assert ml["n"] == 150 and ml["enough"] is False and 0 < ml["pr_auc"] <= 1
    assert ml["missing"] == "too few rows (n < 200)"
    assert body["live"]["1h"]["baseline"]["brier"] is not None
    assert body["drift"]["share_drifted"] == 0.6
    assert {s["key"] for s in body["slos"]} >= {"api_availability"}
    assert body["auto_rollback"] == {"enabled": False, "latest": None}
    assert body["manual_rollback"] is None
    assert body["recent_changes"][0]["source"] == "promote"
    assert len(body["series"]["scores"]["points"]) == 150
    assert body["series"]["scores"]["spikes"] and len(body["series"]["drift_share"]) == 3
    assert body["series"]["pr_auc"]["ml"]


def test_the_json_is_for_staff_only(client, db):
    response = client.get("/admin/overview.json")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
