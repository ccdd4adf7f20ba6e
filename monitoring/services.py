"""Housekeeping (keep the database bounded: predictions, SLI rollups, drift reports) and the
once-a-minute sample of the two freshness SLOs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
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
from monitoring.slo import SLOS_BY_KEY
from predictions.models import (
    LabelPending,
    LiveDay,
    LiveHour,
    LiveMinute,
    Prediction,
    PredictionOutcome,
)
from predictions.selectors import prediction_products


def _delete_in_chunks(queryset) -> int:
    """Delete a small table's old rows (rollups, drift reports) in bounded chunks."""
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:10_000])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids)._raw_delete(queryset.db)


BOUNDARY_ROWS = 1000
DB = "default"


def predictions_delete_before(cutoff: datetime) -> int:
    """Delete the predictions written before `cutoff` with their outcomes, one range of the
    primary key (RETENTION_DELETE_IDS ids) per transaction: each is a short index range
    scan, never a long lock, and the consumer's inserts go on meanwhile.

    The rows to delete lie in the ids up to the highest id among the last BOUNDARY_ROWS rows
    written before the cutoff; within that range a row written later (ids and write times
    need not agree across writers) is kept by the `created_at` condition, and an older row
    with a higher id than that goes in the next run.
    """
    # The newest rows written before the cutoff, found by the created_at index (a plain
    # max(id) with that condition would walk the primary key back from the newest row).
    newest = list(Prediction.objects.filter(created_at__lt=cutoff).order_by("-created_at")
                  .values_list("id", flat=True)[:BOUNDARY_ROWS])
    if not newest:
        return 0
    last = max(newest)
    low = Prediction.objects.order_by("id").values_list("id", flat=True).first()
    step, deleted = settings.RETENTION_DELETE_IDS, 0
    while low is not None and low <= last:
        deleted += _delete_id_range(low, min(low + step, last + 1), cutoff)
        low += step
    return deleted


def _delete_id_range(low: int, high: int, cutoff: datetime) -> int:
    """One transaction: the predictions of [low, high) written before the cutoff, and the
    outcome and pending rows of the ids that no longer have a prediction."""
    with transaction.atomic():
        deleted = Prediction.objects.filter(id__gte=low, id__lt=high,
                                            created_at__lt=cutoff)._raw_delete(DB)
        kept = Prediction.objects.filter(id__gte=low, id__lt=high).values("id")
        for model in (PredictionOutcome, LabelPending):
            model.objects.filter(prediction_id__gte=low, prediction_id__lt=high).exclude(
                prediction_id__in=kept)._raw_delete(DB)
    return deleted


def housekeeping_run() -> dict[str, int]:
    """Steps:
    1. delete predictions older than PREDICTION_RETENTION_DAYS (predictions_delete_before);
    2. delete per-minute API, SLO and tick-latency rollups (and the hour rows of the last
       two, and the live-performance hour and day rows) older than API_ROLLUP_RETENTION_DAYS, and the
       live-performance minute rows older than LIVE_MINUTE_RETENTION_HOURS;
    3. delete drift reports older than DRIFT_REPORT_RETENTION_DAYS;
    4. drop the HTML of all but the newest DRIFT_HTML_KEEP drift reports.
    """
    now = timezone.now()
    rollups_before = now - timedelta(days=settings.API_ROLLUP_RETENTION_DAYS)
    result = {
        "predictions": predictions_delete_before(
            now - timedelta(days=settings.PREDICTION_RETENTION_DAYS)),
        "api_minutes": _delete_in_chunks(ApiMinute.objects.filter(minute__lt=rollups_before)),
        "slo_minutes": _delete_in_chunks(SloMinute.objects.filter(minute__lt=rollups_before)),
        "tick_latency_minutes": _delete_in_chunks(
            TickLatencyMinute.objects.filter(minute__lt=rollups_before)),
        "slo_hours": SloHour.objects.filter(hour__lt=rollups_before).delete()[0]
        + TickLatencyHour.objects.filter(hour__lt=rollups_before).delete()[0],
        "live_minutes": _delete_in_chunks(LiveMinute.objects.filter(
            minute__lt=now - timedelta(hours=settings.LIVE_MINUTE_RETENTION_HOURS))),
        "live_hours": LiveHour.objects.filter(hour__lt=rollups_before).delete()[0],
        "live_days": LiveDay.objects.filter(day__lt=rollups_before).delete()[0],
        "drift_reports": DriftReport.objects.filter(
            created_at__lt=now - timedelta(days=settings.DRIFT_REPORT_RETENTION_DAYS))
        .delete()[0],
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
    Products come from walking the (product_id, event_ts) index (`prediction_products`):
    two index probes per product, whatever the size of the table, once a minute."""
    ages: dict[str, float] = {}
    for product in prediction_products():
        newest = (Prediction.objects.filter(product_id=product).order_by("-event_ts")
                  .values_list("created_at", flat=True).first())
        if newest >= now - FRESHNESS_PRODUCTS_SINCE:
            ages[product] = (now - newest).total_seconds()
    return ages


def slo_freshness_sample(*, config, now=None, started_at: float | None = None
                         ) -> dict[str, bool | None]:
    """Judge this minute for the two freshness SLOs and count it (one row each):
    1. prediction freshness is good when every product seen in the last day has a
       prediction younger than `slo_freshness_seconds` (no product at all is bad);
    2. drift-report freshness is good when the newest completed (ok) drift report is younger
       than `slo_drift_freshness_seconds`.
    A minute within an SLO's grace period after `started_at` (Unix seconds; this process's
    start by default) is not counted at all, and is None in the result: "no data".
    """
    now = now or timezone.now()
    at = now.timestamp()
    started_at = sli.PROCESS_STARTED_AT if started_at is None else started_at
    ages = prediction_ages(now=now)
    fresh = bool(ages) and max(ages.values()) < config.slo_freshness_seconds
    report = (DriftReport.objects.filter(status=DriftReport.OK).order_by("-created_at")
              .values_list("created_at", flat=True).first())
    drift_fresh = report is not None and \
        (now - report).total_seconds() < config.slo_drift_freshness_seconds
    result: dict[str, bool | None] = {}
    for key, good in (("prediction_freshness", fresh), ("drift_freshness", drift_fresh)):
        if SLOS_BY_KEY[key].in_grace(started_at=started_at, now=at):
            result[key] = None
            continue
        sli.record_slo_minute(key, good=good, at=at)
        result[key] = good
    return result


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
