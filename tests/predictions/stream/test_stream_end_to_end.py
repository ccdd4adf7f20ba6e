"""Simulator → broker → Celery consumer task → Prediction rows, then a rollback in the admin."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command

from predictions.core.ticks import format_timestamp
from predictions.models import Prediction, ServiceConfig, StreamLease, StreamOffset
from predictions.tasks import stream_supervise
from tests.helpers import CHANGE_URL, form_data, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def ingest(n: int, seed: int, start: float) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=n, seed=seed,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(start), verbosity=0)


def test_ticks_flow_to_predictions_and_a_rollback_reaches_the_stream_and_the_api(
        kafka, model_version, celery_worker, client, staff_user, api_client, feature_names):
    kafka.STREAM_RUN_SECONDS = 2.0
    now = time.time()
    ingest(600, seed=1, start=now - 400)  # ≈ 100 s of event time at ≥ 2 ticks/s
    assert "started chain" in stream_supervise()  # beat's job, run here directly
    wait_until(lambda: Prediction.objects.count() >= 600, timeout=90, what="600 predictions")

    rows = Prediction.objects.all()
    assert rows.count() == 600
    assert set(rows.values_list("variant", flat=True)) == {"ml"}
    assert set(rows.values_list("shadow_variant", flat=True)) == {"baseline"}
    assert set(rows.values_list("product_id", flat=True)) == {"BTC-USD", "ETH-USD", "SOL-USD"}
    first = rows.order_by("id").first()
    assert set(first.features) == set(feature_names)
    assert first.topic == kafka.KAFKA_TOPIC_TICKS and first.model_version_id == model_version.id
    stored = sum(StreamOffset.objects.values_list("next_offset", flat=True))
    assert stored == 600  # offsets written with the rows

    client.force_login(staff_user)
    response = client.post(CHANGE_URL, form_data(ServiceConfig.objects.get(),
                                                 active_variant="baseline"))
    assert response.status_code == 302
    last_ml_id = Prediction.objects.order_by("-id").values_list("id", flat=True).first()

    last = Prediction.objects.order_by("-event_ts").first().event_ts.timestamp()
    ingest(300, seed=2, start=last + 1)
    wait_until(lambda: Prediction.objects.count() >= 900, timeout=90, what="300 more predictions")
    after = Prediction.objects.filter(id__gt=last_ml_id)
    assert after.count() == 300
    assert set(after.values_list("variant", flat=True)) == {"baseline"}
    assert set(after.values_list("shadow_variant", flat=True)) == {"ml"}

    body = api_client.post("/api/v1/predict", data=json.dumps(
        {"rows": [first.features]}), content_type="application/json").json()
    assert body["model_variant"] == "baseline"
    latest = api_client.get("/api/v1/products/BTC-USD/latest").json()
    assert latest["variant"] == "baseline" and latest["model_version"] == model_version.name

    # runs are bounded: each ends, reports on the lease, and the chain continues
    wait_until(lambda: StreamLease.objects.get().last_run_at, timeout=30, what="a run report")
    lease = StreamLease.objects.get()
    assert lease.holder and lease.last_error == ""
