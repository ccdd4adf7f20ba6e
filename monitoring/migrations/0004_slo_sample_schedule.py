"""The once-a-minute slo-sample task (freshness SLIs), editable in the admin under Periodic
tasks."""

from __future__ import annotations

from django.db import migrations


def create(apps, schema_editor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="slo-sample",
        defaults={
            "task": "monitoring.tasks.slo_sample",
            "interval": every_minute,
            "description": "Counts the minute for the prediction and drift-report freshness "
                           "SLOs (docs/slo.md).",
        },
    )


def remove(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="slo-sample"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_slo_rollups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
