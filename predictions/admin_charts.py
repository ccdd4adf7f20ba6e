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
