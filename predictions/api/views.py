"""The REST API under /api/v1/. Views parse, call one service or selector, and answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import metrics
from predictions import selectors
from predictions.api.exceptions import error_response
from predictions.api.serializers import (
    ErrorSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    ReadySerializer,
    VersionSerializer,
)
from predictions.api.validation import RowsInvalid, predict_body
from predictions.core.scorers import BASELINE, ML, VARIANTS, Scorer
from predictions.messaging.kafka import broker_reachable
from predictions.serving import NoModelVersion, active_scorers, load_version

PREDICT_EXAMPLES = [
    OpenApiExample(
        "Two rows (abbreviated: send every feature listed by GET /api/v1/version)",
        value={"rows": [{"rv_60s": 0.0012, "n_ticks_60s": 130},
                        {"rv_60s": 0.004, "n_ticks_60s": 410}]},
        request_only=True,
    ),
    OpenApiExample(
        "Scores",
        value={"scores": [0.031, 0.412], "labels": [0, 1], "threshold": 0.27,
               "model_variant": "ml", "model_version": "sim-2h-20261129",
               "ts": "2026-11-29T14:03:07.123456+00:00"},
        response_only=True, status_codes=["200"],
    ),
    OpenApiExample(
        "Served by the baseline because the ML artifact was refused",
        value={"scores": [0.05], "labels": [0], "threshold": 0.3, "model_variant": "baseline",
               "model_version": "sim-2h-20261129", "ts": "2026-11-29T14:03:07.123456+00:00",
               "fallback_reason": "ml artifact refused: sha256 mismatch: stored 3f2a…, got 9c1d…"},
        response_only=True, status_codes=["200"],
    ),
    OpenApiExample(
        "Field-level reasons",
        value={"error": "invalid", "detail": "2 invalid value(s) in rows", "errors": [
            {"row": 0, "field": "rv_60s", "reason": "not a finite number"},
            {"row": 1, "field": "spread_bps_30s", "reason": "missing feature"}]},
        response_only=True, status_codes=["400"],
    ),
    OpenApiExample(
        "Not JSON",
        value={"error": "parse_error",
               "detail": "JSON parse error - unexpected character: line 1 column 2 (char 1)"},
        response_only=True, status_codes=["400"],
    ),
    OpenApiExample(
        "No or unknown token",
        value={"error": "not_authenticated",
               "detail": "Authentication credentials were not provided."},
        response_only=True, status_codes=["401"],
    ),
    OpenApiExample(
        "variant chosen without staff rights",
        value={"error": "permission_denied", "detail": "only staff may choose the variant"},
        response_only=True, status_codes=["403"],
    ),
    OpenApiExample(
        "Not a JSON content type",
        value={"error": "unsupported_media_type",
               "detail": 'Unsupported media type "text/plain" in request.'},
        response_only=True, status_codes=["415"],
    ),
    OpenApiExample(
        "Over the token's rate",
        value={"error": "throttled",
               "detail": "Request was throttled. Expected available in 12 seconds."},
        response_only=True, status_codes=["429"],
    ),
    OpenApiExample(
        "No model promoted yet",
        value={"error": "no_model",
               "detail": "no model version is promoted; run `manage.py train --activate`"},
        response_only=True, status_codes=["503"],
    ),
]

# Every answer predict can give besides 200, all in the one error shape.
ERROR_RESPONSES = {code: ErrorSerializer for code in (400, 401, 403, 405, 415, 429, 503)}


class PredictView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "predict"

    @extend_schema(
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer, **ERROR_RESPONSES},
        examples=PREDICT_EXAMPLES,
        summary="Spike probabilities for feature rows",
        description="Each row must carry exactly the model's features (GET /api/v1/version "
                    "lists them) as finite JSON numbers; at most PREDICT_MAX_ROWS rows. "
                    "Errors name the row, the field and the reason.",
    )
    def post(self, request: Request) -> Response:
        if not request.content_type:
            raise UnsupportedMediaType("", detail="send the body as application/json")
        body = request.data
        try:
            serving = active_scorers()
        except NoModelVersion as exc:
            return error_response("no_model", str(exc), http_status=503)
        version = serving.version
        try:
            X, override = predict_body(body, version.feature_names, settings.PREDICT_MAX_ROWS,
                                       VARIANTS)
        except RowsInvalid as exc:
            return error_response("invalid", exc.detail, exc.errors)
        scorer, fallback = serving.served, version.ml_error if serving.degraded else None
        if override is not None:
            if not request.user.is_staff:
                return error_response("permission_denied", "only staff may choose the variant",
                                      http_status=403)
            scorer = version.baseline if override == BASELINE else version.ml
            fallback = None
            if scorer is None:
                scorer, fallback = version.baseline, version.ml_error
        return _scored(scorer, X, version.name, fallback)


def _scored(scorer: Scorer, X: np.ndarray, version_name: str, fallback: str | None) -> Response:
    scores = scorer.score(X)
    metrics.API_ROWS_SCORED.labels(variant=scorer.variant).inc(len(scores))
    payload: dict[str, Any] = {
        "scores": scores.tolist(),
        "labels": (scores >= scorer.threshold).astype(np.int8).tolist(),
        "threshold": scorer.threshold,
        "model_variant": scorer.variant,
        "model_version": version_name,
        "ts": datetime.now(UTC).isoformat(),
    }
    if fallback:
        payload["fallback_reason"] = f"ml artifact refused: {fallback}"
    response = Response(payload)
    response["X-Model-Variant"] = scorer.variant
    return response


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Liveness: the process answers")
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # a readiness check reports failures, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "detail": detail}


def _check_db() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True, "ok"


def _check_model() -> tuple[bool, str]:
    serving = active_scorers()
    if serving.version.ml is None:
        return False, f"ML artifact of {serving.version.name} refused: {serving.version.ml_error}"
    return True, f"{serving.version.name} loaded, sha256 verified"


class ReadyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: ReadySerializer, 503: ReadySerializer},
                   summary="Readiness: database, model (sha256 verified) and Kafka broker")
    def get(self, request: Request) -> Response:
        checks = {"database": _timed(_check_db), "model": _timed(_check_model),
                  "broker": _timed(broker_reachable)}
        ready = all(c["ok"] for c in checks.values())
        return Response({"ready": ready, "checks": checks},
                        status=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE)


class VersionView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: VersionSerializer},
                   summary="The variant and model version being served")
    def get(self, request: Request) -> Response:
        config = selectors.service_config_get()
        mv = config.active_model_version
        variant, threshold = config.active_variant, None
        if mv is not None:
            loaded = load_version(mv.id)
            if loaded.ml is None:
                variant = BASELINE
            threshold = loaded.baseline.threshold if variant == BASELINE else mv.threshold
        response = Response({
            "model_variant": variant,
            "model_version": mv.name if mv else None,
            "sha256": mv.sha256 if mv else None,
            "feature_names": mv.feature_names if mv else [],
            "threshold": threshold,
            "trained_start": mv.train_start if mv else None,
            "trained_end": mv.train_end if mv else None,
            "config_version": config.version,
        })
        response["X-Model-Variant"] = variant
        return response


class LatestPredictionView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "history"

    @extend_schema(responses={200: PredictionSerializer, 401: ErrorSerializer,
                              404: ErrorSerializer, 429: ErrorSerializer},
                   summary="The newest streaming prediction for a product")
    def get(self, request: Request, product_id: str) -> Response:
        prediction = selectors.prediction_latest(product_id=product_id)
        if prediction is None:
            return error_response("not_found", f"no prediction for product {product_id!r} yet",
                                  http_status=404)
        response = Response(PredictionSerializer(prediction).data)
        response["X-Model-Variant"] = prediction.variant
        return response


@extend_schema(
    parameters=[
        OpenApiParameter("product", str, description="product id, e.g. BTC-USD"),
        OpenApiParameter("variant", str, enum=[ML, BASELINE], description="served variant"),
        OpenApiParameter("since", OpenApiTypes.DATETIME, description="event time ≥"),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description="event time <"),
    ],
    summary="Streaming prediction history, newest first (paginated)",
)
class PredictionListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "history"
    serializer_class = PredictionSerializer

    def get_queryset(self):
        from django.utils.dateparse import parse_datetime
        from rest_framework.exceptions import ValidationError

        params = self.request.query_params
        variant = params.get("variant")
        if variant and variant not in VARIANTS:
            raise ValidationError({"variant": [f"one of {list(VARIANTS)}"]})
        qs = selectors.prediction_list(product_id=params.get("product"), variant=variant)
        for name, lookup in (("since", "event_ts__gte"), ("until", "event_ts__lt")):
            raw = params.get(name)
            if raw:
                when = parse_datetime(raw)
                if when is None:
                    raise ValidationError({name: ["not an ISO-8601 date-time"]})
                if timezone.is_naive(when):
                    when = timezone.make_aware(when, UTC)
                qs = qs.filter(**{lookup: when})
        return qs
