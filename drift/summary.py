"""A drift report written out for the operator, as markdown: the window and its rows, the
share of drifted features against the threshold, every feature's statistic and verdict (most
drifted first, with how far the current median moved from the reference), both variants' live
performance over the same window beside their held-out figures, and what to do.

`manage.py drift_summary` and the admin's download serve the same text. Evidently is not
needed: everything is read from the stored report, the model version and the predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from drift.methods import P_VALUE_METHODS
from drift.models import DriftReport
from predictions.models import ModelVersion, Prediction, ServiceConfig
from predictions.selectors import prediction_live_performance

VARIANTS = ("ml", "baseline")
# Feature families (the statistic before the window suffix) and what a shift in them means.
FAMILIES = {
    "rv": "volatility", "log_vol": "volatility", "range": "volatility",
    "intensity": "tick rate", "trade_moves": "tick rate",
}


@dataclass(frozen=True)
class FeatureLine:
    feature: str
    method: str
    score: float
    threshold: float
    drifted: bool
    median_ratio: float | None  # current median / reference median

    @property
    def strength(self) -> float:
        """How far past (> 1) or short of (< 1) its threshold the statistic is."""
        if self.method in P_VALUE_METHODS:
            return math.inf if self.score <= 0 else self.threshold / self.score
        return self.score / self.threshold if self.threshold else math.inf


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def _medians(rows: list[list[float]]) -> np.ndarray:
    if not rows:
        return np.array([])
    return np.nanmedian(np.asarray(rows, dtype=float), axis=0)


def _current_rows(report: DriftReport, names: list[str]) -> list[list[float]]:
    """The rows the report compared, as far as they are still stored (retention deletes)."""
    if report.model_version_id is None or report.current_start is None:
        return []
    rows = (Prediction.objects.filter(model_version_id=report.model_version_id,
                                      event_ts__gte=report.current_start,
                                      event_ts__lte=report.current_end)
            .order_by("-id").values_list("features", flat=True)[:report.current_rows])
    return [[f.get(n, math.nan) for n in names] for f in rows]


def feature_lines(report: DriftReport) -> list[FeatureLine]:
    """Per-feature results, most drifted first."""
    version = report.model_version
    names = [f["feature"] for f in report.features]
    ratios: dict[str, float | None] = dict.fromkeys(names)
    if version is not None and version.reference_sample:
        reference = dict(zip(version.feature_names, _medians(version.reference_sample)))
        current = dict(zip(names, _medians(_current_rows(report, names))))
        for name in names:
            ref, cur = reference.get(name), current.get(name)
            if ref is None or cur is None or math.isnan(cur) or math.isnan(ref):
                continue
            if name.startswith("log_"):  # a log feature: the ratio of what it is the log of
                ratios[name] = float(math.exp(cur - ref))
            elif ref != 0:
                ratios[name] = float(cur / ref)
    lines = [FeatureLine(f["feature"], f["method"], float(f["score"]), float(f["threshold"]),
                         bool(f["drifted"]), ratios[f["feature"]]) for f in report.features]
    return sorted(lines, key=lambda line: (not line.drifted, -line.strength, line.feature))


def _family(feature: str) -> str:
    stat = feature.rsplit("_", 1)[0]
    return FAMILIES.get(stat, stat)


def _live(report: DriftReport) -> dict[str, dict]:
    """Live figures of the report's window, in the rollups' whole minutes: from the minute of
    its first row to the end of the minute of its last."""
    if report.current_start is None:
        return {}
    return prediction_live_performance(since=report.current_start,
                                       until=report.current_end + timedelta(minutes=1),
                                       model_version=report.model_version)


def _header(report: DriftReport) -> list[str]:
    version = report.model_version
    lines = [f"# Drift summary: report {report.pk}, {report.created_at:%Y-%m-%d %H:%M} UTC", "",
             f"- Status: **{report.status}**" + (f" ({report.message})" if report.message
                                                 else ""),
             f"- Model version: {version.name if version else '—'}"
             + (f" (trained on {version.train_start:%Y-%m-%d %H:%M} – "
                f"{version.train_end:%Y-%m-%d %H:%M} UTC)"
                if version and version.train_start and version.train_end else ""),
             f"- Method: {report.method or '—'}"]
    if report.current_start is not None:
        span = report.current_end - report.current_start
        lines.append(f"- Window: {report.current_rows:,} current rows, event time "
                     f"{report.current_start:%Y-%m-%d %H:%M:%S} – "
                     f"{report.current_end:%Y-%m-%d %H:%M:%S} UTC "
                     f"({span.total_seconds() / 60:.1f} minutes)")
    else:
        lines.append(f"- Window: {report.current_rows:,} current rows")
    lines.append(f"- Reference: {report.reference_rows:,} rows of the version's training "
                 "sample")
    return lines


def _verdict(report: DriftReport) -> list[str]:
    threshold = report.share_threshold if report.share_threshold is not None else math.nan
    share = report.share_drifted if report.share_drifted is not None else math.nan
    return ["", "## Verdict", "",
            f"{report.n_drifted} of {report.n_features} features drifted: share "
            f"**{share:.1%}** against the threshold {threshold:.1%}, so "
            + ("**dataset drift**." if report.dataset_drift else "**no dataset drift**.")]


def _feature_table(lines: list[FeatureLine]) -> list[str]:
    out = ["", "## Features, most drifted first", "",
           "Statistic against threshold: a distance drifts at or above it, a p-value below it. "
           "The median ratio is the current rows' median over the reference sample's (for a "
           "`log_` feature, of the quantity it is the log of).", "",
           "| feature | method | statistic | threshold | verdict | median ratio |",
           "|---|---|---|---|---|---|"]
    for line in lines:
        out.append(f"| `{line.feature}` | {line.method} | {line.score:.4g} | "
                   f"{line.threshold:.4g} | {'**drift**' if line.drifted else 'ok'} | "
                   f"{_fmt(line.median_ratio, 2)} |")
    return out


def _performance(report: DriftReport, live: dict[str, dict]) -> list[str]:
    metrics = report.model_version.metrics if report.model_version else {}
    out = ["", "## Live performance over the same window", "",
           "Live: predictions of this window whose realized label has matured (every row "
           "scores both variants). Held-out: the version's walk-forward test "
           f"(prevalence {_fmt(metrics.get('prevalence'))}).", "",
           "| variant | matured rows | prevalence | PR-AUC live | PR-AUC held-out | "
           "Brier live | Brier held-out |", "|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        now, held = live.get(variant) or {}, metrics.get(variant) or {}
        n = now.get("n") or 0
        missing = now.get("missing") if now else "no matured labels yet"
        out.append(f"| {variant} | {n:,}{f' ({missing})' if missing else ''} | "
                   f"{_fmt(now.get('prevalence'))} | {_fmt(now.get('pr_auc'))} | "
                   f"{_fmt(held.get('pr_auc'))} | {_fmt(now.get('brier'), 4)} | "
                   f"{_fmt(held.get('brier'), 4)} |")
    return out


def _causes(lines: list[FeatureLine]) -> list[str]:
    drifted = [line for line in lines if line.drifted]
    if not drifted:
        return []
    out = ["", "## Likely cause", ""]
    families: dict[str, list[FeatureLine]] = {}
    for line in drifted:
        families.setdefault(_family(line.feature), []).append(line)
    for family, members in families.items():
        ratios = [m.median_ratio for m in members if m.median_ratio is not None]
        direction = ""
        if ratios:
            typical = float(np.median(ratios))
            direction = (f", current median {typical:.2f}× the reference: "
                         + ("higher than in training" if typical > 1 else "lower than in "
                            "training"))
        out.append(f"- {family}: {len(members)} feature(s) drifted "
                   f"({', '.join(f'`{m.feature}`' for m in members)}){direction}.")
    if "volatility" in families:
        out.append("- A volatility shift is a change of market regime (calmer or wilder than "
                   "the training period); the baseline reads `rv_60s` only, so it moves too.")
    if "tick rate" in families:
        out.append("- A tick-rate shift points at the feed (products, exchange activity, a "
                   "replay at another speed) rather than at the market's volatility.")
    return out


def _actions(report: DriftReport, live: dict[str, dict]) -> list[str]:
    out = ["", "## What to do", ""]
    if report.status != DriftReport.OK:
        out.append("- The run did not compare anything: see docs/runbook.md, "
                   "\"Drift reports failing\" (failed) or the message above (skipped: too "
                   "few rows of the promoted version, the stream is the cause).")
        return out
    if not report.dataset_drift:
        out.append("- No action needed. Keep the schedule; a single drifted feature is "
                   "normal in a market that changes.")
        return out
    ml, base = live.get("ml") or {}, live.get("baseline") or {}
    margin = ServiceConfig.load().auto_rollback_pr_auc_margin  # the auto-rollback gap
    if ml.get("enough") and base.get("enough") and ml.get("pr_auc") is not None \
            and base.get("pr_auc") is not None:
        gap = base["pr_auc"] - ml["pr_auc"]
        if gap >= margin:
            out.append(f"- **Roll back to the baseline now**: live PR-AUC of ML "
                       f"{ml['pr_auc']:.3f} is {gap:.3f} below the baseline's "
                       f"{base['pr_auc']:.3f} (margin {margin:.3f}); docs/runbook.md, "
                       "\"Emergency rollback\". Then retrain on recent data.")
        else:
            out.append(f"- ML still holds up live (PR-AUC {ml['pr_auc']:.3f} against the "
                       f"baseline's {base['pr_auc']:.3f}): keep serving it, and retrain on "
                       "recent data (`python manage.py train --data <recent capture> "
                       "--activate`; the guardrail promotes ML only if it beats the "
                       "baseline).")
    else:
        out.append("- Too few matured rows to judge live performance: compare the variants "
                   "with `python manage.py evaluate --data <recent capture>` before acting.")
    out += ["- Rule out artefacts first: a window that starts within 5 minutes of a "
            "stream-worker restart holds warming features; a short window holds one regime "
            "(raise *drift window rows* in Service configuration).",
            "- If the drift is expected and harmless, tune the drift policy in Service "
            "configuration with a reason. Details: docs/runbook.md, \"Drift detected\"."]
    return out


def drift_summary_markdown(report: DriftReport) -> str:
    """The summary of one drift report."""
    if report.model_version_id is not None:  # one query, not one per use
        report.model_version = ModelVersion.objects.get(pk=report.model_version_id)
    lines = feature_lines(report)
    live = _live(report) if report.status == DriftReport.OK else {}
    parts = _header(report)
    if report.status == DriftReport.OK:
        parts += _verdict(report) + _feature_table(lines) + _performance(report, live) \
            + _causes(lines)
    parts += _actions(report, live)
    return "\n".join(parts) + "\n"
