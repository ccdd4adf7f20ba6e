"""The REST API under /api/v1/. Views parse, call one serving, selector or readiness
function, and answer; their OpenAPI description lives in predictions.api.schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import metrics
from predictions import selectors, serving
from predictions.api import schema
from predictions.api.authentication import has_metrics_token
from predictions.api.exceptions import error_response
from predictions.api.filters import PredictionFilter
from predictions.api.pagination import KeysetPagination
from predictions.api.predict import predict_answer
from predictions.api.readiness import readiness_checks
from predictions.api.serializers import PredictionSerializer, ServedAtSerializer
from predictions.api.throttling import AddressRateThrottle
from predictions.client_datetimes import ClientDatetimeInvalid, client_datetime_parse
from predictions.core.ticks import is_product_id


class PredictView(APIView):
    """Predict through DRF: the OpenAPI description, and every request the lean token handler
    (predictions/api/token_predict.py, through volsite/token_api.py) leaves to Django's full
    handler (sessions, odd headers, other methods)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "predict"

    @schema.predict
    def post(self, request: Request) -> Response:
        if not request.content_type:
            raise UnsupportedMediaType("", detail="send the body as application/json")
        answer = predict_answer(lambda: request.data, is_staff=request.user.is_staff)
        response = Response(answer.body, status=answer.status)
        if answer.variant:
            response["X-Model-Variant"] = answer.variant
        if answer.rows:
            metrics.API_ROWS_SCORED.labels(variant=answer.variant).inc(answer.rows)
        return response


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @schema.health
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness for probes: cached about a second, throttled per client address; the checks'
    details only for staff (session) or the metrics token."""

    permission_classes = [AllowAny]
    authentication_classes = [SessionAuthentication]
    throttle_classes = [AddressRateThrottle]
    throttle_scope = "ready"

    @schema.ready
    def get(self, request: Request) -> Response:
        checks = readiness_checks()
        ready = all(c["ok"] for c in checks.values())
        body: dict[str, Any] = {"ready": ready}
        if request.user.is_staff or has_metrics_token(request):
            body["checks"] = checks
        return Response(body, status=status.HTTP_200_OK if ready
                        else status.HTTP_503_SERVICE_UNAVAILABLE)


class VersionView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @schema.version
    def get(self, request: Request) -> Response:
        served = serving.served_version()
        mv = served.model_version
        response = Response({
            "model_variant": served.variant,
            "model_version": mv.name if mv else None,
            "sha256": mv.sha256 if mv else None,
            "feature_names": mv.feature_names if mv else [],
            "threshold": served.threshold,
            "trained_start": mv.train_start if mv else None,
            "trained_end": mv.train_end if mv else None,
            "config_version": served.config_version,
        })
        response["X-Model-Variant"] = served.variant
        return response


class LatestPredictionView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "history"

    @schema.latest_prediction
    def get(self, request: Request, product_id: str) -> Response:
        if not is_product_id(product_id):
            return error_response("invalid", "not a product id (1–32 letters, digits and "
                                  ". _ - / :)", [{"field": "product_id", "reason": "invalid"}])
        prediction = selectors.prediction_latest(product_id=product_id)
        if prediction is None:
            return error_response("not_found", f"no prediction for product {product_id!r} yet",
                                  http_status=404)
        response = Response(PredictionSerializer(prediction).data)
        response["X-Model-Variant"] = prediction.variant
        return response


@schema.prediction_list
class PredictionListView(generics.ListAPIView):
    """History, newest first: filters by django-filter, keyset pages on (event_ts, id)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "history"
    serializer_class = PredictionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = PredictionFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return selectors.prediction_list()


class ServedAtView(APIView):
    """What was live when: the configuration version in force at `?at=`."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "history"

    @schema.served_at
    def get(self, request: Request) -> Response:
        at = _when(request.query_params, "at")
        if at is None:
            raise ValidationError({"at": ["required: an ISO-8601 date-time"]})
        served = selectors.service_config_at(at=at)
        return Response(ServedAtSerializer(served).data)


def _when(params: Any, name: str) -> datetime | None:
    """A client's datetime query parameter in UTC (naive ones are UTC), None when absent, or
    a 400 naming the parameter (predictions.client_datetimes)."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return client_datetime_parse(raw, field=name)
    except ClientDatetimeInvalid as exc:
        raise ValidationError({name: [exc.reason]}) from None
