"""One error shape for the whole API: {"error": code, "detail": text, "errors": [...]}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        code = code if isinstance(code, str) else "invalid"
        detail = exc.detail
        body: dict[str, Any] = {"error": code}
        if isinstance(detail, (list, dict)):
            body["detail"] = "invalid request"
            body["errors"] = _flatten(detail)
        else:
            body["detail"] = str(detail)
        response.data = body
    return response


def _flatten(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            out.extend(_flatten(value, key if field is None else f"{field}.{key}"))
        return out
    if isinstance(detail, list):
        out = []
        for value in detail:
            out.extend(_flatten(value, field))
        return out
    return [{"field": field, "reason": str(detail)}]


def error_body(code: str, detail: str,
               errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def error_response(code: str, detail: str, errors: list[dict[str, Any]] | None = None,
                   http_status: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response(error_body(code, detail, errors), status=http_status)
