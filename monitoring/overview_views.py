"""The operations overview's two faces: its HTML on the admin index (a template tag, so the
admin's own index view keeps working) and GET /admin/overview.json for scripts (staff only).
Its pictures are drawn server-side as inline SVG by predictions.core.charts."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, JsonResponse
from django.utils.safestring import SafeString, mark_safe

from monitoring.overview import overview_data
from predictions.core.charts import line_chart_svg


@staff_member_required
def overview_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(overview_data(), json_dumps_params={"indent": 1})


def overview_charts(series: dict[str, Any]) -> dict[str, SafeString]:
    """The three pictures. Safe to mark: the chart module escapes every label and writes the
    numbers itself."""
    scores = series["scores"]
    product = scores["product"] or "no product yet"
    charts = {
        "scores": line_chart_svg({"served score": scores["points"]},
                                 title=f"{product}: served score, last hour (▲ realized spike)",
                                 x_label="time (UTC)", y_label="score", x_is_time=True,
                                 y_range=(0.0, 1.0), markers={"spike": scores["spikes"]}),
        "pr_auc": line_chart_svg(series["pr_auc"], title="Live PR-AUC per variant, last 24 h",
                                 x_label="time (UTC)", y_label="PR-AUC", x_is_time=True,
                                 y_range=(0.0, 1.0)),
        "drift": line_chart_svg({"drift share": series["drift_share"]},
                                title="Share of drifted features per drift report",
                                x_label="time (UTC)", y_label="drift share", x_is_time=True,
                                y_range=(0.0, 1.0)),
    }
    return {key: mark_safe(svg) for key, svg in charts.items()}  # noqa: S308 (escaped above)
