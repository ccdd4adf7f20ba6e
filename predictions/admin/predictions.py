"""Predictions for reading: rounded scores, a date hierarchy, filters by product, variant and
realized label, and a page with the features and both variants' scores."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from predictions.admin.config import ReadOnlyAdmin
from predictions.models import Prediction


def _round(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["event_ts", "product_id", "variant", "served_score", "label",
                    "shadow_variant", "shadow", "realized_label", "forward_vol",
                    "model_version"]
    list_filter = ["product_id", "variant", "realized_label", "label"]
    list_select_related = ["model_version"]
    date_hierarchy = "event_ts"
    show_full_result_count = False
    fields = ["event_ts", "created_at", "product_id", "model_version", "scores", "label",
              "realized_label", "forward_vol", "mid", "feature_table", "topic", "partition",
              "offset", "tick_index", "matured_at"]
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_staff

    @admin.display(description="score", ordering="score")
    def served_score(self, obj: Prediction) -> str:
        return _round(obj.score)

    @admin.display(description="shadow score", ordering="shadow_score")
    def shadow(self, obj: Prediction) -> str:
        return _round(obj.shadow_score)

    @admin.display(description="forward vol", ordering="forward_rv")
    def forward_vol(self, obj: Prediction) -> str:
        return _round(obj.forward_rv, 6)

    @admin.display(description="Both variants' scores")
    def scores(self, obj: Prediction) -> str:
        rows = [(obj.variant, "served", _round(obj.score), _round(obj.threshold)),
                (obj.shadow_variant, "shadow", _round(obj.shadow_score),
                 _round(obj.shadow_threshold))]
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                rows)
        return format_html('<table class="scores"><tr><th>variant</th><th>role</th>'
                           "<th>score</th><th>threshold</th></tr>{}</table>", body)

    @admin.display(description="Features")
    def feature_table(self, obj: Prediction) -> str:
        items = sorted((obj.features or {}).items())
        body = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>",
                                ((k, _round(v, 6) if isinstance(v, (int, float)) else v)
                                 for k, v in items))
        return format_html('<table class="features">{}</table>', body)
