"""Beat task: hourly housekeeping (schedule editable in the admin: Periodic tasks)."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import housekeeping_run


@shared_task
def housekeeping() -> dict[str, int]:
    return housekeeping_run()
