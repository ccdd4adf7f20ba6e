"""Beat tasks: hourly housekeeping and the once-a-minute SLO sample (schedules editable in the
admin: Periodic tasks)."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import housekeeping_run, slo_freshness_sample


@shared_task
def housekeeping() -> dict[str, int]:
    return housekeeping_run()


@shared_task
def slo_sample() -> dict[str, bool | None]:
    """Count this minute for the prediction and drift-report freshness SLOs (None: not
    counted, within the SLO's grace period after this worker started)."""
    from predictions.config import current_config

    return slo_freshness_sample(config=current_config())


@shared_task(ignore_result=True)
def auto_rollback_check() -> str:
    """Beat: apply the auto-rollback policy once (see monitoring.rollback)."""
    from monitoring.rollback import auto_rollback_run

    return auto_rollback_run()
