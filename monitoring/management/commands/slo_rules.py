"""`python manage.py slo_rules`: write monitoring/prometheus/rules.yml from the SLO
definitions (`--check` only says whether the committed file is current)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring.rules import RULES_PATH, rules_text, rules_write


class Command(BaseCommand):
    help = "Generate the Prometheus recording and alerting rules of the SLOs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", default=str(RULES_PATH), help="Where to write.")
        parser.add_argument("--check", action="store_true",
                            help="Fail if the file differs from what would be generated.")

    def handle(self, *args, **opts) -> None:
        path = Path(opts["output"])
        if opts["check"]:
            if not path.exists() or path.read_text() != rules_text():
                raise CommandError(f"{path} is not current: run `python manage.py slo_rules`")
            self.stdout.write(f"{path} is current")
            return
        changed = rules_write(path)
        self.stdout.write(f"{'wrote' if changed else 'unchanged'} {path}")
