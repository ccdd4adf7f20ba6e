"""The model registry and the prediction rows: register and train versions, mature labels,
forget stream positions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from predictions.core.guardrail import ml_beats_baseline
from predictions.core.scorers import dump_model, sha256_hex
from predictions.core.training import TrainResult
from predictions.models import ModelVersion, ServiceConfig
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
