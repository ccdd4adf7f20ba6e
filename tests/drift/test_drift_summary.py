"""`manage.py drift_summary` and the admin's download, on real Evidently reports: the window,
the share against the threshold, the features sorted by drift, both variants' live
performance beside the held-out figures, the likely cause and what to do."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from drift.models import DriftReport
from drift.services import drift_report_create
from drift.summary import drift_summary_markdown
from predictions.models import Prediction, PredictionOutcome
from predictions.services.live_rollups import live_rollups_rebuild

pytestmark = pytest.mark.django_db

# Two hours ago, on a whole minute: inside the drift window and the live minute rollups.
START = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)


def wilder_market(version, n: int, *, ml_sees_spikes: bool) -> None:
    """`n` matured predictions whose volatility features are five times the training sample's
    (a wilder regime), one a second from START; one of the two variants ranks the realized
    spikes well, the other at random."""
    rng = np.random.default_rng(3)
    reference = np.asarray(version.reference_sample)
    rows = reference[rng.choice(len(reference), n)].copy()
    for i, name in enumerate(version.feature_names):
        if name.startswith(("rv_", "range_")):
            rows[:, i] *= 5.0
        elif name.startswith("log_vol_"):
            rows[:, i] += math.log(5.0)
    spikes = rng.random(n) < 0.25
    good = np.clip(0.15 + 0.6 * spikes + rng.normal(0, 0.1, n), 0.01, 0.99)
    blind = rng.uniform(0.01, 0.99, n)
    ml, baseline = (good, blind) if ml_sees_spikes else (blind, good)
    created = Prediction.objects.bulk_create(
        Prediction(product_id="BTC-USD", event_ts=START + timedelta(seconds=i),
                   features=dict(zip(version.feature_names, map(float, row))),
                   variant="ml", score=float(ml[i]), label=bool(ml[i] >= 0.5), threshold=0.5,
                   shadow_variant="baseline", shadow_score=float(baseline[i]),
                   shadow_threshold=0.5, mid=100.0,
                   model_version=version, topic="ticks.raw", partition=0, offset=i)
        for i, row in enumerate(rows))
    PredictionOutcome.objects.bulk_create(
        PredictionOutcome(prediction=p, realized_label=bool(spike), forward_rv=0.001,
                          matured_at=p.event_ts + timedelta(seconds=60))
        for p, spike in zip(created, spikes))
    live_rollups_rebuild()


def table(text: str, heading: str) -> list[list[str]]:
    body = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in body.splitlines() if line.startswith("|")][2:]


@pytest.fixture
def drifted_report(model_version) -> DriftReport:
    wilder_market(model_version, 600, ml_sees_spikes=True)
    report = drift_report_create()
    assert report.status == DriftReport.OK and report.dataset_drift
    return report


def test_the_summary_of_a_real_report_says_what_drifted_how_the_variants_do_and_what_to_do(
        drifted_report, model_version, tmp_path):
    out = tmp_path / "drift.md"
    call_command("drift_summary", out=str(out))  # the newest report
    text = out.read_text()
    report = drifted_report

    assert text.startswith(f"# Drift summary: report {report.pk}, ")
    assert f"Model version: {model_version.name}" in text
    end = START + timedelta(seconds=599)
    assert (f"600 current rows, event time {START:%Y-%m-%d %H:%M:%S} – "
            f"{end:%Y-%m-%d %H:%M:%S} UTC") in text
    assert f"{len(model_version.reference_sample):,} rows of the version's training" in text
    assert (f"{report.n_drifted} of {report.n_features} features drifted: share "
            f"**{report.share_drifted:.1%}** against the threshold "
            f"{report.share_threshold:.1%}, so **dataset drift**.") in text

    features = table(text, "## Features, most drifted first")
    assert len(features) == report.n_features
    verdicts = [row[4] for row in features]
    assert verdicts == sorted(verdicts, key=lambda v: v != "**drift**")  # drifted ones first
    drifted = [row for row in features if row[4] == "**drift**"]
    strengths = [float(row[2]) / float(row[3]) for row in drifted]  # wasserstein: distances
    assert strengths == sorted(strengths, reverse=True)
    by_name = {row[0].strip("`"): row for row in features}
    assert by_name["rv_60s"][4] == "**drift**"
    assert float(by_name["rv_60s"][5]) == pytest.approx(5.0, rel=0.25)  # median ratio
    assert float(by_name["log_vol_60s"][5]) == pytest.approx(5.0, rel=0.25)

    performance = {row[0]: row for row in table(text, "## Live performance")}
    assert set(performance) == {"ml", "baseline"}
    for variant in ("ml", "baseline"):
        assert performance[variant][1] == "600"
        assert performance[variant][4] == f"{model_version.metrics[variant]['pr_auc']:.3f}"
    assert float(performance["ml"][3]) > float(performance["baseline"][3])

    assert re.search(r"- volatility: \d+ feature\(s\) drifted .*higher than in training", text)
    assert "ML still holds up live" in text and "Roll back" not in text


def test_it_says_roll_back_when_ml_trails_the_baseline_live(model_version):
    wilder_market(model_version, 600, ml_sees_spikes=False)
    report = drift_report_create()
    text = drift_summary_markdown(report)
    assert "**Roll back to the baseline now**" in text
    assert "below the baseline's" in text


def test_a_skipped_report_says_why_and_what_to_do(model_version, settings):
    settings.DRIFT_MIN_ROWS = 100
    report = drift_report_create()
    assert report.status == DriftReport.SKIPPED
    text = drift_summary_markdown(report)
    assert "Status: **skipped** (0 prediction rows of the last 24 h; need at least 100)" in text
    assert "## Features" not in text and "The run did not compare anything" in text


def test_the_admin_offers_the_same_summary_as_a_download(client, staff_user, drifted_report):
    client.force_login(staff_user)
    page = client.get(f"/admin/drift/driftreport/{drifted_report.pk}/change/")
    link = f"/admin/drift/driftreport/{drifted_report.pk}/summary.md"
    assert page.status_code == 200 and link.encode() in page.content
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"] == \
        f'attachment; filename="drift-report-{drifted_report.pk}.md"'
    assert response["Content-Type"].startswith("text/markdown")
    assert response.content.decode() == drift_summary_markdown(drifted_report)


def test_staff_without_the_view_permission_cannot_download_it(client, django_user_model,
                                                              drifted_report):
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-12345",
                                                  is_staff=True)
    client.force_login(clerk)
    response = client.get(f"/admin/drift/driftreport/{drifted_report.pk}/summary.md")
    assert response.status_code == 403


def test_the_command_says_when_there_is_no_report(db):
    with pytest.raises(CommandError, match="no drift report yet"):
        call_command("drift_summary")
    with pytest.raises(CommandError, match="no drift report 12345"):
        call_command("drift_summary", report=12345)
