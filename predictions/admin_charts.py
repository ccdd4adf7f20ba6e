"""The model-quality pictures on a model version's admin page: its PR curve (ML and baseline,
beside the prevalence) and its reliability diagram.

They come from the curve data training stores with the version (`pr_curves`, `prevalence`,
`reliability`, in its metrics or in a JSON model card). Versions trained before that data
existed get a plain message instead of an empty chart. Kept out of admin.py so the admin
class only gains a read-only field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from predictions.core.charts import pr_curve_svg, reliability_svg

NO_DATA = "no curve data for this version"


def curve_data(version: Any) -> dict[str, Any] | None:
    """`pr_curves`, `prevalence` and `reliability` of a version, from its metrics or, failing
    that, a model card stored as JSON; None when neither has curves of the expected shape."""
    sources = [getattr(version, "metrics", None)]
    card = getattr(version, "model_card", "")
    if isinstance(card, Mapping):
        sources.append(card)
    elif isinstance(card, str) and card.lstrip().startswith("{"):
        try:
            sources.append(json.loads(card))
        except ValueError:
            pass
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        curves, bins = source.get("pr_curves"), source.get("reliability")
        if _is_curves(curves) or _is_bins(bins):
            prevalence = source.get("prevalence")
            return {
                "pr_curves": curves if _is_curves(curves) else None,
                "reliability": bins if _is_bins(bins) else None,
                "prevalence": prevalence if isinstance(prevalence, (int, float)) else None,
            }
    return None


def _is_curves(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(c, Mapping) and isinstance(c.get("recall"), list)
        and isinstance(c.get("precision"), list) for c in value.values())


def _is_bins(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(rows, list) and all(isinstance(b, Mapping) for b in rows)
        for rows in value.values())


def model_quality_html(version: Any) -> SafeString:
    """The two SVGs side by side, or the no-data message. Safe to mark: the chart module
    escapes every label and writes numbers itself, so no stored text reaches the page raw."""
    data = curve_data(version)
    if data is None:
        return format_html("<p>{}</p>", NO_DATA)
    name = str(getattr(version, "name", ""))
    pictures = []
    if data["pr_curves"] is not None:
        pictures.append(pr_curve_svg(data["pr_curves"], data["prevalence"],
                                     f"PR curve on test: {name}"))
    if data["reliability"] is not None:
        pictures.append(reliability_svg(data["reliability"], f"Reliability on test: {name}"))
    cells = "".join(f'<div style="flex: 0 1 640px; min-width: 320px">{svg}</div>'
                    for svg in pictures)
    return mark_safe(  # built from escaped labels and formatted numbers only
        f'<div class="model-quality" style="display: flex; flex-wrap: wrap; gap: 16px">'
        f"{cells}</div>")


def _fmt(value: Any, digits: int = 4) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def backtest_html(backtest: Any) -> SafeString:
    """A version's latest backtest: its window and rows, every variant's figures, the paired
    intervals (candidate − champion) and the PR curves and reliability diagrams of candidate
    and champion on the same rows; or why it was refused; or that there is none yet."""
    if backtest is None:
        return format_html("<p>{}</p>", "No backtest yet: use the action “Backtest on live "
                                        "history”.")
    head = format_html("<p>{} by {} on {}, window {} → {}{}: {} matured rows, {} spikes.</p>",
                       f"{backtest.created_at:%Y-%m-%d %H:%M} UTC", backtest.actor_name,
                       backtest.model_version, f"{backtest.since:%Y-%m-%d %H:%M}",
                       f"{backtest.until:%Y-%m-%d %H:%M}",
                       f" ({backtest.product_id})" if backtest.product_id else "",
                       backtest.rows, backtest.spikes)
    if backtest.status != "ok":
        return format_html("{}<p><strong>Refused:</strong> {}</p>", head, backtest.error)
    overall = backtest.report.get("overall") or {}
    rows = "".join(
        format_html("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    name, fig.get("n"), _fmt(fig.get("pr_auc")), _fmt(fig.get("brier")),
                    _fmt(fig.get("precision"), 3), _fmt(fig.get("recall"), 3))
        for name, fig in (overall.get("figures") or {}).items())
    intervals = "".join(
        format_html("<li>candidate − champion {}: {} [95 % {}, {}]</li>", name,
                    _fmt(iv.get("diff")), _fmt(iv.get("low")), _fmt(iv.get("high")))
        for name, iv in (overall.get("intervals") or {}).items())
    curves = backtest.report.get("curves") or {}
    pictures = []
    if curves.get("pr_curves"):
        pictures.append(pr_curve_svg(curves["pr_curves"], curves.get("prevalence"),
                                     "PR curve on live history"))
    if curves.get("reliability"):
        pictures.append(reliability_svg(curves["reliability"], "Reliability on live history"))
    cells = "".join(f'<div style="flex: 0 1 640px; min-width: 320px">{svg}</div>'
                    for svg in pictures)
    return mark_safe(  # built from format_html pieces and the chart module's escaped SVG
        f'{head}<table class="backtest"><tr><th>variant</th><th>rows</th><th>PR-AUC</th>'
        f"<th>Brier</th><th>precision</th><th>recall</th></tr>{rows}</table>"
        f"<ul>{intervals}</ul>"
        f'<div class="backtest-charts" style="display: flex; flex-wrap: wrap; gap: 16px">'
        f"{cells}</div>")
