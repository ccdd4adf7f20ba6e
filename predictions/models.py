"""Durable state of the prediction service: its one configuration row, the audit trail, model
versions, predictions and the stream consumer's offsets and leases.

A row's behaviour lives with its model: the lease's claim, renewal and release and the
offset's compare-and-set are queryset methods of `StreamLease` and `StreamOffset`, atomic
`filter().update()`s the consumer calls inside its batch transactions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

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
    # Indexed (a foreign key): the PROTECT check when a version is deleted.
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
    auto_rollback_enabled = models.BooleanField(
        default=False, help_text="Roll back to the baseline by itself when a trigger below "
                                 "holds (checked from beat). It never switches back to ML.")
    auto_rollback_drift_reports = models.PositiveIntegerField(
        default=3, help_text="Trigger 1: this many consecutive drift reports with a drift "
                             "share ≥ the drift share threshold (0 = off).")
    auto_rollback_pr_auc_margin = models.FloatField(
        default=0.05, help_text="Trigger 2: ML's live PR-AUC is below the baseline's by at "
                                "least this margin …")
    auto_rollback_min_rows = models.PositiveIntegerField(
        default=500, help_text="… over at least this many matured rows (0 = trigger off).")
    auto_rollback_window_minutes = models.PositiveIntegerField(
        default=60, help_text="Window of matured rows for trigger 2, in minutes.")
    auto_rollback_on_fast_burn = models.BooleanField(
        default=True, help_text="Trigger 3: the predict-availability SLO's fast burn pages "
                                "(burn rate ≥ 14.4 over 1 h and over 5 min).")
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
        config, _ = cls.objects.select_related("active_model_version").defer(
            *ModelVersion.blobs("active_model_version__")).get_or_create(
            pk=cls.SINGLETON_PK, defaults={"active_variant": settings.DEFAULT_MODEL_VARIANT}
        )
        return config


class ConfigAuditEntry(models.Model):
    """Who changed the configuration, when, from what to what, and why."""

    # Indexed: the audit list and timeline newest first, and served-at's `at <= t` lookup.
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Indexed (a foreign key): SET NULL when a user is deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, help_text="User name, or the system process.")
    changes = models.JSONField(help_text='{"field": ["old", "new"], …}')
    reason = models.TextField()
    config_version = models.PositiveIntegerField()
    # Indexed: the newest auto-rollback (`source = "auto-rollback"`, overview and /metrics).
    source = models.CharField(max_length=32, blank=True, db_index=True,
                              help_text="admin, promote, rollback, train, auto-rollback, …")
    # What served after this change (a snapshot, so "what was live when" is one lookup).
    active_variant = models.CharField(max_length=16, choices=VARIANT_CHOICES, blank=True)
    # Indexed (a foreign key): SET NULL when a version is deleted.
    active_model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

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
    name = models.CharField(max_length=100, unique=True)  # unique: the version by name
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

    # The large fields: left out of every join that shows only the version's name (lists of
    # predictions, the configuration row, the audit trail); loaded when read.
    BLOB_FIELDS = ("artifact", "reference_sample", "metrics", "model_card")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("promote_modelversion", "Can promote a model version")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def blobs(cls, prefix: str = "") -> list[str]:
        """The large fields' names for `defer()`, behind a relation's prefix."""
        return [f"{prefix}{name}" for name in cls.BLOB_FIELDS]


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
    # Indexed (Django's default for a foreign key): the drift report's newest rows of the
    # promoted version, and the PROTECT check when a version is deleted.
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT)
    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    # Which incarnation of the partition's log the offset belongs to: a broker that lost its log
    # hands out offsets again, so a position is (topic, partition, log_epoch, offset). Plain
    # integer with a database default: adding it is metadata-only on a live table.
    log_epoch = models.IntegerField(db_default=0)
    tick_index = models.PositiveSmallIntegerField(
        default=0, help_text="Position of the tick within its message (envelopes may hold several)."
    )
    mid = models.FloatField(null=True, blank=True, help_text="Mid price of the tick.")
    shadow_threshold = models.FloatField(null=True, blank=True,
                                         help_text="Decision threshold of the shadow variant.")
    # A database default: adding the column is a catalogue change on PostgreSQL, no rewrite.
    feature_set = models.CharField(
        max_length=16, blank=True, default="", db_default="",
        help_text="Version of the feature definitions the row was computed with "
                  "(core.features.FEATURE_SET_VERSION); empty for rows older than it.")

    class Meta:
        ordering = ["-event_ts", "-id"]
        constraints = [
            # Exactly once: a Kafka position is stored at most once (the writer's COPY fails);
            # also the writer's LabelPending select by (topic, partition, epoch, offset range).
            models.UniqueConstraint(
                fields=["topic", "partition", "log_epoch", "offset", "tick_index"],
                name="prediction_unique_epoch_position",
            )
        ]
        indexes = [
            # History of a product (API, latest, label maturing's read, the overview's scores).
            models.Index(fields=["product_id", "-event_ts"], name="prediction_product_time"),
            # The newest rows of every product (admin list, unfiltered history, newest product).
            models.Index(fields=["-event_ts", "-id"], name="prediction_time"),
            # Retention: the rows written before the cutoff (housekeeping).
            models.Index(fields=["-created_at"], name="prediction_created"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} @ {self.event_ts:%H:%M:%S.%f} {self.variant}={self.score:.3f}"


class PredictionOutcome(models.Model):
    """What followed a prediction: the realized volatility of its horizon and whether that was
    a spike, decided once the horizon has passed (services.labels.prediction_labels_mature).

    A narrow row of its own, appended once, rather than an update of the wide prediction row:
    an update rewrites the row and every index entry of it (docs/performance.md). Its key is
    the prediction's id; retention deletes both by the same id ranges.
    """

    # No database constraint: the outcome is written after the prediction, and retention
    # deletes both by id range without ordering the two.
    prediction = models.OneToOneField(Prediction, primary_key=True, related_name="outcome",
                                      on_delete=models.DO_NOTHING, db_constraint=False)
    realized_label = models.BooleanField(
        null=True, blank=True,
        help_text="Forward realized vol ≥ the label threshold; empty if unobservable (a gap).")
    forward_rv = models.FloatField(null=True, blank=True,
                                   help_text="Realized vol of log mid returns over (t, t+H].")
    matured_at = models.DateTimeField(help_text="When the outcome was decided.")

    def __str__(self) -> str:
        return f"outcome of {self.prediction_id}: {self.realized_label}"


class LabelPending(models.Model):
    """A prediction whose outcome is not decided yet: written with the prediction, in the
    stream writer's transaction, and deleted when its outcome is written."""

    prediction = models.OneToOneField(Prediction, primary_key=True, related_name="+",
                                      on_delete=models.DO_NOTHING, db_constraint=False)
    product_id = models.CharField(max_length=32)
    event_ts = models.DateTimeField()

    class Meta:
        indexes = [
            # Label maturing: the products with undecided rows, and each one's oldest.
            models.Index(fields=["product_id", "event_ts"], name="labelpending_product_time"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} @ {self.event_ts:%H:%M:%S.%f} undecided"


class LiveCounts(models.Model):
    """What one variant scored on the matured rows of one product, model version and period,
    as additive counts (`predictions.core.score_buckets`): live PR-AUC, Brier, precision and
    recall of any window are sums of these rows, never a read of the predictions. Added to
    by label maturing in the transaction that decides the labels."""

    product_id = models.CharField(max_length=32)
    # Indexed (a foreign key): a version's live figures, and CASCADE when it is deleted.
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=16, choices=VARIANT_CHOICES)
    rows = models.PositiveIntegerField(default=0, help_text="Matured rows with a label.")
    positives = models.PositiveIntegerField(default=0, help_text="… of them spikes.")
    flagged = models.PositiveIntegerField(default=0, help_text="Score ≥ its threshold.")
    flagged_positives = models.PositiveIntegerField(default=0, help_text="… and a spike.")
    brier_sum = models.FloatField(default=0.0, help_text="Σ (score − label)².")
    buckets = models.BinaryField(
        default=b"", help_text="Rows per score bucket and label: score_buckets.pack.")

    class Meta:
        abstract = True


