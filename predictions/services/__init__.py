"""Writes of the prediction app: the shared configuration (`config`), promotion and rollback
of model versions (`promotion`), the model registry (`registry`), label maturing (`labels`)
and forgetting stream positions (`stream_positions`). Callers import from here."""

from __future__ import annotations

from predictions.services.config import (
    EDITABLE_FIELDS,
    PROMOTE_PERMISSION,
    SERVING_FIELDS,
    SOURCES,
    ConfigError,
    PromotionForbidden,
    PromotionRefused,
    actor_may_promote,
    ml_serving_check,
    model_version_problem,
    service_config_check,
    service_config_update,
)
from predictions.services.labels import prediction_labels_mature
from predictions.services.promotion import (
    Promotion,
    model_version_activate,
    model_version_previous,
    model_version_rollback,
)
from predictions.services.registry import model_version_create, model_version_train
from predictions.services.stream_positions import stream_positions_forget

__all__ = [
    "EDITABLE_FIELDS", "PROMOTE_PERMISSION", "SERVING_FIELDS", "SOURCES", "ConfigError",
    "Promotion", "PromotionForbidden", "PromotionRefused", "actor_may_promote",
    "ml_serving_check", "model_version_activate", "model_version_create",
    "model_version_previous", "model_version_problem", "model_version_rollback",
    "model_version_train", "prediction_labels_mature", "service_config_check",
    "service_config_update", "stream_positions_forget",
]
