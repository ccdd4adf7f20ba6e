"""Every periodic task of Volsite, in one place: what beat sends, how often, to which queue.

Beat reads its schedule from the database (django-celery-beat's DatabaseScheduler, so the
admin shows it under Periodic tasks). `periodic_tasks_sync` writes the rows from the list
below after every `migrate` (a post_migrate receiver, `volsite.apps`), which compose and
`make run` run at each start: change an interval setting, restart, and the row follows.

How each interval is owned:
- `setting`: the interval in seconds is that setting's value, re-applied at every sync (an
  edit in the admin lasts until the next migrate);
- fixed (`setting` None, `admin_owned` False): part of the task's meaning (the freshness SLIs
  count one event a minute), re-applied at every sync;
- `admin_owned`: the row is created with the default once; after that the operator owns its
  schedule in the admin (interval, crontab, enabled), and the sync changes only its task path,
  queue and description.

Celery beat adds one more row of its own, `celery.backend_cleanup` (daily at 04:00 UTC, task
results past `result_expires`); it is Celery's, not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

DEFAULT_QUEUE = "celery"  # the default worker's queue; the stream queue runs no periodic task


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # the row's name, as the admin and beat's log show it
    task: str  # dotted path of the Celery task
    every: int  # default interval, in `period` units
    period: str  # "seconds" | "minutes" | "hours"
    description: str
    setting: str | None = None  # settings name holding the interval in seconds
    admin_owned: bool = False  # the operator edits the schedule in the admin
    queue: str = DEFAULT_QUEUE

    def interval(self) -> tuple[int, str]:
        """(every, period) as it should be now."""
        if self.setting:
            return int(getattr(settings, self.setting)), "seconds"
        return self.every, self.period


PERIODIC_TASKS: tuple[PeriodicJob, ...] = (
    PeriodicJob("stream-supervise", "predictions.tasks.stream_supervise", 15, "seconds",
                "Starts a stream consumer chain for every lease slot no chain holds.",
                setting="STREAM_SUPERVISE_SECONDS"),
    PeriodicJob("labels-mature", "predictions.tasks.labels_mature", 30, "seconds",
                "Attaches realized labels to predictions whose horizon has passed.",
                setting="LABEL_MATURE_SECONDS"),
    PeriodicJob("auto-rollback", "monitoring.tasks.auto_rollback_check", 60, "seconds",
                "Rolls back to the baseline when the policy in the configuration says so "
                "(off by default).", setting="AUTO_ROLLBACK_SECONDS"),
    PeriodicJob("slo-sample", "monitoring.tasks.slo_sample", 1, "minutes",
                "Counts the minute for the prediction and drift-report freshness SLOs "
                "(docs/slo.md)."),
    PeriodicJob("drift-report", "drift.tasks.drift_report", 15, "minutes",
                "Evidently drift: promoted model's reference sample vs recent rows.",
                admin_owned=True),
    PeriodicJob("housekeeping", "monitoring.tasks.housekeeping", 1, "hours",
                "Deletes predictions, API rollups and drift reports past retention.",
                admin_owned=True),
)


def periodic_tasks_sync(*, using: str = "default") -> list[str]:
    """Create or update the beat rows of PERIODIC_TASKS; returns one line per row changed.

    Steps, per task: find or create its interval; create the row (enabled) if missing; else
    set what the code owns (task, queue, description, and the interval unless the admin owns
    it). Saving a row through the model tells a running beat to reload its schedule."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    changed = []
    for job in PERIODIC_TASKS:
        every, period = job.interval()
        interval = (IntervalSchedule.objects.using(using)
                    .filter(every=every, period=period).order_by("id").first()
                    or IntervalSchedule.objects.using(using).create(every=every, period=period))
        row = PeriodicTask.objects.using(using).filter(name=job.name).first()
        if row is None:
            PeriodicTask.objects.using(using).create(
                name=job.name, task=job.task, interval=interval, queue=job.queue,
                description=job.description)
            changed.append(f"created {job.name}: every {every} {period}")
            continue
        wanted = {"task": job.task, "queue": job.queue, "description": job.description}
        if not job.admin_owned:
            wanted.update(interval_id=interval.id, crontab_id=None, solar_id=None,
                          clocked_id=None)
        stale = {field: value for field, value in wanted.items()
                 if getattr(row, field) != value}
        if stale:
            for field, value in stale.items():
                setattr(row, field, value)
            row.save()
            changed.append(f"updated {job.name}: {', '.join(sorted(stale))}"
                           + ("" if job.admin_owned else f" (every {every} {period})"))
    return changed


def post_migrate_sync(sender, using: str = "default", verbosity: int = 1, **kwargs) -> None:
    """post_migrate receiver (connected for django_celery_beat, so it runs once per migrate,
    after every migration, with the tables in their final shape)."""
    stdout = kwargs.get("stdout")  # migrate passes its own; flush (tests) passes none
    for line in periodic_tasks_sync(using=using):
        if stdout is not None and verbosity >= 1:
            stdout.write(f"  Beat schedule: {line}\n")