class LiveMinute(LiveCounts):
    """Counts per minute of event time (the partial hours at a window's edges)."""

    minute = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per key; its index also serves the window's range on `minute`.
            models.UniqueConstraint(fields=["minute", "product_id", "model_version", "variant"],
                                    name="liveminute_unique"),
        ]
        ordering = ["-minute"]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.product_id} {self.variant}: {self.rows}"


class LiveHour(LiveCounts):
    """The same counts per hour of event time (a window's whole hours, the PR-AUC chart's
    slices)."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per key; its index also serves the window's range on `hour`.
            models.UniqueConstraint(fields=["hour", "product_id", "model_version", "variant"],
                                    name="livehour_unique"),
        ]
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.product_id} {self.variant}: {self.rows}"


class LiveDay(LiveCounts):
    """The same counts per day of event time (UTC): a window's whole days, so 7 days read 8
    rows per product and variant."""

    day = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per key; its index also serves the window's range on `day`.
            models.UniqueConstraint(fields=["day", "product_id", "model_version", "variant"],
                                    name="liveday_unique"),
        ]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.product_id} {self.variant}: {self.rows}"


class LeaseLost(Exception):
    """Another holder owns this consumer's lease now: stop consuming at once."""


class Fenced(Exception):
    """The stored offset moved under this consumer (another one wrote): nothing was written."""


