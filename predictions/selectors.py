"""Reads for the API, the admin and the monitoring pages."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db.models import QuerySet

from predictions.core import evaluation
from predictions.core.scorers import BASELINE, ML
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


def prediction_list(*, product_id: str | None = None, variant: str | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """Predictions newest first; `since` is inclusive and `until` exclusive (event time)."""
    qs = Prediction.objects.select_related("model_version").order_by("-event_ts", "-id")
    if product_id:
        qs = qs.filter(product_id=product_id)
    if variant:
        qs = qs.filter(variant=variant)
    if since is not None:
        qs = qs.filter(event_ts__gte=since)
    if until is not None:
        qs = qs.filter(event_ts__lt=until)
    return qs


def model_version_latest() -> ModelVersion | None:
    return ModelVersion.objects.order_by("-created_at", "-id").first()


def prediction_live_performance(*, since: datetime | None = None,
                                model_version: ModelVersion | None = None
                                ) -> dict[str, dict[str, float | int | None]]:
    """Live precision, recall, PR-AUC and Brier per variant, from rows whose labels have matured.

    Every row scores both variants: the served one (`score`, `threshold`) and the shadow one
    (`shadow_score`, `shadow_threshold`), so each variant is measured on every matured row.
    Prevalence is reported beside PR-AUC (which means little without it).
    """
    rows = Prediction.objects.filter(matured_at__isnull=False, realized_label__isnull=False)
    if since is not None:
        rows = rows.filter(event_ts__gte=since)
    if model_version is not None:
        rows = rows.filter(model_version=model_version)
    scored: dict[str, list[tuple[float, float, bool]]] = {ML: [], BASELINE: []}
    for variant, score, threshold, shadow_variant, shadow_score, shadow_threshold, label in \
            rows.values_list("variant", "score", "threshold", "shadow_variant", "shadow_score",
                             "shadow_threshold", "realized_label").iterator(chunk_size=5000):
        scored[variant].append((score, threshold, label))
        if shadow_variant != variant and shadow_threshold is not None:
            scored[shadow_variant].append((shadow_score, shadow_threshold, label))
    out: dict[str, dict[str, float | int | None]] = {}
    for variant, items in scored.items():
        if not items:
            out[variant] = {"n": 0, "prevalence": None, "precision": None, "recall": None,
                            "pr_auc": None, "brier": None}
            continue
        p, thr, y = (np.array(col) for col in zip(*items))
        # The same arithmetic as training's held-out report (core.evaluation), so live and
        # offline numbers compare.
        out[variant] = evaluation.scores(y.astype(bool), p, thr)
    return out
