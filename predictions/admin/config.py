"""Operator screens: the configuration (variant flip, auto-rollback policy), its audit log with
the timeline of what served, and the consumer's offsets. Every write goes through
predictions.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from predictions.core.scorers import ML
from predictions.models import (
    ConfigAuditEntry,
    ServiceConfig,
    StreamLease,
    StreamOffset,
    StreamOffsetReset,
)
from predictions.services import (
    EDITABLE_FIELDS,
    ConfigError,
    ml_serving_check,
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
        if not {"active_variant", "active_model_version"} & set(self.changed_data):
            return data
        try:
            service_config_check(variant=data.get("active_variant"),
                                 version=data.get("active_model_version"))
            if data.get("active_variant") == ML:
                ml_serving_check(version=data.get("active_model_version"))
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
        ("Auto-rollback", {"fields": ["auto_rollback_enabled", "auto_rollback_drift_reports",
                                      "auto_rollback_pr_auc_margin", "auto_rollback_min_rows",
                                      "auto_rollback_window_minutes",
                                      "auto_rollback_on_fast_burn"],
                           "description": "Off by default. When on, beat rolls back to the "
                                          "baseline when any trigger holds; it never switches "
                                          "back to ML by itself."}),
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
                                           source="admin", **changes)
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
    """The timeline of configuration versions: what served after each change, who, why, and
    where the change came from."""

    list_display = ["at", "config_version", "active_variant", "active_model_version",
                    "actor_name", "source", "summary", "reason"]
    list_filter = ["source", "active_variant", "actor_name"]
    date_hierarchy = "at"
    search_fields = ["reason", "actor_name"]


@admin.register(StreamOffset)
class StreamOffsetAdmin(ReadOnlyAdmin):
    list_display = ["topic", "partition", "next_offset", "epoch", "lag", "updated_at"]
    list_display_links = None

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).order_by("topic", "partition")


@admin.register(StreamOffsetReset)
class StreamOffsetResetAdmin(ReadOnlyAdmin):
    """Stored offsets found outside the broker's log and reset (docs/stream.md)."""

    list_display = ["at", "topic", "partition", "reason", "stored_offset", "log_start",
                    "log_end", "reset_to", "epoch", "holder"]
    list_filter = ["reason", "topic"]
    list_display_links = None


@admin.register(StreamLease)
class StreamLeaseAdmin(ReadOnlyAdmin):
    list_display = ["name", "holder", "expires_at", "last_run_at", "last_run_messages",
                    "last_error"]
