"""Times every API request: Prometheus metrics and the per-minute SLI rollups."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from monitoring import metrics, sli

API_PREFIX = "/api/"

# The labelled children of the request metrics, by their label values: prometheus_client's
# labels() validates and locks on every call, a dict lookup does not (a few per request).
_requests: dict[tuple[str, str, str], Any] = {}
_latency: dict[tuple[str, str], Any] = {}
_errors: dict[tuple[str, str], Any] = {}


def _child(cache: dict, metric: Any, *values: str) -> Any:
    child = cache.get(values)
    if child is None:
        child = cache[values] = metric.labels(*values)
    return child


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
        _child(_requests, metrics.API_REQUESTS, endpoint, variant, str(status)).inc()
        _child(_latency, metrics.API_LATENCY, endpoint, variant).observe(elapsed)
        if status >= 400:
            kind = "server_error" if status >= 500 else f"http_{status}"
            _child(_errors, metrics.API_ERRORS, endpoint, kind).inc()
        sli.record(endpoint, status, elapsed)
        return response
