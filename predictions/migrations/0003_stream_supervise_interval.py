"""Run the `stream-supervise` beat task every STREAM_SUPERVISE_SECONDS (15 s by default).

The interval bounds, with STREAM_LEASE_SECONDS, how long a crashed consumer's partitions wait.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations


def apply_interval(apps, schema_editor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=settings.STREAM_SUPERVISE_SECONDS,
                                                      period="seconds")
    PeriodicTask.objects.filter(name="stream-supervise").update(interval=every)


class Migration(migrations.Migration):
    dependencies = [("predictions", "0002_initial_config_and_schedule")]
    operations = [migrations.RunPython(apply_interval, migrations.RunPython.noop)]
