"""Celery beat task for drift reports (schedule editable in the admin: Periodic tasks)."""

from __future__ import annotations

from celery import shared_task

from drift.services import drift_report_create


@shared_task(ignore_result=False, soft_time_limit=300, time_limit=360)
def drift_report(*_args) -> dict:
    report = drift_report_create()
    return {"report_id": report.id, "status": report.status, "share": report.share_drifted}
