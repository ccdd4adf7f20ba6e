"""`python manage.py drift_summary [--report ID] [--out FILE]`: a drift report as markdown
(drift/summary.py), the newest one by default, to stdout or a file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from drift.models import DriftReport
from drift.summary import drift_summary_markdown


class Command(BaseCommand):
    help = "Write a markdown summary of a drift report (the newest by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--report", type=int, help="Drift report id (default: the newest).")
        parser.add_argument("--out", help="File to write (default: standard output).")

    def handle(self, *args, **opts) -> None:
        reports = DriftReport.objects.all()
        report = (reports.filter(pk=opts["report"]).first() if opts["report"] is not None
                  else reports.first())
        if report is None:
            raise CommandError(f"no drift report {opts['report']}" if opts["report"] is not None
                               else "no drift report yet: the drift-report task has not run")
        text = drift_summary_markdown(report)
        if opts["out"]:
            Path(opts["out"]).write_text(text)
            self.stderr.write(f"wrote the summary of drift report {report.pk} to {opts['out']}")
        else:
            self.stdout.write(text, ending="")
