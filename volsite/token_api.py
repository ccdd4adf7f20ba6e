"""The WSGI application: Django as is, with a shorter middleware chain for token-authenticated
predict requests.

Every request runs the 13 middleware of settings.MIDDLEWARE, except a POST to one of
TOKEN_API_PATHS whose Authorization header names the `Token` scheme. Such a request can only be
authenticated by its token (DRF never falls back to the session once that scheme is named, and
CSRF only applies to session-authenticated calls), so sessions, CSRF, auth, messages and
whitenoise have nothing to do for it; it runs settings.TOKEN_API_MIDDLEWARE instead, which
keeps everything else: request limits (400/413 before parsing), both django-prometheus
middlewares, the security headers and HTTPS redirect, host validation, the database-outage
503 and the API SLI accounting. Any other request — the admin, pages, the schema, a browser
calling predict with its session — takes the full chain, unchanged.

tests/predictions/api/test_api_predict_contract.py sends every kind of predict request through
this application and compares the answers with those of the full chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

# The token API's hot paths (PATH_INFO, exact): predict only. The history endpoints are bound
# by their database queries, not by the middleware, and keep the full chain. Their views come
# from TOKEN_API_URLCONF (predictions/api/token_predict.py: DRF only where it is needed).
TOKEN_API_PATHS = frozenset({"/api/v1/predict"})
TOKEN_API_URLCONF = "predictions.api.token_urls"


def names_token_scheme(authorization: str) -> bool:
    """Whether DRF's TokenAuthentication would take this header (its first word, any case,
    is `Token`): then it alone decides, and the session is never consulted."""
    scheme = authorization.split(None, 1)[0] if authorization else ""
    return scheme.lower() == "token"


class TokenApiHandler(WSGIHandler):
    """Django's WSGI handler over settings.TOKEN_API_MIDDLEWARE (synchronous middleware only,
    built the way BaseHandler.load_middleware builds the full chain)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.TOKEN_API_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    def get_response(self, request: Any) -> Any:
        request.urlconf = TOKEN_API_URLCONF
        return super().get_response(request)


class TokenApiRouter:
    """Sends token-authenticated predict requests to the short chain, the rest to Django's."""

    def __init__(self, full: WSGIHandler, token_api: WSGIHandler) -> None:
        self.full = full
        self.token_api = token_api

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") in TOKEN_API_PATHS and environ.get("REQUEST_METHOD") == "POST"
                and names_token_scheme(environ.get("HTTP_AUTHORIZATION", ""))):
            return self.token_api(environ, start_response)
        return self.full(environ, start_response)
