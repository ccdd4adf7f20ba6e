"""`manage.py live_rollups_rebuild [--since 7d]`: recompute the live-performance rollups from
the matured prediction rows (after a restore, an upgrade from a version without rollups, or
rows loaded some other way). Label maturing keeps them current otherwise."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from predictions.services.live_rollups import live_rollups_rebuild

UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_span(text: str) -> timedelta:
    """"90m", "36h", "7d" → a timedelta (a clear error otherwise)."""
    try:
        amount, unit = float(text[:-1]), UNITS[text[-1]]
    except (ValueError, KeyError, IndexError):
        raise CommandError(f"not a span: {text!r} (use e.g. 90m, 36h or 7d)") from None
    if amount <= 0:
        raise CommandError(f"not a span: {text!r} (it must be positive)")
    return timedelta(**{unit: amount})


class Command(BaseCommand):
    help = "Recompute the live-performance rollups from matured prediction rows."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", help="only the last span, e.g. 36h or 7d (default: all)")

    def handle(self, *args, **opts) -> None:
        since = timezone.now() - parse_span(opts["since"]) if opts["since"] else None
        started = time.monotonic()
        written = live_rollups_rebuild(since=since)
        self.stdout.write(f"rebuilt {written.get('liveminute', 0)} minute and "
                          f"{written.get('livehour', 0)} hour rollup rows in "
                          f"{time.monotonic() - started:.1f} s")
