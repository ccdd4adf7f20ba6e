"""Drift reports, read-only, with Evidently's HTML one click away."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from drift.models import DriftReport
from drift.summary import drift_summary_markdown
from predictions.admin.layout import clipped, percent

# Evidently's HTML carries its scripts and styles inline. `sandbox allow-scripts` (without
# allow-same-origin) runs them in an opaque origin; nothing may be fetched or submitted.
REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' "
              "'unsafe-eval' data: blob:; style-src 'unsafe-inline' data:; img-src data: blob:; "
              "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'; "
              "frame-ancestors 'none'")


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    # Columns chosen to fit 1400 px: drifted features as one "n / of (share)" cell, a long
    # version name cut with its full name in the title, the report's link always visible.
    list_display = ["created_at", "status", "version", "method", "drifted", "dataset_drift",
                    "current_rows", "html_link"]
    list_filter = ["status", "dataset_drift"]
    exclude = ["html", "features", "share_drifted", "share_threshold"]
    readonly_fields = ["drift_share", "summary_link", "feature_table", "html_link"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        view = staff_member_required(self.html_view)
        summary = staff_member_required(self.summary_view)
        return [path("<int:pk>/html/", self.admin_site.admin_view(view),
                     name="drift_driftreport_html"),
                path("<int:pk>/summary.md", self.admin_site.admin_view(summary),
                     name="drift_driftreport_summary")] + super().get_urls()

    def summary_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The markdown summary (`manage.py drift_summary`), as a file to download."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = get_object_or_404(DriftReport, pk=pk)
        response = HttpResponse(drift_summary_markdown(report),
                                content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="drift-report-{pk}.md"'
        return response

    @admin.display(description="summary")
    def summary_link(self, obj: DriftReport) -> str:
        return format_html('<a href="{}" download>Download summary (markdown)</a>',
                           reverse("admin:drift_driftreport_summary", args=[obj.pk]))

    def html_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Evidently's page, for users who may view drift reports, in a sandbox: its inline
        scripts run in an opaque origin that cannot read the admin's cookies or pages, and
        may fetch nothing from anywhere."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = get_object_or_404(DriftReport, pk=pk)
        if not report.html:
            return HttpResponse(f"No HTML for this report ({report.status}: {report.message})",
                                content_type="text/plain", status=404)
        response = HttpResponse(report.html)
        response["Content-Security-Policy"] = REPORT_CSP
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="model version", ordering="model_version__name")
    def version(self, obj: DriftReport) -> str:
        return clipped(obj.model_version.name if obj.model_version_id else "—")

    @admin.display(description="drifted features", ordering="share_drifted")
    def drifted(self, obj: DriftReport) -> str:
        if obj.share_drifted is None:
            return "—"
        return f"{obj.n_drifted} / {obj.n_features} ({percent(obj.share_drifted)})"

    @admin.display(description="drift share")
    def drift_share(self, obj: DriftReport) -> str:
        """The share as a percentage beside the threshold that decides dataset drift."""
        if obj.share_drifted is None:
            return "—"
        return (f"{percent(obj.share_drifted)} of {obj.n_features} features "
                f"(dataset drift at ≥ {percent(obj.share_threshold)})")

    @admin.display(description="report")
    def html_link(self, obj: DriftReport) -> str:
        if not obj.html:
            return clipped(obj.message or "—")
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">Evidently report</a>',
                           reverse("admin:drift_driftreport_html", args=[obj.pk]))

    @admin.display(description="Features")
    def feature_table(self, obj: DriftReport) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f["feature"], f["method"], f"{f['score']:.5g}", f["threshold"],
              "DRIFT" if f["drifted"] else "ok") for f in obj.features),
        )
        return format_html("<table><tr><th>feature</th><th>method</th><th>score</th>"
                           "<th>threshold</th><th>drifted</th></tr>{}</table>", rows)
