"""The periodic drift report, editable in the admin under Periodic tasks."""

from __future__ import annotations

from django.db import migrations


def create(apps, schema_editor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15m, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="drift-report",
        defaults={
            "task": "drift.tasks.drift_report",
            "interval": every_15m,
            "description": "Evidently drift: promoted model's reference sample vs recent rows.",
        },
    )


def remove(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="drift-report"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("drift", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
