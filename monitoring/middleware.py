"""Times every API request: Prometheus metrics and the per-minute SLI rollups."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from monitoring import metrics, sli

API_PREFIX = "/api/"


class ApiSliMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        endpoint = match.url_name if match and match.url_name else "unmatched"
        variant = response.get("X-Model-Variant", "none")
        status = response.status_code
        metrics.API_REQUESTS.labels(endpoint=endpoint, variant=variant, status=str(status)).inc()
        metrics.API_LATENCY.labels(endpoint=endpoint, variant=variant).observe(elapsed)
        if status >= 400:
            kind = "server_error" if status >= 500 else f"http_{status}"
            metrics.API_ERRORS.labels(endpoint=endpoint, kind=kind).inc()
        sli.record(endpoint, status, elapsed)
        return response
