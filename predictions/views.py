"""The REST API under /api/v1/. Views parse, call one service or selector, and answer."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import metrics
from predictions import selectors
from predictions.exceptions import error_response
from predictions.kafka import broker_reachable
from predictions.scoring import BASELINE, ML, VARIANTS
from predictions.serializers import (
    ErrorSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    ReadySerializer,
    VersionSerializer,
)
from predictions.serving import NoModelVersion, active_scorers, load_version
from predictions.validation import RowsInvalid, rows_matrix

PREDICT_EXAMPLE = OpenApiExample(
    "Two rows (abbreviated: send every feature listed by GET /api/v1/version)",
    value={"rows": [{"rv_60s": 0.0012, "n_ticks_60s": 130}, {"rv_60s": 0.004,
                                                            "n_ticks_60s": 410}]},
    request_only=True,
)


class PredictView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "predict"

    @extend_schema(
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                   403: ErrorSerializer, 503: ErrorSerializer},
        examples=[PREDICT_EXAMPLE],
        summary="Spike probabilities for feature rows",
    )
    def post(self, request: Request) -> Response:
        try:
            serving = active_scorers()
        except NoModelVersion as exc:
            return error_response("no_model", str(exc), http_status=503)
        body = request.data
        scorer, fallback = serving.served, None
        override = body.get("variant") if isinstance(body, dict) else None
        if override is not None:
            if override not in VARIANTS:
                return error_response("invalid", "invalid request",
                                      [{"field": "variant", "reason": f"one of {list(VARIANTS)}"}])
            if not request.user.is_staff:
                return error_response("permission_denied", "only staff may choose the variant",
                                      http_status=403)
            scorer = serving.version.baseline if override == BASELINE else serving.version.ml
            if scorer is None:
                scorer, fallback = serving.version.baseline, serving.version.ml_error
        if serving.degraded and override is None:
            fallback = serving.version.ml_error
        rows_body = {k: v for k, v in body.items() if k != "variant"} if isinstance(body, dict) else body
        try:
            X = rows_matrix(rows_body, serving.version.feature_names, settings.PREDICT_MAX_ROWS)
        except RowsInvalid as exc:
            return error_response("invalid", exc.detail, exc.errors)
        if isinstance(body, dict) and set(body) - {"rows", "variant"}:
            unknown = sorted(set(body) - {"rows", "variant"})
            return error_response("invalid", "unknown fields in body",
                                  [{"field": f, "reason": "unknown field"} for f in unknown])
        scores = scorer.score(X)
        metrics.API_ROWS_SCORED.labels(variant=scorer.variant).inc(len(scores))
        payload: dict[str, Any] = {
            "scores": scores.tolist(),
            "labels": (scores >= scorer.threshold).astype(int).tolist(),
            "threshold": scorer.threshold,
            "model_variant": scorer.variant,
            "model_version": serving.version.name,
            "ts": timezone.now().isoformat(),
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

    @extend_schema(responses={200: PredictionSerializer, 404: ErrorSerializer},
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
                    when = timezone.make_aware(when, timezone.utc)
                qs = qs.filter(**{lookup: when})
        return qs
