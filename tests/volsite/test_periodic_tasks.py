"""The beat schedule is defined once (volsite/periodic_tasks.py) and written by every migrate:
an interval setting changed before a restart applies; an operator's own schedule of an
admin-owned task survives; no migration reads an interval setting any more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.helpers import ROOT, child_env, need, postgres_in_use
from volsite.periodic_tasks import PERIODIC_TASKS, periodic_tasks_sync


def row(name: str) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval").get(name=name)


def test_every_listed_task_is_a_registered_celery_task():
    from volsite.celery import app

    app.loader.import_default_modules()
    missing = [job.task for job in PERIODIC_TASKS if job.task not in app.tasks]
    assert missing == []
    assert len({job.name for job in PERIODIC_TASKS}) == len(PERIODIC_TASKS)


@pytest.mark.django_db
def test_migrate_writes_every_row_as_the_list_says(settings):
    assert set(PeriodicTask.objects.exclude(name="celery.backend_cleanup")
               .values_list("name", flat=True)) == {job.name for job in PERIODIC_TASKS}
    for job in PERIODIC_TASKS:
        task = row(job.name)
        assert (task.task, task.queue, task.enabled) == (job.task, job.queue, True)
        assert (task.interval.every, task.interval.period) == job.interval()
    assert row("stream-supervise").interval.every == settings.STREAM_SUPERVISE_SECONDS


@pytest.mark.django_db
def test_a_changed_interval_setting_applies_at_the_next_migrate(settings):
    settings.STREAM_SUPERVISE_SECONDS = 7
    settings.AUTO_ROLLBACK_SECONDS = 120
    call_command("migrate", verbosity=0)
    assert (row("stream-supervise").interval.every, row("stream-supervise").interval.period) \
        == (7, "seconds")
    assert row("auto-rollback").interval.every == 120
    assert periodic_tasks_sync() == []  # nothing left to change


@pytest.mark.django_db
def test_an_operators_drift_schedule_survives_migrate_but_a_code_owned_one_does_not():
    every_5m = IntervalSchedule.objects.create(every=5, period="minutes")
    PeriodicTask.objects.filter(name__in=["drift-report", "slo-sample"]).update(
        interval=every_5m, enabled=False)
    changed = periodic_tasks_sync()
    assert changed == ["updated slo-sample: interval_id (every 1 minutes)"]
    assert row("drift-report").interval.every == 5 and not row("drift-report").enabled
    assert (row("slo-sample").interval.every, row("slo-sample").interval.period) == \
        (1, "minutes")
    assert not row("slo-sample").enabled  # disabling stays the operator's call


@pytest.mark.django_db
def test_a_deleted_row_comes_back_with_its_default():
    PeriodicTask.objects.filter(name="drift-report").delete()
    assert periodic_tasks_sync() == ["created drift-report: every 15 minutes"]
    assert row("drift-report").task == "drift.tasks.drift_report"


@pytest.mark.django_db(transaction=True)
def test_a_restart_with_a_new_interval_applies_it(settings):
    """As compose and `make run` start: `manage.py migrate` in a new process, with the new
    value in its environment."""
    need("PostgreSQL", postgres_in_use(), "the child process migrates the test database")
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                            env=child_env(settings, LABEL_MATURE_SECONDS="11"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Beat schedule: updated labels-mature" in result.stdout
    assert row("labels-mature").interval.every == 11


def test_no_migration_reads_an_interval_setting():
    settings_read = [job.setting for job in PERIODIC_TASKS if job.setting]
    offenders = [f"{path.relative_to(ROOT)}: {name}"
                 for path in ROOT.glob("*/migrations/*.py")
                 for name in settings_read if f"settings.{name}" in Path(path).read_text()]
    assert offenders == []
