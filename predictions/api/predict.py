"""What POST /api/v1/predict answers once the caller is authenticated and within its rate:
one function for both ways a request reaches it (the DRF view, and the lean token handler's
predictions/api/token_predict.py), so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings

from predictions import serving
from predictions.api import outage
from predictions.api.exceptions import error_body
from predictions.api.validation import RowsInvalid, predict_body
from predictions.core.scorers import VARIANTS


@dataclass(frozen=True)
class PredictAnswer:
    status: int
    body: dict[str, Any]
    variant: str | None = None  # the served variant (X-Model-Variant), on a 200
    rows: int = 0  # rows scored (volatility_api_rows_scored_total, counted by the caller)


def predict_answer(read_body: Callable[[], Any], *, is_staff: bool) -> PredictAnswer:
    """Score a request's rows. `read_body` parses the body when called (after the model
    check, as DRF's lazy request.data did) and may raise DRF's ParseError or BodyTooLarge.
    Raises OperationalError (the outage middleware's 503) while this worker's refresher finds
    the database away."""
    outage.raise_if_database_away()
    try:
        active = serving.active_scorers()
    except serving.NoModelVersion as exc:
        return PredictAnswer(503, error_body("no_model", str(exc)))
    try:
        X, variant = predict_body(read_body(), active.version.feature_names,
                                  settings.PREDICT_MAX_ROWS, VARIANTS)
    except RowsInvalid as exc:
        return PredictAnswer(400, error_body("invalid", exc.detail, exc.errors))
    try:
        scored = serving.rows_score(serving=active, X=X, variant=variant, is_staff=is_staff)
    except serving.VariantForbidden as exc:
        return PredictAnswer(403, error_body("permission_denied", str(exc)))
    body: dict[str, Any] = {
        "scores": scored.scores.tolist(),
        "labels": scored.labels.astype(np.int8).tolist(),
        "threshold": scored.threshold,
        "model_variant": scored.variant,
        "model_version": scored.version_name,
        "ts": datetime.now(UTC).isoformat(),
    }
    if scored.fallback_reason:
        body["fallback_reason"] = scored.fallback_reason
    return PredictAnswer(200, body, scored.variant, len(scored.scores))
