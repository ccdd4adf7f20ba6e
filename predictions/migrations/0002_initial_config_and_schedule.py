"""Create the one ServiceConfig row and the beat schedule that supervises the consumer."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations

SUPERVISE_TASK = "predictions.tasks.stream_supervise"


def create(apps, schema_editor) -> None:
    ServiceConfig = apps.get_model("predictions", "ServiceConfig")
    ServiceConfig.objects.get_or_create(
        pk=1, defaults={"active_variant": settings.DEFAULT_MODEL_VARIANT}
    )
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15s, _ = IntervalSchedule.objects.get_or_create(every=15, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="stream-supervise",
        defaults={
            "task": SUPERVISE_TASK,
            "interval": every_15s,
            "description": "Starts a stream consumer chain when none holds the lease.",
        },
    )


def remove(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="stream-supervise"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
