"""Writes to the shared configuration and the model registry. Every config change, from the
admin, a command or the system, goes through `service_config_update`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import F

from predictions.config import forget_config
from predictions.core.guardrail import ml_beats_baseline
from predictions.core.scorers import BASELINE, ML, VARIANTS, dump_model, sha256_hex
from predictions.core.training import TrainResult
from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig

EDITABLE_FIELDS = frozenset(
    {
        "active_variant",
        "active_model_version",
        "drift_method",
        "drift_method_threshold",
        "drift_share_threshold",
        "drift_window_rows",
        "slo_availability_target",
        "slo_latency_threshold_ms",
        "slo_latency_target",
        "slo_freshness_seconds",
        "slo_stream_latency_seconds",
        "slo_stream_latency_target",
        "slo_freshness_target",
        "slo_drift_freshness_seconds",
        "slo_drift_freshness_target",
    }
)
# SLO targets are shares of good events; a target of 1 leaves no error budget to burn.
SLO_TARGET_FIELDS = ("slo_stream_latency_target", "slo_freshness_target",
                     "slo_drift_freshness_target")


# Changing either decides what serves, so the pair is checked before it is written.
SERVING_FIELDS = frozenset({"active_variant", "active_model_version"})


class ConfigError(ValueError):
    """A refused configuration change; the text says why."""


class PromotionRefused(ConfigError):
    """A model version that could not serve was to be promoted or served; the text says why."""


def _display(value: Any) -> Any:
    if isinstance(value, ModelVersion):
        return value.name
    return value


def _validate(reason: str, changes: dict[str, Any]) -> None:
    if not reason or not reason.strip():
        raise ConfigError("a reason is required for every configuration change")
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ConfigError(f"unknown configuration fields: {sorted(unknown)}")
    if "active_variant" in changes and changes["active_variant"] not in VARIANTS:
        raise ConfigError(f"active_variant must be one of {list(VARIANTS)}")
    for field in ("drift_share_threshold", "slo_availability_target", "slo_latency_target"):
        if field in changes and not 0.0 < float(changes[field]) <= 1.0:
            raise ConfigError(f"{field} must be in (0, 1]")
    for field in SLO_TARGET_FIELDS:
        if field in changes and not 0.0 < float(changes[field]) < 1.0:
            raise ConfigError(f"{field} must be in (0, 1)")
    if "slo_stream_latency_seconds" in changes and float(changes["slo_stream_latency_seconds"]) <= 0:
        raise ConfigError("slo_stream_latency_seconds must be positive")


def model_version_problem(version: ModelVersion, *, check_artifact: bool = True) -> str | None:
    """Why this version cannot serve (features unknown to the engine; with `check_artifact`,
    an ML artifact that is refused), or None."""
    from django.conf import settings as dj_settings

    from predictions.core.features import feature_names
    from predictions.core.scorers import ArtifactError, load_model

    expected = feature_names(dj_settings.FEATURE_WINDOWS_SECONDS)
    if list(version.feature_names) != expected:
        return "its features differ from the feature engine's; retrain it"
    if not check_artifact:
        return None
    try:
        load_model(bytes(version.artifact), version.sha256)
    except ArtifactError as exc:
        return f"its artifact is refused: {exc}"
    return None


def service_config_check(*, variant: str | None, version: ModelVersion | None) -> None:
    """Refuse (PromotionRefused) a variant and model version that could not serve together:
    features the engine does not compute, or, for ML, an artifact that is refused."""
    if version is None:
        return
    problem = model_version_problem(version, check_artifact=variant == ML)
    if problem:
        raise PromotionRefused(f"Cannot serve {variant} with {version}: {problem}. "
                               "Keep the baseline, or promote another version.")


@transaction.atomic
def service_config_update(*, actor: Any = None, actor_name: str = "", reason: str,
                          **changes: Any) -> ServiceConfig:
    """Apply changes to the configuration row, audit them, and bump its version.

    `actor` is a user (admin, API); system processes pass `actor_name` instead. A change that
    changes nothing writes nothing. A change of variant or model version that could not serve
    is refused (`service_config_check`).
    """
    _validate(reason, changes)
    config = _config_locked()
    if SERVING_FIELDS & changes.keys():
        service_config_check(
            variant=changes.get("active_variant", config.active_variant),
            version=changes.get("active_model_version", config.active_model_version),
        )
    return _config_write(config, changes, actor=actor, actor_name=actor_name, reason=reason)


def _config_locked() -> ServiceConfig:
    ServiceConfig.load()
    return ServiceConfig.objects.select_for_update().get(pk=ServiceConfig.SINGLETON_PK)


def _config_write(config: ServiceConfig, changes: dict[str, Any], *, actor: Any,
                  actor_name: str, reason: str) -> ServiceConfig:
    """Write the fields that change and their audit entry; processes reload after commit."""
    diff: dict[str, list[Any]] = {}
    for field, new in changes.items():
        old = getattr(config, field)
        if old != new:
            diff[field] = [_display(old), _display(new)]
            setattr(config, field, new)
    if not diff:
        return config
    config.save()
    ServiceConfig.objects.filter(pk=config.pk).update(version=F("version") + 1)
    config.refresh_from_db()
    ConfigAuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=getattr(actor, "username", "") or actor_name or "system",
        changes=diff,
        reason=reason.strip(),
        config_version=config.version,
    )
    transaction.on_commit(forget_config)
    return config


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def model_version_create(*, result: TrainResult, name: str, data_source: str,
                         algorithm: str, model_card: str = "") -> ModelVersion:
    """Register a trained model: artifact bytes and their sha256, metrics, reference sample."""
    artifact = dump_model(result.model)
    return ModelVersion.objects.create(
        name=name,
        algorithm=algorithm,
        artifact=artifact,
        sha256=sha256_hex(artifact),
        feature_names=result.feature_names,
        threshold=result.ml_threshold,
        baseline_params=result.baseline_params,
        label_threshold=result.label_threshold,
        horizon_s=result.metrics["horizon_s"],
        percentile=result.metrics["percentile"],
        train_start=_dt(result.train_span[0]),
        train_end=_dt(result.train_span[1]),
        test_start=_dt(result.test_span[0]),
        test_end=_dt(result.test_span[1]),
        data_source=data_source[:500],
        metrics=result.metrics,
        reference_sample=result.reference_sample,
        model_card=model_card,
    )


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the configuration now, and which variant serves and why."""

    config: ServiceConfig
    serves_ml: bool
    reason: str


