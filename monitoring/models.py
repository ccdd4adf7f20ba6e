"""Per-minute rollups: API requests, SLO events and tick latencies, the product's own record
behind the SLO page."""

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
            # One row per minute and endpoint: the SLI flush's upsert.
            models.UniqueConstraint(fields=["minute", "endpoint"], name="apiminute_unique")
        ]
        # Housekeeping's `minute < cutoff`.
        indexes = [models.Index(fields=["minute"], name="apiminute_minute")]
        ordering = ["-minute", "endpoint"]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.endpoint}: {self.requests}"


class SloCounts(models.Model):
    """Good and total events of one SLO in one period."""

    slo = models.CharField(max_length=32)
    good = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class SloMinute(SloCounts):
    """Good and total events of one SLO in one minute (monitoring/slo.py, SLOS), added by the
    process that sees the events: the API middleware, the stream consumer per batch, and the
    slo-sample beat task for the two freshness SLOs. Burn-rate windows sum these rows."""

    minute = models.DateTimeField()

    class Meta:
        # The flush's upsert, and the SLO page's and burn rates' `minute >= since` ranges.
        constraints = [models.UniqueConstraint(fields=["minute", "slo"], name="slominute_unique")]
        ordering = ["-minute", "slo"]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.slo}: {self.good}/{self.total}"


class SloHour(SloCounts):
    """The same counts per hour, added with the minute rows, so a 30-day window reads 720
    rows per SLO rather than 43,200 (the page's long windows: full hours from here, the
    partial first hour from the minute rows)."""

    hour = models.DateTimeField()

    class Meta:
        # The flush's upsert, and the SLO page's long windows (`hour >= since`).
        constraints = [models.UniqueConstraint(fields=["hour", "slo"], name="slohour_unique")]
        ordering = ["-hour", "slo"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.slo}: {self.good}/{self.total}"


# Upper edges (s) of the tick-to-prediction latency buckets kept per minute (p50/p99 chart).
TICK_LATENCY_EDGES_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class TickLatencyCounts(models.Model):
    """Ticks stored in one period and how many within each latency edge (cumulative), so the
    SLO page draws tick-to-prediction p50/p99 over any window without reading predictions."""

    ticks = models.PositiveIntegerField(default=0)
    le_100ms = models.PositiveIntegerField(default=0)
    le_250ms = models.PositiveIntegerField(default=0)
    le_500ms = models.PositiveIntegerField(default=0)
    le_1s = models.PositiveIntegerField(default=0)
    le_2500ms = models.PositiveIntegerField(default=0)
    le_5s = models.PositiveIntegerField(default=0)
    le_10s = models.PositiveIntegerField(default=0)
    le_30s = models.PositiveIntegerField(default=0)
    le_60s = models.PositiveIntegerField(default=0)

    BUCKET_FIELDS = ("le_100ms", "le_250ms", "le_500ms", "le_1s", "le_2500ms", "le_5s",
                     "le_10s", "le_30s", "le_60s")

    class Meta:
        abstract = True


class TickLatencyMinute(TickLatencyCounts):
    minute = models.DateTimeField(unique=True)  # the flush's upsert; the p50/p99 chart's range

    class Meta:
        ordering = ["-minute"]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.ticks} ticks"


class TickLatencyHour(TickLatencyCounts):
    hour = models.DateTimeField(unique=True)  # the flush's upsert; long windows' range

    class Meta:
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}: {self.ticks} ticks"
