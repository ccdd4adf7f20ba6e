from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from drift.models import DriftReport
from monitoring.models import ApiMinute, SloHour, SloMinute
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
                      "tick_latency_minutes": 0, "slo_hours": 1, "drift_reports": 1,
                      "drift_html_dropped": 1}
    assert SloMinute.objects.count() == 1 and SloHour.objects.count() == 1
    assert list(Prediction.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert ApiMinute.objects.count() == 1
    assert DriftReport.objects.exclude(html="").count() == 2
    assert DriftReport.objects.count() == 3


def test_housekeeping_is_scheduled_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(name="housekeeping").task == "monitoring.tasks.housekeeping"