@transaction.atomic
def model_version_activate(*, version: ModelVersion, actor: Any = None, actor_name: str = "",
                           reason: str) -> Promotion:
    """Promote a version, or refuse (PromotionRefused) one that could not serve.

    Its ML artifact is checked even while the baseline serves, so a later flip to ML cannot
    meet a broken artifact; that check covers the one `service_config_update` would make.
    The variant follows the guardrail (`core.guardrail.ml_beats_baseline` on the version's
    held-out metrics): ML serves only when it beat the baseline there, otherwise the
    baseline variant does. The train command, the shell and the admin share this one rule,
    and the audit entry quotes its numbers.
    """
    serves_ml, why = ml_beats_baseline(version.metrics or {})
    changes = {"active_model_version": version, "active_variant": ML if serves_ml else BASELINE}
    _validate(reason, changes)
    problem = model_version_problem(version)
    if problem:
        raise PromotionRefused(f"{version} cannot serve: {problem}")
    config = _config_write(_config_locked(), changes, actor=actor, actor_name=actor_name,
                           reason=f"{reason}; guardrail: {why}")
    return Promotion(config=config, serves_ml=serves_ml, reason=why)


def model_version_train(*, frame: Any, data_source: str, horizon_s: float, percentile: float,
                        test_fraction: float, activate: bool, actor_name: str = "train",
                        seed: int = 0, say: Any = None) -> ModelVersion:
    """Train on a feature frame, register the version, and optionally promote it.

    Promotion follows the guardrail (`core.guardrail.ml_beats_baseline` on the held-out
    metrics): the version serves ML only when ML beat the baseline there; otherwise it is
    promoted with the baseline variant active. The reason is in `version.promotion_reason`
    (not stored) and in the config audit entry.
    """
    from django.conf import settings as dj_settings

    from predictions.core import model_card
    from predictions.core.training import train
    from predictions.core.volmodels import DESCRIPTIONS

    result = train(frame, horizon_s=horizon_s, percentile=percentile,
                   test_fraction=test_fraction, gap_s=dj_settings.FEATURE_GAP_SECONDS,
                   seed=seed, say=say or (lambda _: None))
    created = datetime.now(tz=UTC)
    name = f"v{created:%Y%m%d-%H%M%S}-{ModelVersion.objects.count() + 1}"
    algorithm = DESCRIPTIONS.get(result.algorithm, result.algorithm)
    card = model_card.render(
        name=name, algorithm=algorithm, data_source=data_source,
        feature_names=result.feature_names, metrics=result.metrics,
        train_span=f"{_dt(result.train_span[0]):%Y-%m-%d %H:%M:%S} – "
                   f"{_dt(result.train_span[1]):%Y-%m-%d %H:%M:%S} UTC",
        test_span=f"{_dt(result.test_span[0]):%Y-%m-%d %H:%M:%S} – "
                  f"{_dt(result.test_span[1]):%Y-%m-%d %H:%M:%S} UTC",
    )
    with transaction.atomic():
        version = model_version_create(result=result, name=name, data_source=data_source,
                                       algorithm=algorithm, model_card=card)
        promotion = None
        if activate:
            promotion = model_version_activate(version=version, actor_name=actor_name,
                                               reason=f"trained and promoted by `{actor_name}`")
    serves_ml, why = ((promotion.serves_ml, promotion.reason) if promotion
                      else ml_beats_baseline(result.metrics))
    version.promotion_reason = why
    version.serves_ml = serves_ml
    return version


