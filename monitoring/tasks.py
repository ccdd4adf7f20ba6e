"""Beat task: hourly housekeeping (schedule editable in the admin: Periodic tasks)."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import housekeeping_run


@shared_task
def housekeeping() -> dict[str, int]:
    return housekeeping_run()


@shared_task(ignore_result=True)
def auto_rollback_check() -> str:
    """Beat: apply the auto-rollback policy once (see monitoring.rollback)."""
    from monitoring.rollback import auto_rollback_run

    return auto_rollback_run()
