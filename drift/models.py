"""Drift reports: one row per run of the drift task, read-only in the admin."""

from __future__ import annotations

from django.db import models


class DriftReport(models.Model):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"
    STATUS_CHOICES = [(OK, "ok"), (SKIPPED, "skipped"), (FAILED, "failed")]

    # Indexed: the newest report (overview, /metrics, SLO sample) and retention's cutoff.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    message = models.TextField(blank=True, help_text="Why a run was skipped or failed.")
    # Indexed (a foreign key): SET NULL when a version is deleted.
    model_version = models.ForeignKey(
        "predictions.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL
    )
    method = models.CharField(max_length=32, blank=True)
    reference_rows = models.PositiveIntegerField(default=0)
    current_rows = models.PositiveIntegerField(default=0)
    current_start = models.DateTimeField(null=True, blank=True)
    current_end = models.DateTimeField(null=True, blank=True)
    n_features = models.PositiveIntegerField(default=0)
    n_drifted = models.PositiveIntegerField(default=0)
    share_drifted = models.FloatField(null=True, blank=True)
    share_threshold = models.FloatField(null=True, blank=True)
    dataset_drift = models.BooleanField(default=False, help_text="share ≥ threshold")
    features = models.JSONField(
        default=list, help_text='[{"feature", "method", "threshold", "score", "drifted"}, …]'
    )
    html = models.TextField(blank=True, help_text="Evidently's HTML report.")
    duration_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        if self.status != self.OK:
            return f"Drift report {self.created_at:%Y-%m-%d %H:%M} ({self.status})"
        return (f"Drift report {self.created_at:%Y-%m-%d %H:%M}: "
                f"{self.n_drifted}/{self.n_features} features drifted")