@transaction.atomic
def stream_positions_forget(*, topics: list[str], reason: str) -> int:
    """A broker's topics were recreated from offset 0 (the embedded, memory-only broker after a
    restart). Drop the stored offsets of `topics`, and mark the Kafka positions of existing
    predictions as belonging to the previous incarnation (topic renamed "<topic>@<time>"),
    so new rows at the same offsets are not mistaken for duplicates. Returns rows marked."""
    from predictions.models import Prediction, StreamOffset

    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = 0
    for topic in topics:
        StreamOffset.objects.filter(topic=topic).delete()
        moved += Prediction.objects.filter(topic=topic).update(topic=f"{topic}@{stamp}")
    if moved:
        logging.getLogger(__name__).warning("%s: %d predictions of %s marked as from a "
                                            "previous broker", reason, moved, topics)
    return moved


def prediction_labels_mature(*, batch_rows: int | None = None) -> int:
    """Attach the realized label and forward volatility to predictions whose horizon passed.

    Steps, per product with undecided rows:
    1. take the promoted model version's horizon and label threshold (nothing without one);
    2. read the product's rows from its oldest undecided one on, in time order (bounded by
       LABEL_MATURE_BATCH_ROWS; the next run continues where this one stopped);
    3. compute forward realized vol from their mids, as training does (labels.live_forward_rv);
    4. write label, forward vol and matured_at for every decided row — a row whose horizon a
       gap cut off is decided with an empty label — in one bulk update.
    Returns the number of rows decided.
    """
    import numpy as np
    from django.conf import settings
    from django.utils import timezone

    from predictions.core.labels import live_forward_rv
    from predictions.models import Prediction

    version = ServiceConfig.load().active_model_version
    if version is None:
        return 0
    limit = batch_rows or settings.LABEL_MATURE_BATCH_ROWS
    pending = Prediction.objects.filter(matured_at__isnull=True)
    now, decided_total = timezone.now(), 0
    for product_id in pending.values_list("product_id", flat=True).distinct().order_by():
        oldest = (pending.filter(product_id=product_id).order_by("event_ts")
                  .values_list("event_ts", flat=True).first())
        rows = list(Prediction.objects.filter(product_id=product_id, event_ts__gte=oldest)
                    .exclude(mid=None).order_by("event_ts", "partition", "offset", "tick_index")
                    .only("id", "event_ts", "mid", "matured_at")[:limit])
        ts = np.array([r.event_ts.timestamp() for r in rows])
        mid = np.array([r.mid for r in rows])
        fwd, decided = live_forward_rv(ts, mid, version.horizon_s, settings.FEATURE_GAP_SECONDS)
        updated = []
        for row, value, done in zip(rows, fwd, decided):
            if not done or row.matured_at is not None:
                continue
            observed = not np.isnan(value)
            row.forward_rv = float(value) if observed else None
            row.realized_label = bool(value >= version.label_threshold) if observed else None
            row.matured_at = now
            updated.append(row)
        Prediction.objects.bulk_update(updated, ["forward_rv", "realized_label", "matured_at"],
                                       batch_size=1000)
        # Rows written before mids were stored can never mature: close them as unobservable.
        pending.filter(product_id=product_id, mid=None).update(matured_at=now)
        decided_total += len(updated)
    return decided_total
