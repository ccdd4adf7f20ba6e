"""Reads behind the SLO page, its JSON, the overview and the scrape-time metrics: every SLI is
summed from the rollups (`SloMinute`/`SloHour`, `TickLatencyMinute`/`TickLatencyHour`), so it
covers exactly the window it names, and no query reads predictions or requests one by one;
the drift reports' latest verdict and share series."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.db.models import Q, Sum
from django.utils import timezone

from drift.models import DriftReport
from monitoring.burn import WINDOWS as BURN_WINDOWS
from monitoring.burn import AlertState, alert_state, burn_rates
from monitoring.models import (
    TICK_LATENCY_EDGES_S,
    SloHour,
    SloMinute,
    TickLatencyHour,
    TickLatencyMinute,
)
from monitoring.slo import SLOS, SloDefinition, SloStatus, bucket_quantile, budget_remaining
from predictions.models import Prediction

# Windows the page offers, and the width of a chart point in each (about 60–170 points).
WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(days=1),
           "7d": timedelta(days=7), "30d": timedelta(days=30)}
CHART_STEP = {"1h": timedelta(minutes=1), "6h": timedelta(minutes=5),
              "24h": timedelta(hours=1), "7d": timedelta(hours=2), "30d": timedelta(hours=6)}
# Up to this window the page reads minute rows; beyond it, hour rows (and the minute rows of
# the partial first hour), so 30 days cost 3,600 rows rather than 216,000.
MINUTE_ROWS_UP_TO = timedelta(hours=6)


@dataclass(frozen=True)
class SloPoint:
    """One chart step: its events, the SLI within it, and the budget left from the window's
    start to its end."""

    t: float  # epoch seconds of the step's start
    good: int
    total: int
    sli: float | None
    budget_remaining: float | None


@dataclass(frozen=True)
class SloReport:
    definition: SloDefinition
    status: SloStatus  # over the page's window
    threshold: float | None  # in the definition's unit
    burn_rates: dict[str, float | None]
    alert: AlertState
    points: list[SloPoint]


def slo_minute_sums(*, now: datetime, spans: dict[str, timedelta]
                    ) -> dict[str, dict[str, tuple[int, int]]]:
    """{slo: {span name: (good, total)}} over the minutes starting at or after now − span,
    for every span in one query."""
    since = now - max(spans.values())
    sums = {}
    for name, span in spans.items():
        recent = Q(minute__gte=now - span)
        sums[f"g_{name}"] = Sum("good", filter=recent)
        sums[f"t_{name}"] = Sum("total", filter=recent)
    rows = (SloMinute.objects.filter(minute__gte=since).order_by().values("slo")
            .annotate(**sums))
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for row in rows:
        out[row["slo"]] = {name: (int(row[f"g_{name}"] or 0), int(row[f"t_{name}"] or 0))
                           for name in spans}
    return out


def _ceil_hour(at: datetime) -> datetime:
    floor = at.replace(minute=0, second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(hours=1)


def _rollup_rows(minute_model, hour_model, fields: list[str], *, since: datetime,
                 by: str | None = None):
    """(time, `by` value, counts) of every row since a time. Without an hour model, minute
    rows; with one, the minute rows of the partial first hour and the hour rows after it:
    the same events, exactly, in a 60th of the rows."""
    keys = [by] if by else []
    edge = _ceil_hour(since) if hour_model is not None else None
    minutes = minute_model.objects.filter(minute__gte=since).order_by()
    if edge is not None:
        minutes = minutes.filter(minute__lt=edge)
    parts = [minutes.values_list("minute", *keys, *fields)]
    if edge is not None:
        parts.append(hour_model.objects.filter(hour__gte=edge).order_by()
                     .values_list("hour", *keys, *fields))
    for part in parts:
        for row in part:
            yield row[0], (row[1] if by else ""), list(row[1 + len(keys):])


def _steps(since: datetime, step: timedelta, n_steps: int,
           rows) -> dict[str, dict[int, list[int]]]:
    """Sum rollup rows into chart steps counted from `since`: {key: {step index: sums}}.
    An hour row falls in the step of its start: the chart is that coarse, the sums exact."""
    out: dict[str, dict[int, list[int]]] = defaultdict(dict)
    width = step.total_seconds()
    for at, key, counts in rows:
        index = min(max(int((at - since).total_seconds() // width), 0), n_steps - 1)
        sums = out[key].setdefault(index, [0] * len(counts))
        for i, c in enumerate(counts):
            sums[i] += c
    return out


def slo_points(*, since: datetime, step: timedelta, n_steps: int, target: float,
               steps: dict[int, list[int]]) -> list[SloPoint]:
    """Chart points of one SLO: the SLI per step and the budget left from `since` on."""
    points, good_so_far, total_so_far = [], 0, 0
    for i in range(n_steps):
        good, total = steps.get(i, [0, 0])
        good_so_far, total_so_far = good_so_far + good, total_so_far + total
        points.append(SloPoint(
            t=(since + i * step).timestamp(), good=good, total=total,
            sli=good / total if total else None,
            budget_remaining=budget_remaining(good_so_far, total_so_far, target)))
    return points


def slo_reports(*, config, window_key: str, now: datetime | None = None) -> list[SloReport]:
    """The five SLOs over the page's window: SLI, budget, burn rates, alert state, chart.
    The window's counts are the sum of its chart steps, so both cover exactly its minutes."""
    now = now or timezone.now()
    window, step = WINDOWS[window_key], CHART_STEP[window_key]
    sums = slo_minute_sums(now=now, spans={name: timedelta(minutes=m)
                                           for name, m in BURN_WINDOWS})
    since = now - window
    hours = SloHour if window > MINUTE_ROWS_UP_TO else None
    n_steps = int(window / step)
    steps = _steps(since, step, n_steps, _rollup_rows(SloMinute, hours, ["good", "total"],
                                                      since=since, by="slo"))
    reports = []
    for definition in SLOS:
        target = definition.target(config)
        rates = burn_rates(sums.get(definition.key, {}), target)
        points = slo_points(since=since, step=step, n_steps=n_steps, target=target,
                            steps=steps.get(definition.key, {}))
        good, total = sum(p.good for p in points), sum(p.total for p in points)
        reports.append(SloReport(
            definition=definition,
            status=SloStatus(definition.key, definition.name, definition.describe(config),
                             target=target, good=good, total=total),
            threshold=definition.threshold(config), burn_rates=rates, alert=alert_state(rates),
            points=points))
    return reports


