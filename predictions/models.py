"""Durable state of the prediction service: its one configuration row, the audit trail, model
versions, predictions and the stream consumer's offsets and lease."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from predictions.core.scorers import BASELINE, ML

VARIANT_CHOICES = [(ML, "ML model"), (BASELINE, "Baseline rule (rollback)")]
DRIFT_METHOD_CHOICES = [
    ("wasserstein", "Normed Wasserstein distance (drift when ≥ threshold, default 0.1)"),
    ("psi", "Population stability index (drift when ≥ threshold, default 0.1)"),
    ("jensenshannon", "Jensen-Shannon distance (drift when ≥ threshold, default 0.1)"),
    ("ks", "Kolmogorov-Smirnov p-value (drift when < threshold, default 0.05)"),
]


class ServiceConfig(models.Model):
    """The one configuration every process reads (pk=1, created by a migration).

    Change it only through `predictions.services.service_config_update`, which audits the
    change and bumps `version`, the counter every process watches.
    """

    SINGLETON_PK = 1

    active_variant = models.CharField(max_length=16, choices=VARIANT_CHOICES, default=ML)
    active_model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The promoted model version; its baseline parameters serve the baseline too.",
    )
    drift_method = models.CharField(
        max_length=32, choices=DRIFT_METHOD_CHOICES, default="wasserstein",
        help_text="Evidently's per-feature drift test for numeric features.",
    )
    drift_method_threshold = models.FloatField(
        null=True, blank=True,
        help_text="Per-feature threshold; empty = Evidently's default for the method.",
    )
    drift_share_threshold = models.FloatField(
        default=0.5, help_text="A report is flagged as drift when this share of features drift."
    )
    drift_window_rows = models.PositiveIntegerField(
        default=5000, help_text="Most recent prediction rows compared with the reference."
    )
    slo_availability_target = models.FloatField(default=0.995)
    slo_latency_threshold_ms = models.PositiveIntegerField(default=100)
    slo_latency_target = models.FloatField(
        default=0.99, help_text="Share of API requests faster than the latency threshold."
    )
    slo_freshness_seconds = models.PositiveIntegerField(
        default=5, help_text="The newest prediction should be younger than this."
    )
    # The SLO objectives below complete the five of docs/slo.md (monitoring/slo.py, SLOS).
    slo_stream_latency_seconds = models.FloatField(
        default=1.0, help_text="A tick is on time when its prediction is stored within this "
                               "many seconds of its exchange time."
    )
    slo_stream_latency_target = models.FloatField(
        default=0.99, help_text="Share of ticks stored within the tick-to-prediction threshold."
    )
    slo_freshness_target = models.FloatField(
        default=0.99, help_text="Share of minutes in which every product's newest prediction "
                                "is younger than the freshness threshold."
    )
    slo_drift_freshness_seconds = models.PositiveIntegerField(
        default=1800, help_text="The newest completed drift report should be younger than this."
    )
    slo_drift_freshness_target = models.FloatField(
        default=0.99, help_text="Share of minutes in which the newest completed drift report is "
                                "younger than its threshold."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "service configuration"
        verbose_name_plural = "service configuration"

    def __str__(self) -> str:
        return f"Service configuration (v{self.version}, serving {self.active_variant})"

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ServiceConfig:
        """The row; re-created with defaults if it was ever deleted (the migration makes it)."""
        config, _ = cls.objects.select_related("active_model_version").get_or_create(
            pk=cls.SINGLETON_PK, defaults={"active_variant": settings.DEFAULT_MODEL_VARIANT}
        )
        return config


class ConfigAuditEntry(models.Model):
    """Who changed the configuration, when, from what to what, and why."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, help_text="User name, or the system process.")
    changes = models.JSONField(help_text='{"field": ["old", "new"], …}')
    reason = models.TextField()
    config_version = models.PositiveIntegerField()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "config audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name}: {self.summary()}"

    def summary(self) -> str:
        return "; ".join(f"{field}: {old} → {new}" for field, (old, new) in self.changes.items())


class ModelVersion(models.Model):
    """A trained model: its artifact (skops bytes), what it expects, and how it scored."""

    created_at = models.DateTimeField(auto_now_add=True)
    name = models.CharField(max_length=100, unique=True)
    algorithm = models.CharField(max_length=100)
    artifact = models.BinaryField(help_text="skops bytes; loaded only after the sha256 check.")
    sha256 = models.CharField(max_length=64)
    feature_names = models.JSONField()
    threshold = models.FloatField(help_text="ML decision threshold, fitted on train.")
    baseline_params = models.JSONField(help_text="The baseline's map, fitted on the same train.")
    label_threshold = models.FloatField(help_text="Forward realized vol that counts as a spike.")
    horizon_s = models.FloatField()
    percentile = models.FloatField()
    train_start = models.DateTimeField()
    train_end = models.DateTimeField()
    test_start = models.DateTimeField()
    test_end = models.DateTimeField()
    data_source = models.CharField(max_length=500)
    metrics = models.JSONField(help_text="Test metrics of the ML model and of the baseline.")
    reference_sample = models.JSONField(help_text="Train feature rows: drift reference.")
    model_card = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Prediction(models.Model):
    """One scored tick from the stream, with both variants' scores and its Kafka position."""

    product_id = models.CharField(max_length=32)
    event_ts = models.DateTimeField(help_text="Exchange time of the tick.")
    created_at = models.DateTimeField(auto_now_add=True)
    features = models.JSONField()
    variant = models.CharField(max_length=16, choices=VARIANT_CHOICES, help_text="Served.")
    score = models.FloatField()
    label = models.BooleanField()
    threshold = models.FloatField()
    shadow_variant = models.CharField(max_length=16, choices=VARIANT_CHOICES)
    shadow_score = models.FloatField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT)
    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    tick_index = models.PositiveSmallIntegerField(
        default=0, help_text="Position of the tick within its message (envelopes may hold several)."
    )
    mid = models.FloatField(null=True, blank=True, help_text="Mid price of the tick.")
    shadow_threshold = models.FloatField(null=True, blank=True,
                                         help_text="Decision threshold of the shadow variant.")
    # Filled once the horizon has passed (see services.prediction_labels_mature).
    realized_label = models.BooleanField(
        null=True, blank=True,
        help_text="Forward realized vol ≥ the label threshold; empty if unobservable (a gap).")
    forward_rv = models.FloatField(null=True, blank=True,
                                   help_text="Realized vol of log mid returns over (t, t+H].")
    matured_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When the label was decided.")

    class Meta:
        ordering = ["-event_ts", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "partition", "offset", "tick_index"],
                name="prediction_unique_position",
            )
        ]
        indexes = [
            models.Index(fields=["product_id", "-event_ts"], name="prediction_product_time"),
            models.Index(fields=["-created_at"], name="prediction_created"),
            models.Index(fields=["product_id", "event_ts"], name="prediction_unmatured",
                         condition=models.Q(matured_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} @ {self.event_ts:%H:%M:%S.%f} {self.variant}={self.score:.3f}"


class StreamOffset(models.Model):
    """Next offset to read per topic partition, written in the same transaction as the rows."""

    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    next_offset = models.BigIntegerField()
    lag = models.BigIntegerField(null=True, blank=True, help_text="At the last batch.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "partition"], name="offset_unique_partition")
        ]
        ordering = ["topic", "partition"]

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] → {self.next_offset}"


class StreamLease(models.Model):
    """Who may consume now: one chain of consumer runs holds the lease until it expires."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_messages = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"
