"""The hourly housekeeping task, editable in the admin under Periodic tasks."""

from __future__ import annotations

from django.db import migrations


def create(apps, schema_editor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name="housekeeping",
        defaults={
            "task": "monitoring.tasks.housekeeping",
            "interval": hourly,
            "description": "Deletes predictions, API rollups and drift reports past retention.",
        },
    )


def remove(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="housekeeping"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
