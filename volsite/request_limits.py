"""The first middleware: a request whose Content-Length is not a number, or whose API body is
declared larger than API_MAX_BODY_BYTES, is answered here (400 / 413) before any other
middleware reads the header or the body (django-prometheus would raise on `int("abc")`)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isascii() or not declared.strip().isdigit():
            return JsonResponse({"error": "parse_error",
                                 "detail": "Content-Length is not a number"}, status=400)
        limit = settings.API_MAX_BODY_BYTES
        if request.path.startswith("/api/") and int(declared) > limit:
            return JsonResponse({"error": "too_large", "detail": "request body over "
                                 f"API_MAX_BODY_BYTES ({limit} bytes)"}, status=413)
        return self.get_response(request)
