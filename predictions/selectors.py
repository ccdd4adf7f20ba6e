"""Reads for the API, the admin and the monitoring pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import QuerySet

from predictions.core.scorers import BASELINE, ML
from predictions.models import ConfigAuditEntry, ModelVersion, Prediction, ServiceConfig


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


# Fewer matured rows than this behind a live figure and it is shown as "too few rows".
LIVE_MIN_ROWS = 200


def prediction_live_performance(*, since: datetime | None = None,
                                until: datetime | None = None,
                                model_version: ModelVersion | None = None
                                ) -> dict[str, dict[str, float | int | bool | None]]:
    """Live n, prevalence, precision, recall, PR-AUC and Brier per variant, from rows whose
    labels have matured (`since` ≤ event time < `until`).

    Every row scores both variants: the served one (`score`, `threshold`) and the shadow one
    (`shadow_score`, `shadow_threshold`), so champion and challenger are measured on the same
    rows, with the offline metric functions (`core.evaluation.scores`), so live and held-out
    figures mean the same. `enough` is False below LIVE_MIN_ROWS rows.
    """

    from predictions.core.evaluation import scores as metric_scores

    rows = Prediction.objects.filter(matured_at__isnull=False, realized_label__isnull=False)
    if since is not None:
        rows = rows.filter(event_ts__gte=since)
    if until is not None:
        rows = rows.filter(event_ts__lt=until)
    if model_version is not None:
        rows = rows.filter(model_version=model_version)
    scored: dict[str, list[tuple[float, float, bool]]] = {ML: [], BASELINE: []}
    for variant, score, threshold, shadow_variant, shadow_score, shadow_threshold, label in \
            rows.values_list("variant", "score", "threshold", "shadow_variant", "shadow_score",
                             "shadow_threshold", "realized_label").iterator(chunk_size=5000):
        scored[variant].append((score, threshold, label))
        if shadow_variant != variant and shadow_threshold is not None:
            scored[shadow_variant].append((shadow_score, shadow_threshold, label))
    out: dict[str, dict[str, float | int | bool | None]] = {}
    for variant, items in scored.items():
        if not items:
            out[variant] = {"n": 0, "prevalence": None, "precision": None, "recall": None,
                            "pr_auc": None, "brier": None, "enough": False}
            continue
        p, thr, y = (np.array(col) for col in zip(*items))
        m = metric_scores(y.astype(bool), p.astype(float), thr.astype(float))
        out[variant] = {key: m.get(key) for key in ("n", "prevalence", "precision", "recall",
                                                    "pr_auc", "brier")}
        out[variant]["enough"] = m["n"] >= LIVE_MIN_ROWS
    return out


@dataclass(frozen=True)
class ServedAt:
    """What the configuration said should serve at a moment, and since when."""

    at: datetime
    variant: str
    model_version: ModelVersion | None
    config_version: int
    since: datetime | None  # when it became live; None: before the first recorded change
    actor_name: str
    source: str
    reason: str


def service_config_at(*, at: datetime) -> ServedAt:
    """Which variant and model version served at `at`, from the audit trail's snapshots.

    A change is live from its own instant on (`at` equal to an entry's time answers with that
    entry). Before the first recorded change the answer is the first entry's "old" values; with
    no change ever recorded, the configuration as it is now (it has never changed).
    """
    entry = (ConfigAuditEntry.objects.filter(at__lte=at).exclude(active_variant="")
             .select_related("active_model_version").order_by("-at", "-id").first())
    if entry is not None:
        return ServedAt(at=at, variant=entry.active_variant,
                        model_version=entry.active_model_version,
                        config_version=entry.config_version, since=entry.at,
                        actor_name=entry.actor_name, source=entry.source, reason=entry.reason)
    first = ConfigAuditEntry.objects.order_by("at", "id").select_related(
        "active_model_version").first()
    if first is None:
        config = ServiceConfig.load()
        return ServedAt(at=at, variant=config.active_variant,
                        model_version=config.active_model_version,
                        config_version=config.version, since=None, actor_name="",
                        source="", reason="no change recorded")
    changes = first.changes or {}
    variant = changes.get("active_variant", [first.active_variant])[0]
    version = first.active_model_version
    if "active_model_version" in changes:
        version = ModelVersion.objects.filter(name=changes["active_model_version"][0]).first()
    return ServedAt(at=at, variant=variant, model_version=version,
                    config_version=first.config_version - 1, since=None, actor_name="",
                    source="", reason="before the first recorded change")


def service_config_timeline(*, limit: int = 50) -> list[ConfigAuditEntry]:
    """The latest configuration versions that decided what served, newest first."""
    return list(ConfigAuditEntry.objects.exclude(active_variant="")
                .select_related("active_model_version").order_by("-at", "-id")[:limit])
