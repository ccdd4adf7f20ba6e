"""Once: the `stream-supervise` interval, read from STREAM_SUPERVISE_SECONDS at migrate time.

The schedule is no longer written here: volsite/periodic_tasks.py lists every periodic task and
syncs the beat rows after every `migrate`, so an interval setting applies at the next start
instead of being frozen at the first migrate. The migration stays (empty) so the migration
history of existing databases is unchanged."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0002_initial_config_and_schedule"),
    ]
    operations: list = []
