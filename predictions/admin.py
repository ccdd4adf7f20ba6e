"""Operator screens: the configuration (variant flip, promotion), audit log, model versions,
predictions and the consumer's offsets. Every write goes through predictions.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from predictions.admin_charts import model_quality_html
from predictions.models import (
    ConfigAuditEntry,
    ModelVersion,
    Prediction,
    ServiceConfig,
    StreamLease,
    StreamOffset,
)
from predictions.services import (
    EDITABLE_FIELDS,
    ConfigError,
    model_version_activate,
    service_config_check,
    service_config_update,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ServiceConfigForm(forms.ModelForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why you are changing the configuration (kept in the audit log).",
    )

    class Meta:
        model = ServiceConfig
        fields = sorted(EDITABLE_FIELDS)
        labels = {
            "slo_availability_target": "SLO availability target",
            "slo_latency_threshold_ms": "SLO latency threshold (ms)",
            "slo_latency_target": "SLO latency target",
            "slo_freshness_seconds": "SLO freshness (seconds)",
            "slo_stream_latency_seconds": "SLO tick-to-prediction threshold (seconds)",
            "slo_stream_latency_target": "SLO tick-to-prediction target",
            "slo_freshness_target": "SLO freshness target",
            "slo_drift_freshness_seconds": "SLO drift-report freshness (seconds)",
            "slo_drift_freshness_target": "SLO drift-report freshness target",
        }

    def clean(self):
        """Refuse a pair that could not serve here, on the form, rather than after the save:
        the operator keeps what they typed and reads why beside it."""
        data = super().clean()
        try:
            service_config_check(variant=data.get("active_variant"),
                                 version=data.get("active_model_version"))
        except ConfigError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(ServiceConfig)
class ServiceConfigAdmin(admin.ModelAdmin):
    form = ServiceConfigForm
    readonly_fields = ["version", "updated_at", "recent_changes"]
    fieldsets = [
        ("Serving", {"fields": ["active_variant", "active_model_version"],
                     "description": "Flip to the baseline to roll back; every process follows "
                                    "within about a second."}),
        ("Drift policy", {"fields": ["drift_method", "drift_method_threshold",
                                     "drift_share_threshold", "drift_window_rows"]}),
        ("SLO targets", {"fields": ["slo_availability_target", "slo_latency_threshold_ms",
                                    "slo_latency_target", "slo_freshness_seconds",
                                    "slo_stream_latency_seconds", "slo_stream_latency_target",
                                    "slo_freshness_target", "slo_drift_freshness_seconds",
                                    "slo_drift_freshness_target"],
                         "description": "The five SLOs of the SLO page (/slo/), the target "
                                        "gauges of /metrics and the Prometheus rules' targets."}),
        ("Change", {"fields": ["reason", "version", "updated_at", "recent_changes"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        url = reverse("admin:predictions_serviceconfig_change", args=[ServiceConfig.SINGLETON_PK])
        return HttpResponseRedirect(url)

    @admin.display(description="Recent changes")
    def recent_changes(self, obj: ServiceConfig) -> str:
        entries = ConfigAuditEntry.objects.all()[:5]
        if not entries:
            return "—"
        return format_html("<br>".join("{}" for _ in entries), *[str(e) for e in entries])

    def save_model(self, request: HttpRequest, obj: ServiceConfig, form, change: bool) -> None:
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE_FIELDS}
        try:
            config = service_config_update(actor=request.user, reason=form.cleaned_data["reason"],
                                           **changes)
        except ConfigError as exc:
            messages.error(request, f"Refused: {exc}")
            return
        # response_change below skips the admin's own "changed successfully" message.
        if changes:
            messages.success(request, f"Saved as configuration v{config.version}: serving "
                                      f"{config.get_active_variant_display()}. Every process "
                                      "follows within about a second.")
        else:
            messages.info(request, "Nothing to change: the configuration is as it was.")

    def response_change(self, request: HttpRequest, obj: ServiceConfig):
        return HttpResponseRedirect(request.path)


@admin.register(ConfigAuditEntry)
class ConfigAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "summary", "reason", "config_version"]
    list_filter = ["actor_name"]
    search_fields = ["reason", "actor_name"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_at", "algorithm", "is_active", "prevalence", "ml_pr_auc",
                    "baseline_pr_auc", "ml_brier", "baseline_brier"]
    exclude = ["artifact", "reference_sample", "model_card"]
    readonly_fields = ["card", "quality_charts"]
    actions = ["promote"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and request.user.has_perm("predictions.change_serviceconfig")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_staff

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

    @admin.display(description="Model card")
    def card(self, obj: ModelVersion) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.model_card)

    @admin.action(description="Promote the selected version (serve it)")
    def promote(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        try:
            promotion = model_version_activate(version=version, actor=request.user,
                                               reason=f"promoted {version} in the admin")
        except ConfigError as exc:
            self.message_user(request, f"Refused: {exc}", messages.ERROR)
            return
        if promotion.serves_ml:
            self.message_user(request, f"{version} is now promoted and serves ML. "
                                       f"{promotion.reason}", messages.SUCCESS)
        else:
            self.message_user(request, f"{version} is now promoted, but the baseline variant "
                                       f"serves: {promotion.reason}", messages.WARNING)


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["event_ts", "product_id", "variant", "score", "label", "shadow_variant",
                    "shadow_score", "realized_label", "forward_rv", "model_version", "partition",
                    "offset"]
    list_filter = ["variant", "product_id", "label", "realized_label"]
    list_select_related = ["model_version"]
    show_full_result_count = False


@admin.register(StreamOffset)
class StreamOffsetAdmin(ReadOnlyAdmin):
    list_display = ["topic", "partition", "next_offset", "lag", "updated_at"]
    list_display_links = None

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).order_by("topic", "partition")


@admin.register(StreamLease)
class StreamLeaseAdmin(ReadOnlyAdmin):
    list_display = ["name", "holder", "expires_at", "last_run_at", "last_run_messages",
                    "last_error"]
