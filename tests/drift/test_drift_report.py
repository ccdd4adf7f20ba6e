from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from drift.models import DriftReport
from drift.tasks import drift_report
from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def add_predictions(version, rows: np.ndarray, *, hours_ago: float = 0.0,
                    first_offset: int = 0) -> None:
    """Rows of these feature values, one a second, the newest `hours_ago` hours back."""
    names = version.feature_names
    newest = timezone.now() - timedelta(hours=hours_ago)
    Prediction.objects.bulk_create(
        Prediction(
            product_id="BTC-USD",
            event_ts=newest - timedelta(seconds=len(rows) - i),
            features=dict(zip(names, map(float, row))),
            variant="ml", score=0.1, label=False, threshold=0.5,
            shadow_variant="baseline", shadow_score=0.1,
            model_version=version, topic="ticks.raw", partition=0, offset=first_offset + i,
        )
        for i, row in enumerate(rows)
    )


def test_the_drift_task_stores_per_feature_results(model_version):
    ref = np.asarray(model_version.reference_sample)
    rng = np.random.default_rng(0)
    current = ref[rng.choice(len(ref), 600)].copy()
    rv = model_version.feature_names.index("rv_60s")
    current[:, rv] *= 5.0  # volatility regime shift in one feature
    add_predictions(model_version, current)

    result = drift_report.apply().get()

    report = DriftReport.objects.get(pk=result["report_id"])
    assert report.status == DriftReport.OK
    assert report.model_version == model_version
    assert report.reference_rows == len(ref) and report.current_rows == 600
    assert report.n_features == len(model_version.feature_names)
    by_feature = {f["feature"]: f for f in report.features}
    assert set(by_feature) == set(model_version.feature_names)
    assert by_feature["rv_60s"]["drifted"] is True
    assert by_feature["rv_60s"]["method"] == "wasserstein"
    assert report.n_drifted == sum(f["drifted"] for f in report.features)
    assert report.share_drifted == pytest.approx(report.n_drifted / report.n_features)
    assert "<html" in report.html.lower()


def test_it_skips_with_a_reason_when_there_are_too_few_rows(model_version, settings):
    settings.DRIFT_MIN_ROWS = 100
    add_predictions(model_version, np.asarray(model_version.reference_sample[:10]))
    report = DriftReport.objects.get(pk=drift_report.apply().get()["report_id"])
    assert report.status == DriftReport.SKIPPED
    assert "10 prediction rows of the last 24 h; need at least 100" in report.message


def test_the_current_window_leaves_out_rows_older_than_its_hours(model_version, settings):
    settings.DRIFT_MIN_ROWS = 100
    ref = np.asarray(model_version.reference_sample)
    add_predictions(model_version, ref[:300], hours_ago=30)  # a stalled stream's last rows
    add_predictions(model_version, ref[300:450], first_offset=300)
    report = DriftReport.objects.get(pk=drift_report.apply().get()["report_id"])
    assert report.status == DriftReport.OK and report.current_rows == 150
    assert report.current_start > timezone.now() - timedelta(hours=1)


def test_the_admin_shows_the_report_and_its_html(client, staff_user, model_version):
    add_predictions(model_version, np.asarray(model_version.reference_sample[:300]))
    report = DriftReport.objects.get(pk=drift_report.apply().get()["report_id"])
    client.force_login(staff_user)
    page = client.get(f"/admin/drift/driftreport/{report.pk}/change/")
    assert page.status_code == 200 and b"rv_60s" in page.content
    html = client.get(f"/admin/drift/driftreport/{report.pk}/html/")
    assert html.status_code == 200 and b"<html" in html.content.lower()


def test_the_schedule_is_a_periodic_task_created_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="drift-report")
    assert task.task == "drift.tasks.drift_report" and task.enabled
    assert PeriodicTask.objects.get(name="stream-supervise").task == \
        "predictions.tasks.stream_supervise"
