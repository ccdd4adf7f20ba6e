"""What the SLO page shows, shaped once for its two forms: the HTML page (with server-side SVG
charts, no JavaScript) and its JSON (`/slo/?format=json`) for scripts and tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from monitoring.burn import BUDGET_WINDOW, TIERS
from monitoring.burn import WINDOWS as BURN_WINDOWS
from monitoring.selectors import (
    SloReport,
    prediction_age_seconds,
    slo_reports,
    tick_latency_quantiles,
)
from predictions.core.charts import line_chart_svg


@dataclass(frozen=True)
class SloPage:
    window_key: str
    now: datetime
    config: object
    reports: list[SloReport]
    tick_quantiles: dict[float, list[tuple[float, float | None]]]
    prediction_age: float | None


def slo_page_build(*, config, window_key: str, now: datetime | None = None) -> SloPage:
    now = now or timezone.now()
    return SloPage(window_key=window_key, now=now, config=config,
                   reports=slo_reports(config=config, window_key=window_key, now=now),
                   tick_quantiles=tick_latency_quantiles(window_key=window_key, now=now),
                   prediction_age=prediction_age_seconds())


def _number(value: float | None) -> float | str | None:
    """JSON has no infinity: an infinite burn (a target of 1 with a bad event) is "inf"."""
    if value is not None and math.isinf(value):
        return "inf"
    return value


def _report_json(report: SloReport) -> dict:
    d, s = report.definition, report.status
    return {
        "key": d.key, "name": d.name, "objective": s.objective, "counted_by": d.counted_by,
        "grace_seconds": d.grace_seconds,
        "target": s.target, "threshold": report.threshold,
        "threshold_unit": d.threshold_unit or None,
        "good": s.good, "total": s.total, "sli": s.sli, "status": s.status,
        "budget_remaining": _number(s.budget_remaining),
        "burn_rates": {k: _number(v) for k, v in report.burn_rates.items()},
        "alert": {"level": report.alert.level, "firing": list(report.alert.firing)},
        "points": [{"t": p.t, "good": p.good, "total": p.total, "sli": p.sli,
                    "budget_remaining": _number(p.budget_remaining)} for p in report.points],
    }


def slo_page_json(page: SloPage) -> dict:
    """The page as data: every number the HTML shows, and the chart points."""
    return {
        "window": page.window_key,
        "generated_at": page.now.isoformat(),
        "config_version": getattr(page.config, "version", None),
        "burn_windows": [name for name, _ in BURN_WINDOWS],
        "budget_window": BUDGET_WINDOW[0],
        "alert_tiers": [{"key": t.key, "alert": t.alert, "severity": t.severity,
                         "factor": t.factor, "long": t.long, "short": t.short}
                        for t in TIERS],
        "prediction_age_seconds": page.prediction_age,
        "slos": [_report_json(r) for r in page.reports],
        "tick_to_prediction_seconds": {
            f"p{round(q * 100):d}": [[t, v] for t, v in points]
            for q, points in page.tick_quantiles.items()},
    }


def _with_gaps(points: list[tuple[float, float | None]]) -> list[tuple[float, float]]:
    """A step without events is a gap in the line (NaN breaks it), not a zero."""
    return [(t, math.nan if v is None else v) for t, v in points]


def slo_charts(page: SloPage) -> dict[str, dict[str, str]]:
    """Inline SVG per SLO ({key: {"sli": svg, "budget": svg}}), and the stream's p50/p99
    under the key "stream_quantiles"."""
    charts: dict[str, dict[str, str]] = {}
    for report in page.reports:
        d, target = report.definition, report.status.target
        times = [p.t for p in report.points]
        sli = _with_gaps([(p.t, p.sli) for p in report.points])
        budget = _with_gaps([(p.t, p.budget_remaining) for p in report.points])
        # An SLO without a counted event draws "no data", not a target line over emptiness
        # that reads like a flat, perfect SLI.
        counted = any(p.sli is not None for p in report.points)
        ends = [times[0], times[-1]] if times and counted else []
        sli_series = {"SLI": sli}
        budget_series = {"budget left": budget}
        if ends:
            sli_series[f"target {target:.2%}"] = [(t, target) for t in ends]
            budget_series["spent"] = [(t, 0.0) for t in ends]
        charts[d.key] = {
            "sli": line_chart_svg(
                sli_series, title=f"{d.name}: SLI per step ({page.window_key})",
                x_label="time (UTC)", y_label="good / total", x_is_time=True),
            "budget": line_chart_svg(
                budget_series, title=f"{d.name}: error budget left ({page.window_key})",
                x_label="time (UTC)", y_label="share of budget left", x_is_time=True),
        }
    charts["stream_quantiles"] = {"latency": line_chart_svg(
        {f"p{round(q * 100):d}": _with_gaps(points) for q, points in page.tick_quantiles.items()},
        title=f"Tick-to-prediction latency p50 / p99 ({page.window_key})",
        x_label="time (UTC)", y_label="seconds", x_is_time=True)}
    return charts
