"""`manage.py bootstrap`: first-run setup for the embedded stack.

Creates an `admin` superuser with a random password (written, mode 600, to the runtime
folder), an API token for it, a first model version trained on simulated history when
none exists, and the live-performance rollups of matured rows that have none (a database
from before the rollups). Safe to run again: it changes nothing that exists.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from predictions.core.private_files import write_private
from predictions.models import LiveHour, ModelVersion, PredictionOutcome


class Command(BaseCommand):
    help = "Create the admin user, its API token and a first model if missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--train-hours", type=float, default=8.0)

    def handle(self, *args, **opts) -> None:
        User = get_user_model()
        credentials = settings.RUNTIME_DIR / "admin-credentials.txt"
        user = User.objects.filter(username=opts["username"]).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(opts["username"], "", password)
            token = Token.objects.create(user=user)
            write_private(credentials,
                          f"login: {user.username} / {password}   API token: {token.key}\n")
            self.stdout.write(f"created superuser {user.username!r}; credentials in {credentials}")
        if not ModelVersion.objects.exists():
            self.stdout.write("no model version yet: training a first one on simulated history")
            call_command("train", hours=opts["train_hours"], activate=True,
                         verbosity=opts["verbosity"])
        if not LiveHour.objects.exists() and PredictionOutcome.objects.filter(
                realized_label__isnull=False).exists():
            self.stdout.write("matured predictions without live rollups: rebuilding them")
            call_command("live_rollups_rebuild", verbosity=opts["verbosity"])
