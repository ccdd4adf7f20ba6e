"""The OpenAPI description of the API: examples and per-view schema decorations.

Kept apart from the views so a view reads as parse, call, answer; the published document
(GET /api/v1/schema) is built from these decorations.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from predictions.api.serializers import (
    ErrorSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    ReadySerializer,
    ServedAtSerializer,
    VersionSerializer,
)

PREDICT_EXAMPLES = [
    OpenApiExample(
        "Two rows (abbreviated: send every feature listed by GET /api/v1/version)",
        value={"rows": [{"rv_60s": 0.0004, "log_vol_300s": -8.1},
                        {"rv_60s": 0.0011, "log_vol_300s": -7.2}]},
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
        "Body over API_MAX_BODY_BYTES (answered before it is parsed)",
        value={"error": "too_large",
               "detail": "request body over API_MAX_BODY_BYTES (2097152 bytes)"},
        response_only=True, status_codes=["413"],
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
ERROR_RESPONSES = {code: ErrorSerializer for code in (400, 401, 403, 405, 413, 415, 429, 503)}

predict = extend_schema(
    request=PredictRequestSerializer,
    responses={200: PredictResponseSerializer, **ERROR_RESPONSES},
    examples=PREDICT_EXAMPLES,
    summary="Spike probabilities for feature rows",
    description="Each row must carry exactly the model's features (GET /api/v1/version "
                "lists them) as finite JSON numbers; at most PREDICT_MAX_ROWS rows. "
                "Errors name the row, the field and the reason.",
)

# The probes and the version are open: `auth=[]` leaves security out of their operations,
# so Swagger draws no lock on them (a staff session only adds detail to /ready).
health = extend_schema(responses={200: OpenApiTypes.OBJECT}, auth=[],
                       summary="Liveness: the process answers")

ready = extend_schema(responses={200: ReadySerializer, 503: ReadySerializer}, auth=[],
                      summary="Readiness: database, model (sha256 verified) and Kafka broker",
                      description="Open. The per-check details are added for a staff session "
                                  "or `Authorization: Bearer <METRICS_TOKEN>`.")

version = extend_schema(responses={200: VersionSerializer}, auth=[],
                        summary="The variant and model version being served")

latest_prediction = extend_schema(
    responses={200: PredictionSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
               404: ErrorSerializer, 429: ErrorSerializer},
    summary="The newest streaming prediction for a product",
)

# Filters come from predictions.api.filters (django-filter), the cursor from the pagination.
prediction_list = extend_schema(
    responses={200: PredictionSerializer(many=True), 400: ErrorSerializer, 401: ErrorSerializer,
               429: ErrorSerializer},
    summary="Streaming prediction history, newest first (cursor-paginated)",
)

served_at = extend_schema(
    parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, required=True,
                                 description="the past moment (ISO-8601; naive = UTC)")],
    responses={200: ServedAtSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
    summary="Which variant and model version served at a given time (from the audit trail)",
)

# Answers any operation can give to a malformed request (and 503 while the database is away,
# volsite/database_outage.py), added to every operation's responses so the documentation
# lists each 4xx the API may answer (the fuzzer in
# tests/predictions/api/test_api_schema_fuzz.py checks every answer against this).
COMMON_ERRORS = {
    "400": "malformed query string, header, body or path parameter",
    "406": "no acceptable representation for the Accept header",
    "429": "over the rate of this token or client",
    "503": "the database is unavailable (a restart, a failover): retry after Retry-After",
}


def document_common_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add COMMON_ERRORS where an operation lacks them."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, text in COMMON_ERRORS.items():
                responses.setdefault(code, {"description": text, "content": error})
    return result
