"""Predictions for reading: rounded scores, filters by time, product, variant and realized
label, and a page with the features and both variants' scores.

Built for a table of tens of millions of rows: a page reads 100 rows through an index and
never the whole table. No exact count (an estimate, or a count capped at COUNT_CAP), no
distinct-month scan (time filters are fixed ranges), product choices from an index walk,
sorting only by event time, and never the model version's blobs.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from predictions.admin.config import ReadOnlyAdmin
from predictions.admin.layout import clipped
from predictions.models import ModelVersion, Prediction, PredictionOutcome
from predictions.selectors import prediction_products

# A filtered list counts its rows up to here; past it the page says "more than".
COUNT_CAP = 10_000
LIST_FIELDS = ("id", "event_ts", "product_id", "variant", "score", "label", "shadow_variant",
               "shadow_score", "model_version__name", "outcome__realized_label",
               "outcome__forward_rv")


def _round(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class EstimatedCountPaginator(Paginator):
    """Pages without counting millions of rows, and never deeper than COUNT_CAP rows (an
    OFFSET into millions is a scan: the time filters reach older rows). `total` is what the
    page says: PostgreSQL's own estimate for the whole table (pg_class.reltuples, kept by
    autovacuum and ANALYZE), an exact count up to COUNT_CAP for a filtered list."""

    @cached_property
    def count(self) -> int:
        return min(self.total[0], COUNT_CAP)

    @cached_property
    def total(self) -> tuple[int, str]:
        """(rows, how they were counted: "exact", "estimated" or "more than")."""
        qs = self.object_list
        if connection.vendor == "postgresql" and not qs.query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                               [qs.model._meta.db_table])
                found = cursor.fetchone()
            if found and found[0] > COUNT_CAP:
                return int(found[0]), "estimated"
        counted = qs.order_by()[:COUNT_CAP + 1].count()
        return (COUNT_CAP, "more than") if counted > COUNT_CAP else (counted, "exact")


class ProductFilter(admin.SimpleListFilter):
    """The products, from an index walk (a probe per product) rather than SELECT DISTINCT."""

    title = "product"
    parameter_name = "product_id__exact"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(p, p) for p in prediction_products()]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(product_id=self.value()) if self.value() else queryset


class OutcomeFilter(admin.SimpleListFilter):
    """The realized outcome (a row of its own, PredictionOutcome)."""

    title = "realized label"
    parameter_name = "outcome"
    CHOICES = {"spike": {"outcome__realized_label": True},
               "calm": {"outcome__realized_label": False},
               "unobservable": {"outcome__isnull": False, "outcome__realized_label": None},
               "undecided": {"outcome__isnull": True}}

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(key, key) for key in self.CHOICES]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(**self.CHOICES[self.value()]) if self.value() in self.CHOICES \
            else queryset


def _outcome(obj: Prediction):
    """The prediction's outcome row, or None while it is undecided."""
    try:
        return obj.outcome
    except PredictionOutcome.DoesNotExist:
        return None


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    # Columns chosen to fit 1400 px: variants by their short key, the shadow's variant and
    # score in one cell, a long version name cut with its full name in the title.
    list_display = ["event_ts", "product_id", "served_variant", "served_score", "label",
                    "shadow", "realized_label", "forward_vol", "version"]
    # Time ranges are fixed choices (no query); products come from an index walk.
    list_filter = [("event_ts", admin.DateFieldListFilter), ProductFilter, "variant",
                   OutcomeFilter, "label"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Only event time sorts: it is the one order an index serves.
    sortable_by = ["event_ts"]
    fields = ["event_ts", "created_at", "product_id", "model_version", "scores", "label",
              "realized_label", "forward_vol", "mid", "feature_table", "topic", "partition",
              "offset", "tick_index", "matured_at"]
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_staff

    def get_queryset(self, request: HttpRequest):
        """The version's name, never its blobs; the list leaves out the features too."""
        qs = super().get_queryset(request).select_related("model_version", "outcome")
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "predictions_prediction_changelist":
            return qs.only(*LIST_FIELDS)
        return qs.defer(*ModelVersion.blobs("model_version__"))

    @admin.display(description="variant", ordering=None)
    def served_variant(self, obj: Prediction) -> str:
        return obj.variant

    @admin.display(description="score")
    def served_score(self, obj: Prediction) -> str:
        return _round(obj.score)

    @admin.display(description="shadow score")
    def shadow(self, obj: Prediction) -> str:
        return f"{obj.shadow_variant} {_round(obj.shadow_score)}"

    @admin.display(description="model version")
    def version(self, obj: Prediction) -> str:
        return clipped(obj.model_version.name if obj.model_version_id else "—")

    @admin.display(description="realized label")
    def realized_label(self, obj: Prediction) -> str:
        outcome = _outcome(obj)
        if outcome is None:
            return "undecided"
        return {True: "spike", False: "calm", None: "unobservable"}[outcome.realized_label]

    @admin.display(description="forward vol")
    def forward_vol(self, obj: Prediction) -> str:
        outcome = _outcome(obj)
        return _round(outcome.forward_rv if outcome else None, 6)

    @admin.display(description="matured at")
    def matured_at(self, obj: Prediction):
        outcome = _outcome(obj)
        return outcome.matured_at if outcome else "—"

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
