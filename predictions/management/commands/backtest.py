"""`manage.py backtest`: re-score the served stream's matured rows with a model version, beside
the champion as it served and the baseline, and store the result (services.backtest)."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from predictions.management.commands.evaluate import find_version
from predictions.models import Backtest
from predictions.services.backtest import Window, backtest_create

UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO time (UTC when it has no zone), or a span back from now: 7d, 12h, 90m."""
    span = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if span:
        return now - timedelta(**{UNITS[span[2]]: float(span[1])})
    at = parse_datetime(text)
    if at is None:
        raise CommandError(f"{text!r} is neither an ISO time nor a span such as 7d, 12h, 90m")
    return at if timezone.is_aware(at) else timezone.make_aware(at, UTC)


class Command(BaseCommand):
    help = ("Backtest a model version on the stream we served: its scores on the stored "
            "feature rows of matured predictions beside the champion's and the baseline's, "
            "with paired block-bootstrap intervals (stored as a Backtest row).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model-version", required=True, help="a version id or name")
        parser.add_argument("--since", default="7d", help="ISO time or span back (7d, 12h)")
        parser.add_argument("--until", default=None, help="ISO time (default now)")
        parser.add_argument("--product", default=None)
        parser.add_argument("--json-out", default=None)

    def handle(self, *args, **opts) -> None:
        version = find_version(opts["model_version"])
        now = timezone.now()
        until = parse_when(opts["until"], now) if opts["until"] else now
        window = Window(since=parse_when(opts["since"], now), until=until,
                        product=opts["product"])
        bar = tqdm(unit="row", unit_scale=True, desc=f"backtest {version}",
                   disable=opts["verbosity"] < 1 or not sys.stderr.isatty())
        try:
            backtest = backtest_create(version=version, window=window,
                                       actor_name="manage.py backtest", progress=bar.update,
                                       on_total=lambda n: setattr(bar, "total", n))
        finally:
            bar.close()
        if backtest.status != Backtest.OK:
            raise CommandError(f"backtest refused: {backtest.error}")
        self.stdout.write(summary(backtest.report))
        if opts["json_out"]:
            with open(opts["json_out"], "w") as fh:
                json.dump(backtest.report, fh, indent=2)


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def section_lines(title: str, section: dict) -> list[str]:
    lines = [f"{title}: {section['figures']['candidate']['n']} rows, prevalence "
             f"{_f(section['figures']['candidate']['prevalence'], 3)}, "
             f"{section['blocks']} blocks"]
    for name, fig in section["figures"].items():
        lines.append(f"  {name:<10} PR-AUC {_f(fig['pr_auc'])}  Brier {_f(fig['brier'])}  "
                     f"precision {_f(fig['precision'], 3)}  recall {_f(fig['recall'], 3)}  "
                     f"at threshold {_f(fig['threshold'], 3)}")
    for name, iv in section["intervals"].items():
        lines.append(f"  candidate − champion {name}: {_f(iv['diff'])} "
                     f"[95 % {_f(iv['low'])}, {_f(iv['high'])}]")
    return lines


def summary(report: dict) -> str:
    lines = [f"{report['model_version']} on {report['rows']} matured rows "
             f"({report['spikes']} spikes) from {report['since']} to {report['until']}, "
             f"feature set {report['feature_set']}, {report['seconds']:.1f} s"]
    lines += section_lines("overall", report["overall"])
    for name, section in report["products"].items():
        lines += section_lines(f"product {name}", section)
    for name, section in report["days"].items():
        lines += section_lines(f"day {name}", section)
    return "\n".join(lines) + "\n"
