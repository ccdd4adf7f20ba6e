"""Model versions: their held-out metrics and quality charts, promotion (its own permission,
the guardrail, a superuser's written force) and rollback to the previous version. Refusals
come back as messages; every write goes through predictions.services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from predictions.admin import model_metrics
from predictions.admin.config import ReadOnlyAdmin
from predictions.admin_charts import backtest_html, model_quality_html
from predictions.core import markdown
from predictions.models import Backtest, ModelVersion, ServiceConfig
from predictions.services import (
    PROMOTE_PERMISSION,
    ConfigError,
    Promotion,
    model_version_activate,
    model_version_rollback,
)


class PromotionActionForm(ActionForm):
    """The reason (audited) and, for superusers, forcing ML past the guardrail."""

    reason = forms.CharField(required=False, max_length=500,
                             widget=forms.TextInput(attrs={"size": 40,
                                                           "placeholder": "reason (audited)"}))
    force_ml = forms.BooleanField(required=False, label="force ML (superuser, reason required)")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_at", "algorithm", "is_active", "prevalence", "ml_pr_auc",
                    "baseline_pr_auc", "ml_brier", "baseline_brier"]
    # The page explains rather than dumps (#22): metrics as tables, the card rendered, the
    # raw JSON behind a link.
    fieldsets = [
        (None, {"fields": ["name", "created_at", "algorithm", "data_source", "sha256",
                           "features"]}),
        ("Guardrail", {"fields": ["guardrail"]}),
        ("Held-out quality (walk-forward)", {"fields": ["held_out", "quality_charts", "folds",
                                                        "candidates", "calibration"]}),
        ("The registered model (refit on all rows)", {"fields": [
            "refit", "threshold", "label_threshold", "horizon_s", "percentile",
            ("train_start", "train_end"), ("test_start", "test_end")]}),
        ("Backtest on live history", {"fields": ["latest_backtest"]}),
        ("Model card", {"fields": ["card"]}),
        ("Raw data", {"fields": ["raw_metrics", "baseline_params"]}),
    ]
    readonly_fields = ["created_at", "features", "guardrail", "held_out", "quality_charts",
                       "folds", "candidates", "calibration", "refit", "card", "raw_metrics",
                       "latest_backtest"]
    actions = ["promote", "rollback_previous", "backtest_live"]
    action_form = PromotionActionForm

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and request.user.has_perm("predictions.change_serviceconfig")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_staff

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PROMOTE_PERMISSION)

    @admin.display(boolean=True, description="promoted")
    def is_active(self, obj: ModelVersion) -> bool:
        return ServiceConfig.objects.filter(active_model_version=obj).exists()

    @admin.display(description="prevalence")
    def prevalence(self, obj: ModelVersion) -> str:
        return f"{obj.metrics.get('prevalence', 0):.3f}"

    def _metric(self, obj: ModelVersion, variant: str, key: str) -> str:
        value = obj.metrics.get(variant, {}).get(key)
        return "—" if value is None else f"{value:.4f}"

    @admin.display(description="PR-AUC ml")
    def ml_pr_auc(self, obj):
        return self._metric(obj, "ml", "pr_auc")

    @admin.display(description="PR-AUC baseline")
    def baseline_pr_auc(self, obj):
        return self._metric(obj, "baseline", "pr_auc")

    @admin.display(description="Brier ml")
    def ml_brier(self, obj):
        return self._metric(obj, "ml", "brier")

    @admin.display(description="Brier baseline")
    def baseline_brier(self, obj):
        return self._metric(obj, "baseline", "brier")

    @admin.display(description="Model quality")
    def quality_charts(self, obj: ModelVersion) -> str:
        return model_quality_html(obj)

    @admin.display(description="Backtest on live history")
    def latest_backtest(self, obj: ModelVersion) -> str:
        return backtest_html(Backtest.objects.filter(model_version=obj)
                             .select_related("model_version").first())

    @admin.display(description="Model card")
    def card(self, obj: ModelVersion) -> str:
        if not obj.model_card.strip():
            return "no model card"
        # Safe to mark: the renderer escapes every line before adding its fixed tags.
        return mark_safe(f'<div class="model-card">{markdown.render(obj.model_card)}</div>')

    @admin.display(description="features")
    def features(self, obj: ModelVersion) -> str:
        names = list(obj.feature_names or [])
        return f"{len(names)}: {', '.join(map(str, names))}"

    @admin.display(description="verdict")
    def guardrail(self, obj: ModelVersion) -> str:
        return model_metrics.guardrail_html(obj.metrics or {})

    @admin.display(description="held-out figures")
    def held_out(self, obj: ModelVersion) -> str:
        return model_metrics.held_out_html(obj.metrics or {})

    @admin.display(description="walk-forward folds")
    def folds(self, obj: ModelVersion) -> str:
        return model_metrics.folds_html(obj.metrics or {})

    @admin.display(description="candidates")
    def candidates(self, obj: ModelVersion) -> str:
        return model_metrics.candidates_html(obj.metrics or {})

    @admin.display(description="calibration")
    def calibration(self, obj: ModelVersion) -> str:
        return model_metrics.calibration_html(obj.metrics or {})

    @admin.display(description="refit")
    def refit(self, obj: ModelVersion) -> str:
        return model_metrics.refit_html(obj.metrics or {})

    @admin.display(description="metrics")
    def raw_metrics(self, obj: ModelVersion) -> str:
        return format_html('<a href="{}" id="raw-metrics">the raw metrics (JSON)</a>',
                           reverse("admin:predictions_modelversion_metrics", args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/metrics.json", self.admin_site.admin_view(self.metrics_view),
                     name="predictions_modelversion_metrics")] + super().get_urls()

    def metrics_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """Every number training recorded for the version, as stored."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion.objects.only("metrics"), pk=pk)
        return JsonResponse(version.metrics, json_dumps_params={"indent": 1})

    def _say(self, request: HttpRequest, version: ModelVersion, promotion: Promotion) -> None:
        if promotion.forced:
            self.message_user(request, f"{version} is now promoted and serves ML, forced: "
                                       f"{promotion.reason}", messages.WARNING)
        elif promotion.serves_ml:
            self.message_user(request, f"{version} is now promoted and serves ML. "
                                       f"{promotion.reason}", messages.SUCCESS)
        else:
            self.message_user(request, f"{version} is now promoted, but the baseline variant "
                                       f"serves: {promotion.reason}", messages.WARNING)

    @admin.action(description="Promote the selected version (serve it)",
                  permissions=["promote"])
    def promote(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        reason = request.POST.get("reason", "").strip()
        force = request.POST.get("force_ml") in ("on", "true", "1")
        try:
            promotion = model_version_activate(
                version=version, actor=request.user,
                reason=f"promoted {version} in the admin" + (f": {reason}" if reason else ""),
                force_ml=force, force_reason=reason if force else "")
        except ConfigError as exc:
            self.message_user(request, f"Refused: {exc}", messages.ERROR)
            return
        self._say(request, version, promotion)

    @admin.action(description="Roll back to the previous version (select any)",
                  permissions=["promote"])
    def rollback_previous(self, request: HttpRequest, queryset) -> None:
        reason = request.POST.get("reason", "").strip() or "rollback from the admin"
        try:
            promotion = model_version_rollback(actor=request.user, reason=reason)
        except ConfigError as exc:
            self.message_user(request, f"Refused: {exc}", messages.ERROR)
            return
        self._say(request, promotion.config.active_model_version, promotion)

    @admin.action(description="Backtest on live history (the last days served)",
                  permissions=["promote"])
    def backtest_live(self, request: HttpRequest, queryset) -> None:
        """Queue one backtest per selected version on the default queue; each stores its row,
        shown on the version's page."""
        from predictions.tasks import backtest_run

        until = timezone.now()
        since = until - timedelta(days=settings.BACKTEST_WINDOW_DAYS)
        for version in queryset.defer(*ModelVersion.blobs()):
            backtest_run.delay(version.pk, since.isoformat(), until.isoformat(), None,
                               request.user.pk)
            self.message_user(request, f"Backtest of {version} on {since:%Y-%m-%d %H:%M} → "
                                       f"{until:%Y-%m-%d %H:%M} UTC queued; its result appears "
                                       f"on the version's page.", messages.INFO)