class StreamOffsetQuerySet(models.QuerySet):
    def next_offsets(self, topic: str, partitions: list[int]) -> dict[int, int]:
        """The stored next offset of each of the partitions that has one."""
        return dict(self.filter(topic=topic, partition__in=partitions)
                    .values_list("partition", "next_offset"))

    def epochs(self, topic: str, partitions: list[int]) -> dict[int, int]:
        """The log epoch of each of the partitions that has a stored offset."""
        return dict(self.filter(topic=topic, partition__in=partitions)
                    .values_list("partition", "epoch"))

    def reset(self, *, topic: str, partition: int, stored: int, epoch: int,
              next_offset: int) -> bool:
        """Move a partition whose stored offset is outside the broker's log to `next_offset` in
        a new log epoch (compare-and-set on the offset and epoch read); False if it moved."""
        return self.filter(topic=topic, partition=partition, next_offset=stored,
                           epoch=epoch).update(next_offset=next_offset, epoch=epoch + 1,
                                               lag=None, updated_at=timezone.now()) == 1

    def advance(self, *, topic: str, partition: int, expected: int | None, next_offset: int,
                lag: int | None, epoch: int = 0) -> None:
        """Move the stored offset from `expected` to `next_offset`, or raise Fenced.

        A compare-and-set inside the batch's transaction: it locks the partition's row, so a
        second writer waits, then finds the offset moved and writes nothing. The first batch of
        a partition creates the row; the unique constraint refuses a second creator.
        """
        if expected is None:
            try:
                with transaction.atomic():
                    self.create(topic=topic, partition=partition, next_offset=next_offset,
                                lag=lag, epoch=epoch)
                return
            except IntegrityError:
                pass
        elif self.filter(topic=topic, partition=partition, next_offset=expected,
                         epoch=epoch).update(
                next_offset=next_offset, lag=lag, updated_at=timezone.now()) == 1:
            return
        stored = (self.filter(topic=topic, partition=partition)
                  .values_list("next_offset", flat=True).first())
        raise Fenced(f"{topic}[{partition}] is at {stored} in the database, this "
                     f"consumer expected {expected}: another consumer wrote it")


class StreamOffset(models.Model):
    """Next offset to read per topic partition, written in the same transaction as the rows."""

    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    next_offset = models.BigIntegerField()
    epoch = models.IntegerField(default=0, help_text="Log epoch: +1 at every offset reset "
                                "(the broker lost or truncated its log).")
    lag = models.BigIntegerField(null=True, blank=True, help_text="At the last batch.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = StreamOffsetQuerySet.as_manager()

    class Meta:
        constraints = [
            # One stored offset per partition: the compare-and-set `advance` finds it by key.
            models.UniqueConstraint(fields=["topic", "partition"], name="offset_unique_partition")
        ]
        ordering = ["topic", "partition"]

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] → {self.next_offset}"


class StreamOffsetReset(models.Model):
    """Audit of a stored offset found outside the broker's log and reset (docs/stream.md)."""

    at = models.DateTimeField(auto_now_add=True)
    topic = models.CharField(max_length=200)
    partition = models.IntegerField()
    reason = models.CharField(max_length=32, help_text="ahead_of_log_end or behind_log_start")
    stored_offset = models.BigIntegerField()
    log_start = models.BigIntegerField()
    log_end = models.BigIntegerField()
    reset_to = models.BigIntegerField()
    epoch = models.IntegerField(help_text="The new log epoch.")
    holder = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return (f"{self.topic}[{self.partition}] {self.reason}: {self.stored_offset} → "
                f"{self.reset_to}")


def _lease_seconds(seconds: float | None) -> timedelta:
    return timedelta(seconds=seconds if seconds is not None else settings.STREAM_LEASE_SECONDS)


