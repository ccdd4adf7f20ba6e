"""Per-minute API request rollups: the product's own record of availability and latency."""

from __future__ import annotations

from django.db import models

# Upper edges (ms) of the latency buckets kept per minute; the SLO threshold uses one of them.
LATENCY_EDGES_MS = (10, 25, 50, 100, 250, 500, 1000)


class ApiMinute(models.Model):
    minute = models.DateTimeField()
    endpoint = models.CharField(max_length=64)
    requests = models.PositiveIntegerField(default=0)
    server_errors = models.PositiveIntegerField(default=0, help_text="5xx answers")
    client_errors = models.PositiveIntegerField(default=0, help_text="4xx answers")
    le_10ms = models.PositiveIntegerField(default=0)
    le_25ms = models.PositiveIntegerField(default=0)
    le_50ms = models.PositiveIntegerField(default=0)
    le_100ms = models.PositiveIntegerField(default=0)
    le_250ms = models.PositiveIntegerField(default=0)
    le_500ms = models.PositiveIntegerField(default=0)
    le_1000ms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["minute", "endpoint"], name="apiminute_unique")
        ]
        indexes = [models.Index(fields=["minute"], name="apiminute_minute")]
        ordering = ["-minute", "endpoint"]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.endpoint}: {self.requests}"
