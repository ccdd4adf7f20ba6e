"""The once-a-minute sample behind the two freshness SLOs: prediction freshness per product
and drift-report freshness, one counted minute each."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from drift.models import DriftReport
from monitoring import sli
from monitoring.models import SloMinute
from monitoring.services import slo_freshness_sample
from monitoring.tasks import slo_sample
from predictions.config import current_config
from tests.helpers import make_prediction, sample, scrape

pytestmark = pytest.mark.django_db


def counted() -> dict[str, tuple[int, int]]:
    return {r.slo: (r.good, r.total) for r in SloMinute.objects.all()}


def test_a_minute_is_fresh_when_every_product_has_a_recent_prediction(model_version):
    make_prediction(model_version, 1, product_id="BTC-USD")
    make_prediction(model_version, 2, product_id="ETH-USD", age_s=2)
    DriftReport.objects.create(status=DriftReport.OK)
    result = slo_freshness_sample(config=current_config(), started_at=0)
    assert result == {"prediction_freshness": True, "drift_freshness": True}
    assert counted() == {"prediction_freshness": (1, 1), "drift_freshness": (1, 1)}


def test_one_stale_product_makes_the_minute_bad(model_version):
    make_prediction(model_version, 1, product_id="BTC-USD")
    make_prediction(model_version, 2, product_id="ETH-USD", age_s=60)  # the objective is 5 s
    assert slo_freshness_sample(config=current_config(), started_at=0)["prediction_freshness"] is False
    assert counted()["prediction_freshness"] == (0, 1)


def test_no_prediction_and_no_drift_report_are_bad_minutes(db):
    assert slo_freshness_sample(config=current_config(), started_at=0) == {
        "prediction_freshness": False, "drift_freshness": False}
    assert counted() == {"prediction_freshness": (0, 1), "drift_freshness": (0, 1)}


def test_only_a_recent_completed_drift_report_is_fresh(db):
    DriftReport.objects.create(status=DriftReport.FAILED)
    DriftReport.objects.create(status=DriftReport.SKIPPED)
    old = DriftReport.objects.create(status=DriftReport.OK)
    DriftReport.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert slo_freshness_sample(config=current_config(), started_at=0)["drift_freshness"] is False  # > 30 min
    DriftReport.objects.create(status=DriftReport.OK)
    assert slo_freshness_sample(config=current_config(), started_at=0)["drift_freshness"] is True


def test_the_beat_task_counts_the_minute_in_the_rows_and_the_metrics(client, model_version,
                                                                     monkeypatch):
    monkeypatch.setattr(sli, "PROCESS_STARTED_AT", 0.0)  # a worker up since long ago
    make_prediction(model_version, 1)
    before = scrape(client)
    assert slo_sample.apply().get() == {"prediction_freshness": True, "drift_freshness": False}
    after = scrape(client)

    def delta(name, slo):
        return sample(after, name, slo=slo) - sample(before, name, slo=slo)

    assert delta("volatility_slo_events", "prediction_freshness") == 1
    assert delta("volatility_slo_good_events", "prediction_freshness") == 1
    assert delta("volatility_slo_events", "drift_freshness") == 1
    assert delta("volatility_slo_good_events", "drift_freshness") == 0
    assert sum(t for _, t in counted().values()) == 2


def test_a_worker_that_just_started_counts_no_drift_freshness_yet(model_version, monkeypatch):
    monkeypatch.setattr(sli, "PROCESS_STARTED_AT", time.time() - 60)
    make_prediction(model_version, 1)
    assert slo_sample.apply().get() == {"prediction_freshness": None, "drift_freshness": None}
    assert counted() == {}


def test_the_sample_is_scheduled_every_minute_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="slo-sample")
    assert task.task == "monitoring.tasks.slo_sample"
    assert (task.interval.every, task.interval.period) == (1, "minutes")


def test_a_product_silent_for_over_a_day_is_no_longer_expected(model_version):
    make_prediction(model_version, 1, product_id="BTC-USD")
    make_prediction(model_version, 2, product_id="DELISTED-USD", age_s=2 * 86400)
    assert slo_freshness_sample(config=current_config(), started_at=0)["prediction_freshness"] is True