def tick_latency_quantiles(*, window_key: str, now: datetime | None = None,
                           quantiles: tuple[float, ...] = (0.5, 0.99)
                           ) -> dict[float, list[tuple[float, float | None]]]:
    """{q: [(step start, seconds)]}: tick-to-prediction quantiles per chart step, from the
    latency buckets the consumer counts (interpolated inside a bucket, as Prometheus does)."""
    now = now or timezone.now()
    since, step = now - WINDOWS[window_key], CHART_STEP[window_key]
    fields = ["ticks", *TickLatencyMinute.BUCKET_FIELDS]
    hours = TickLatencyHour if WINDOWS[window_key] > MINUTE_ROWS_UP_TO else None
    n_steps = int(WINDOWS[window_key] / step)
    steps = _steps(since, step, n_steps, _rollup_rows(TickLatencyMinute, hours, fields,
                                                      since=since)).get("", {})
    out: dict[float, list[tuple[float, float | None]]] = {q: [] for q in quantiles}
    for i in range(n_steps):
        counts = steps.get(i)
        t = (since + i * step).timestamp()
        for q in quantiles:
            value = None if counts is None else \
                bucket_quantile(q, TICK_LATENCY_EDGES_S, counts[1:], counts[0])
            out[q].append((t, value))
    return out


def prediction_age_seconds() -> float | None:
    newest = Prediction.objects.order_by("-id").values_list("created_at", flat=True).first()
    return None if newest is None else (timezone.now() - newest).total_seconds()


class DriftLatest(TypedDict):
    at: str
    status: str
    share_drifted: float | None
    share_threshold: float | None
    dataset_drift: bool
    message: str


def drift_latest() -> DriftLatest | None:
    """The newest drift report's verdict (None before the first)."""
    report = DriftReport.objects.defer("html", "features").first()
    if report is None:
        return None
    return DriftLatest(at=report.created_at.isoformat(), status=report.status,
                       share_drifted=report.share_drifted,
                       share_threshold=report.share_threshold,
                       dataset_drift=report.dataset_drift, message=report.message)


def drift_share_series(*, reports: int = 50) -> list[list[float]]:
    """[[epoch seconds, drift share], …] of the newest successful reports, oldest first."""
    rows = (DriftReport.objects.filter(status=DriftReport.OK).exclude(share_drifted=None)
            .order_by("-created_at").values_list("created_at", "share_drifted")[:reports])
    return [[at.timestamp(), share] for at, share in reversed(rows)]
