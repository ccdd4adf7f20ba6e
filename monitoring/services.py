"""Housekeeping (keep the database bounded: predictions, SLI rollups, drift reports) and the
once-a-minute sample of the two freshness SLOs."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from drift.models import DriftReport
from monitoring import sli
from monitoring.models import (
    ApiMinute,
    SloHour,
    SloMinute,
    TickLatencyHour,
    TickLatencyMinute,
)
from predictions.models import Prediction

DELETE_CHUNK = 10_000


def _delete_in_chunks(queryset) -> int:
    """Delete in bounded chunks so no single statement locks the table for long."""
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:DELETE_CHUNK])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids)._raw_delete(queryset.db)


def housekeeping_run() -> dict[str, int]:
    """Steps:
    1. delete predictions older than PREDICTION_RETENTION_DAYS;
    2. delete per-minute API, SLO and tick-latency rollups (and the hour rows of the last
       two) older than API_ROLLUP_RETENTION_DAYS;
    3. delete drift reports older than DRIFT_REPORT_RETENTION_DAYS;
    4. drop the HTML of all but the newest DRIFT_HTML_KEEP drift reports.
    """
    now = timezone.now()
    days = timedelta(days=1)
    result = {
        "predictions": _delete_in_chunks(
            Prediction.objects.filter(created_at__lt=now - settings.PREDICTION_RETENTION_DAYS * days)),
        "api_minutes": ApiMinute.objects.filter(
            minute__lt=now - settings.API_ROLLUP_RETENTION_DAYS * days).delete()[0],
        "slo_minutes": SloMinute.objects.filter(
            minute__lt=now - settings.API_ROLLUP_RETENTION_DAYS * days).delete()[0],
        "tick_latency_minutes": TickLatencyMinute.objects.filter(
            minute__lt=now - settings.API_ROLLUP_RETENTION_DAYS * days).delete()[0],
        "slo_hours": SloHour.objects.filter(
            hour__lt=now - settings.API_ROLLUP_RETENTION_DAYS * days).delete()[0]
        + TickLatencyHour.objects.filter(
            hour__lt=now - settings.API_ROLLUP_RETENTION_DAYS * days).delete()[0],
        "drift_reports": DriftReport.objects.filter(
            created_at__lt=now - settings.DRIFT_REPORT_RETENTION_DAYS * days).delete()[0],
    }
    keep = list(DriftReport.objects.exclude(html="").order_by("-created_at", "-id")
                .values_list("pk", flat=True)[: settings.DRIFT_HTML_KEEP])
    result["drift_html_dropped"] = DriftReport.objects.exclude(html="").exclude(
        pk__in=keep).update(html="")
    return result


# Products that wrote a prediction within this long are expected to keep writing.
FRESHNESS_PRODUCTS_SINCE = timedelta(days=1)


def prediction_ages(*, now) -> dict[str, float]:
    """Seconds since each product's newest prediction, for products seen in the last day.
    Products are found by walking the (product_id, event_ts) index one product at a time:
    two index probes per product, whatever the size of the table, once a minute."""
    ages: dict[str, float] = {}
    product: str | None = ""
    by_product = Prediction.objects.order_by("product_id").values_list("product_id", flat=True)
    while (product := by_product.filter(product_id__gt=product).first()) is not None:
        newest = (Prediction.objects.filter(product_id=product).order_by("-event_ts")
                  .values_list("created_at", flat=True).first())
        if newest >= now - FRESHNESS_PRODUCTS_SINCE:
            ages[product] = (now - newest).total_seconds()
    return ages


def slo_freshness_sample(*, config, now=None) -> dict[str, bool]:
    """Judge this minute for the two freshness SLOs and count it (one row each):
    1. prediction freshness is good when every product seen in the last day has a
       prediction younger than `slo_freshness_seconds` (no product at all is bad);
    2. drift-report freshness is good when the newest completed (ok) drift report is younger
       than `slo_drift_freshness_seconds`.
    """
    now = now or timezone.now()
    ages = prediction_ages(now=now)
    fresh = bool(ages) and max(ages.values()) < config.slo_freshness_seconds
    report = (DriftReport.objects.filter(status=DriftReport.OK).order_by("-created_at")
              .values_list("created_at", flat=True).first())
    drift_fresh = report is not None and \
        (now - report).total_seconds() < config.slo_drift_freshness_seconds
    at = now.timestamp()
    sli.record_slo_minute("prediction_freshness", good=fresh, at=at)
    sli.record_slo_minute("drift_freshness", good=drift_fresh, at=at)
    return {"prediction_freshness": fresh, "drift_freshness": drift_fresh}


def slo_hours_rebuild() -> int:
    """Recompute the hour rows of the SLO and tick-latency counts from their minute rows.
    The flush keeps both in step; this is for minute rows loaded some other way (a restore,
    a benchmark, a test). Returns the hour rows written."""
    from django.db import transaction
    from django.db.models import Sum
    from django.db.models.functions import Trunc

    written = 0
    for minute_model, hour_model, keys, fields in (
            (SloMinute, SloHour, ["slo"], ["good", "total"]),
            (TickLatencyMinute, TickLatencyHour, [], ["ticks", *TickLatencyMinute.BUCKET_FIELDS])):
        hours = (minute_model.objects.order_by().annotate(at=Trunc("minute", "hour"))
                 .values("at", *keys).annotate(**{f"s_{f}": Sum(f) for f in fields}))
        rows = [hour_model(hour=h["at"], **{k: h[k] for k in keys},
                           **{f: h[f"s_{f}"] for f in fields}) for h in hours]
        with transaction.atomic():
            hour_model.objects.all().delete()
            hour_model.objects.bulk_create(rows, batch_size=5000)
        written += len(rows)
    return written
