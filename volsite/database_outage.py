"""A view that finds the database away (a restart, a failover) answers 503 with Retry-After,
not 500: the client may retry, and the error names the cause. JSON in the API's error shape
under /api/, plain text elsewhere. Only connection-level errors: a query that is wrong (a
ProgrammingError, an IntegrityError) is a bug and stays a 500.

With CONN_HEALTH_CHECKS on (settings), a persistent connection that the restart broke is
checked and replaced before a request uses it, so the first requests after the database
returns succeed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
DETAIL = "the database is unavailable; retry shortly"


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return None
        return outage_response(request, exc)


def outage_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The 503 for a connection-level database error (also the token predict handler's,
    volsite/token_api.py)."""
    log.warning("%s %s: database unavailable (%s: %s)", request.method, request.path,
                type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc) else "")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": "database_unavailable", "detail": DETAIL}, status=503)
    else:
        response = HttpResponse(DETAIL + "\n", status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
