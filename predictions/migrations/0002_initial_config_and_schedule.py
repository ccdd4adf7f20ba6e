"""Create the one ServiceConfig row (its active variant from MODEL_VARIANT, once).

The beat schedule that this migration once created is written by volsite/periodic_tasks.py
after every `migrate` (one list of every periodic task)."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations


def create(apps, schema_editor) -> None:
    ServiceConfig = apps.get_model("predictions", "ServiceConfig")
    ServiceConfig.objects.get_or_create(
        pk=1, defaults={"active_variant": settings.DEFAULT_MODEL_VARIANT}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