class StreamLeaseQuerySet(models.QuerySet):
    """A lease's claims, renewals, reports and releases: each one atomic `filter().update()`
    that touches the row only while its conditions hold. `name` defaults to slot 0's lease."""

    def claim(self, holder: str, *, name: str | None = None, seconds: float | None = None) -> bool:
        """Take or extend the lease if it is free, expired, or already ours (atomic update)."""
        name = name or StreamLease.name_for(0)
        now = timezone.now()
        self.get_or_create(name=name)
        claimed = self.filter(
            Q(holder="") | Q(holder=holder) | Q(expires_at__lt=now) | Q(expires_at__isnull=True),
            name=name,
        ).update(holder=holder, expires_at=now + _lease_seconds(seconds))
        return claimed == 1

    def renew(self, holder: str, *, name: str, seconds: float | None = None) -> bool:
        """Extend the lease only if we still hold it (inside a batch's transaction: the fence)."""
        return self.filter(name=name, holder=holder).update(
            expires_at=timezone.now() + _lease_seconds(seconds)) == 1

    def report(self, holder: str, *, name: str | None = None, messages: int,
               errors: list[str]) -> None:
        """Record a finished run on the lease we hold (what the last-run metrics read)."""
        self.filter(name=name or StreamLease.name_for(0), holder=holder).update(
            last_run_at=timezone.now(), last_run_messages=messages,
            last_error="; ".join(errors)[:2000],
        )

    def release(self, holder: str, *, name: str | None = None) -> None:
        self.filter(name=name or StreamLease.name_for(0), holder=holder).update(
            holder="", expires_at=None)

    def is_stale(self, name: str) -> bool:
        """No live holder: the lease is missing, free or expired."""
        lease = self.filter(name=name).first()
        return lease is None or lease.expires_at is None or lease.expires_at < timezone.now()

    def seconds_left(self, name: str) -> float:
        """Seconds until the lease expires; 0 when it is free or has expired."""
        lease = self.filter(name=name).first()
        if lease is None or lease.expires_at is None:
            return 0.0
        return max((lease.expires_at - timezone.now()).total_seconds(), 0.0)


class StreamLease(models.Model):
    """Who may consume now: one chain of consumer runs holds the lease until it expires.

    With STREAM_CONSUMER_SLOTS = N there is one lease per slot, and slot s owns the partitions
    p with p % N == s.
    """

    PREFIX = "ticks"

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_messages = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = StreamLeaseQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"

    @staticmethod
    def name_for(slot: int, slots: int | None = None) -> str:
        """Lease of a slot; with one slot it is plainly "ticks" (the name before slots existed)."""
        slots = slots or settings.STREAM_CONSUMER_SLOTS
        return StreamLease.PREFIX if slots == 1 else f"{StreamLease.PREFIX}-{slot}-of-{slots}"

    @staticmethod
    def slot_partitions(partitions: list[int], slot: int, slots: int) -> list[int]:
        """The partitions a slot owns, in order."""
        return [p for p in sorted(partitions) if p % slots == slot]


class Backtest(models.Model):
    """A model version re-scored on the stream we served (services.backtest): the window, its
    rows, every variant's figures and the paired intervals, who asked and when."""

    OK, REFUSED = "ok", "refused"

    # Indexed: a version's latest backtest (its admin page, the promotion's evidence).
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE,
                                      related_name="backtests")
    created_at = models.DateTimeField(auto_now_add=True)
    since = models.DateTimeField()
    until = models.DateTimeField()
    product_id = models.CharField(max_length=32, blank=True, help_text="Empty: every product.")
    status = models.CharField(max_length=16, choices=[(OK, "ok"), (REFUSED, "refused")])
    error = models.TextField(blank=True, help_text="Why the backtest was refused.")
    rows = models.PositiveIntegerField(default=0, help_text="Matured rows compared.")
    spikes = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, help_text="Figures, intervals, curves: "
                                                      "services.backtest.backtest_run.")
    # Indexed (a foreign key): SET NULL when a user is deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest of {self.model_version} at {self.created_at:%Y-%m-%d %H:%M} ({self.status})"

    def interval(self, name: str) -> dict | None:
        """The overall paired interval of `name` (pr_auc, brier), candidate − champion."""
        return (self.report.get("overall") or {}).get("intervals", {}).get(name)

    def figures(self, variant: str) -> dict:
        return (self.report.get("overall") or {}).get("figures", {}).get(variant) or {}
