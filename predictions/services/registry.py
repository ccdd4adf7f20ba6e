"""The model registry: register trained versions, and train and promote them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from predictions.core.guardrail import ml_beats_baseline
from predictions.core.scorers import dump_model, sha256_hex
from predictions.core.training import TrainResult
from predictions.models import ModelVersion
from predictions.services.promotion import model_version_activate


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
                                               source="train",
                                               reason=f"trained and promoted by `{actor_name}`")
    serves_ml, why = ((promotion.serves_ml, promotion.reason) if promotion
                      else ml_beats_baseline(result.metrics))
    version.promotion_reason = why
    version.serves_ml = serves_ml
    return version
