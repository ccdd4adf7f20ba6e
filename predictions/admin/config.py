"""Operator screens: the configuration (variant flip, auto-rollback policy), its audit log with
the timeline of what served, and the consumer's offsets. Every write goes through
predictions.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from predictions.admin.layout import clipped
from predictions.core.scorers import ML
from predictions.models import (
    ConfigAuditEntry,
    ModelVersion,
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
        label="Reason for this change (required)",
        widget=forms.Textarea(attrs={"rows": 2, "required": True, "aria-required": "true",
                                     "placeholder": "e.g. roll back: ML misbehaves on live data"}),
        help_text="Required for any change on this page; kept in the audit log.",
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
        # The reason sits with the change an operator makes most (a rollback), at the top.
        ("Serving", {"fields": ["active_variant", "active_model_version", "reason"],
                     "description": "Flip to the baseline to roll back by hand (a manual "
                                    "rollback); every process follows within about a second. "
                                    "Any change on this page needs the reason."}),
        ("Drift policy", {"fields": ["drift_method", "drift_method_threshold",
                                     "drift_share_threshold", "drift_window_rows"]}),
        ("SLO targets", {"fields": ["slo_availability_target", "slo_latency_threshold_ms",
                                    "slo_latency_target", "slo_freshness_seconds",
                                    "slo_stream_latency_seconds", "slo_stream_latency_target",
                                    "slo_freshness_target", "slo_drift_freshness_seconds",
                                    "slo_drift_freshness_target"],
                         "description": "The five SLOs of the SLO page (/slo/), the target "
                                        "gauges of /metrics and the Prometheus rules' targets."}),
        ("Automatic rollback", {"fields": ["auto_rollback_enabled", "auto_rollback_drift_reports",
                                      "auto_rollback_pr_auc_margin", "auto_rollback_min_rows",
                                      "auto_rollback_window_minutes",
                                      "auto_rollback_on_fast_burn"],
                           "description": "Off by default. When on, beat rolls back to the "
                                          "baseline when any trigger holds (an automatic "
                                          "rollback); it never switches back to ML by itself."}),
        ("Saved configuration", {"fields": ["version", "updated_at", "recent_changes"]}),
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

    def render_change_form(self, request: HttpRequest, context, add=False, change=False,
                           form_url="", obj=None):
        """Title and breadcrumb name the configuration as saved: after a failed save the
        form's instance carries the unsaved values ("serving baseline" while ML served)."""
        if obj is not None and obj.pk:
            saved = ServiceConfig.objects.get(pk=obj.pk)
            context.update(original=saved, subtitle=str(saved))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request: HttpRequest, obj: ServiceConfig, form, change: bool) -> None:
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE_FIELDS}
        try:
            config = service_config_update(actor=request.user, reason=form.cleaned_data["reason"],
                                           source="admin", **changes)
        except ConfigError as exc:
            messages.error(request, f"Refused: {exc}")
            request.volsite_refused = True  # log_change below records no change
            obj.refresh_from_db()
            return
        # The service wrote the row; the admin's history ("Recent actions") names the object
        # as saved (new version), not as the form's in-memory copy.
        obj.refresh_from_db()
        # response_change below skips the admin's own "changed successfully" message.
        if changes:
            messages.success(request, f"Saved as configuration v{config.version}: serving "
                                      f"{config.get_active_variant_display()}. Every process "
                                      "follows within about a second.")
        else:
            messages.info(request, "Nothing to change: the configuration is as it was.")

    def log_change(self, request: HttpRequest, obj: ServiceConfig, message):
        if getattr(request, "volsite_refused", False):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: ServiceConfig):
        return HttpResponseRedirect(request.path)


@admin.register(ConfigAuditEntry)
class ConfigAuditEntryAdmin(ReadOnlyAdmin):
    """The timeline of configuration versions: what served after each change, who, why, and
    where the change came from."""

    # Fits 1400 px: summary and reason cut to one line each, the whole text in the title.
    list_display = ["at", "config", "serving", "version", "actor_name", "source",
                    "what_changed", "why"]
    list_filter = ["source", "active_variant", "actor_name"]
    date_hierarchy = "at"
    search_fields = ["reason", "actor_name"]

    def get_queryset(self, request: HttpRequest):
        return (super().get_queryset(request).select_related("active_model_version")
                .defer(*ModelVersion.blobs("active_model_version__")))

    @admin.display(description="config", ordering="config_version")
    def config(self, obj: ConfigAuditEntry) -> str:
        return f"v{obj.config_version}"

    @admin.display(description="serving", ordering="active_variant")
    def serving(self, obj: ConfigAuditEntry) -> str:
        return obj.active_variant or "—"

    @admin.display(description="model version", ordering="active_model_version__name")
    def version(self, obj: ConfigAuditEntry) -> str:
        return clipped(obj.active_model_version.name if obj.active_model_version_id else "—")

    @admin.display(description="what changed")
    def what_changed(self, obj: ConfigAuditEntry) -> str:
        return clipped(obj.summary())

    @admin.display(description="reason")
    def why(self, obj: ConfigAuditEntry) -> str:
        return clipped(obj.reason, wide=True)


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
                    "error"]

    @admin.display(description="last error")
    def error(self, obj: StreamLease) -> str:
        """A traceback's last line can be long: one line here, the whole text in its title."""
        return clipped(obj.last_error or "—", wide=True)
