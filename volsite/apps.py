"""The project package as an app: what belongs to no single app (the beat schedule)."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class VolsiteConfig(AppConfig):
    name = "volsite"
    verbose_name = "Volsite"

    def ready(self) -> None:
        from volsite.periodic_tasks import post_migrate_sync

        # Sent once per migrate for each app with models; django_celery_beat's is the one that
        # owns the schedule tables (this app has no models, so gets no signal of its own).
        post_migrate.connect(post_migrate_sync, sender=apps.get_app_config("django_celery_beat"),
                             dispatch_uid="volsite.periodic_tasks.sync")
