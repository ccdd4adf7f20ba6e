from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from drift.models import DriftReport
from monitoring.models import ApiMinute, SloHour, SloMinute
from monitoring.services import predictions_delete_before
from monitoring.tasks import housekeeping
from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def prediction(version, offset: int) -> Prediction:
    return Prediction.objects.create(
        product_id="BTC-USD", event_ts=timezone.now(), features={}, variant="ml", score=0.1,
        label=False, threshold=0.5, shadow_variant="baseline", shadow_score=0.1,
        model_version=version, topic="ticks.raw", partition=0, offset=offset)


def test_housekeeping_deletes_what_is_past_retention_and_keeps_the_rest(model_version, settings):
    settings.DRIFT_HTML_KEEP = 2
    now = timezone.now()
    old, fresh = prediction(model_version, 1), prediction(model_version, 2)
    Prediction.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=31))
    ApiMinute.objects.create(minute=now - timedelta(days=40), endpoint="predict", requests=1)
    ApiMinute.objects.create(minute=now - timedelta(days=2), endpoint="predict", requests=1)
    for days in (40, 2):  # SLO counts past retention go too, minute and hour rows alike
        SloMinute.objects.create(slo="api_latency", minute=now - timedelta(days=days), total=1)
        SloHour.objects.create(slo="api_latency", hour=now - timedelta(days=days), total=1)
    reports = [DriftReport.objects.create(status="ok", html="<html>x</html>") for _ in range(4)]
    DriftReport.objects.filter(pk=reports[0].pk).update(created_at=now - timedelta(days=91))

    result = housekeeping.apply().get()

    assert result == {"predictions": 1, "api_minutes": 1, "slo_minutes": 1,
                      "tick_latency_minutes": 0, "slo_hours": 1, "live_minutes": 0,
                      "live_hours": 0, "live_days": 0, "drift_reports": 1,
                      "drift_html_dropped": 1}
    assert SloMinute.objects.count() == 1 and SloHour.objects.count() == 1
    assert list(Prediction.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert ApiMinute.objects.count() == 1
    assert DriftReport.objects.exclude(html="").count() == 2
    assert DriftReport.objects.count() == 3


def test_housekeeping_is_scheduled_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(name="housekeeping").task == "monitoring.tasks.housekeeping"


def test_predictions_go_in_bounded_ranges_of_ids_and_later_rows_stay(model_version, settings):
    """Each DELETE covers at most RETENTION_DELETE_IDS ids; a row written after the cutoff
    stays even inside a deleted range (ids and write times need not agree), and so do the
    outcome and pending rows of the predictions that stay."""
    from predictions.models import LabelPending, PredictionOutcome

    settings.RETENTION_DELETE_IDS = 4
    now = timezone.now()
    rows = [prediction(model_version, i) for i in range(20)]
    for row in rows:
        PredictionOutcome.objects.create(prediction=row, matured_at=now, realized_label=False)
        LabelPending.objects.create(prediction=row, product_id="BTC-USD", event_ts=now)
    old = [r.pk for r in rows[:15]]
    Prediction.objects.filter(pk__in=old).update(created_at=now - timedelta(days=40))
    Prediction.objects.filter(pk=rows[3].pk).update(created_at=now)  # a late writer's row
    with CaptureQueriesContext(connection) as queries:
        deleted = predictions_delete_before(now - timedelta(days=30))
    assert deleted == 14
    assert sorted(Prediction.objects.values_list("pk", flat=True)) == sorted(
        [rows[3].pk] + [r.pk for r in rows[15:]])
    deletes = [q["sql"] for q in queries
               if q["sql"].startswith('DELETE FROM "predictions_prediction" ')]
    assert len(deletes) == 4  # 15 ids in ranges of 4
    assert all("created_at" in sql for sql in deletes)
    kept = set(Prediction.objects.values_list("pk", flat=True))
    for model in (PredictionOutcome, LabelPending):
        assert set(model.objects.values_list("prediction_id", flat=True)) == kept


def test_live_rollups_past_their_retention_go(model_version, settings):
    from predictions.models import LiveDay, LiveHour, LiveMinute

    settings.LIVE_MINUTE_RETENTION_HOURS = 48
    now = timezone.now()
    for hours in (50, 1):
        LiveMinute.objects.create(minute=now - timedelta(hours=hours), product_id="BTC-USD",
                                  model_version=model_version, variant="ml", rows=1)
    for days in (40, 1):
        LiveHour.objects.create(hour=now - timedelta(days=days), product_id="BTC-USD",
                                model_version=model_version, variant="ml", rows=1)
        LiveDay.objects.create(day=now - timedelta(days=days), product_id="BTC-USD",
                               model_version=model_version, variant="ml", rows=1)
    result = housekeeping.apply().get()
    assert (result["live_minutes"], result["live_hours"], result["live_days"]) == (1, 1, 1)
    assert LiveMinute.objects.count() == LiveHour.objects.count() == LiveDay.objects.count() == 1
