"""Reads for the API, the admin and the monitoring pages."""

from __future__ import annotations

from django.db.models import QuerySet

from predictions.models import ModelVersion, Prediction, ServiceConfig


def service_config_get() -> ServiceConfig:
    return ServiceConfig.load()


def prediction_latest(*, product_id: str) -> Prediction | None:
    return (
        Prediction.objects.filter(product_id=product_id)
        .select_related("model_version")
        .order_by("-event_ts", "-id")
        .first()
    )


def prediction_list(*, product_id: str | None = None, variant: str | None = None) -> QuerySet:
    qs = Prediction.objects.select_related("model_version").order_by("-event_ts", "-id")
    if product_id:
        qs = qs.filter(product_id=product_id)
    if variant:
        qs = qs.filter(variant=variant)
    return qs


def prediction_recent_features(*, limit: int) -> list[dict[str, float]]:
    """Feature dicts of the newest `limit` prediction rows (drift's current window)."""
    rows = Prediction.objects.order_by("-id").values_list("features", flat=True)[:limit]
    return list(rows)


def model_version_latest() -> ModelVersion | None:
    return ModelVersion.objects.order_by("-created_at", "-id").first()
