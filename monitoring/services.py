"""Housekeeping: keep the database bounded (predictions, SLI rollups, drift reports)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from drift.models import DriftReport
from monitoring.models import ApiMinute
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
    2. delete per-minute API rollups older than API_ROLLUP_RETENTION_DAYS;
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
        "drift_reports": DriftReport.objects.filter(
            created_at__lt=now - settings.DRIFT_REPORT_RETENTION_DAYS * days).delete()[0],
    }
    keep = list(DriftReport.objects.exclude(html="").order_by("-created_at", "-id")
                .values_list("pk", flat=True)[: settings.DRIFT_HTML_KEEP])
    result["drift_html_dropped"] = DriftReport.objects.exclude(html="").exclude(
        pk__in=keep).update(html="")
    return result
