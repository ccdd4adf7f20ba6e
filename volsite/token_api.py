"""The WSGI application: Django as is, with one lean handler for the plain token predict request.

A POST to /api/v1/predict that `token_predict.is_plain` (`Authorization: Token <key>`, a JSON
body with no charset parameter, a plain Accept), whose Content-Length is a number within
API_MAX_BODY_BYTES, whose host is allowed and which needs no HTTPS redirect, is answered by
TokenPredictHandler. Every other request — the admin, pages, the schema, a browser calling
predict with its session, an unusual header, a framing error — takes Django's handler and the
13 middleware of settings.MIDDLEWARE, unchanged.

What the full chain does for a plain token predict request, and where the lean handler does it:
- request limits (400/413), host validation (400), HTTPS and www redirects: not plain, so
  the full chain answers them as always;
- sessions, CSRF, authentication, messages, whitenoise: nothing to do for a request that names
  the Token scheme (DRF never consults the session then, CSRF only applies to
  session-authenticated calls, no static file is served under /api/);
- security headers (SecurityMiddleware, XFrameOptionsMiddleware): those middleware's headers,
  taken from them once per transport and added to every answer (`security_headers`);
- the database outage's 503 (DatabaseOutageMiddleware): the same response function;
- django-prometheus and the API's metrics and SLI rollups (ApiSliMiddleware): the same series
  and counts, recorded in monitoring.request_tally and published once a second;
- request_started / request_finished: sent as Django's handler sends them (database
  connections are checked and closed by their usual receivers);
- an unexpected exception: Django's response_for_exception (logged, got_request_exception,
  the 500 page), counted like django-prometheus counts it; 4xx and 5xx answers logged on the
  `django.request` logger as Django's handler logs them;
- DRF's view: predictions/api/token_predict.py (same authentication, throttles, parser, answer
  and error bodies).

tests/predictions/api/test_api_predict_contract.py sends every kind of predict request through
this application and compares the answers (and what they count) with those of the full chain;
docs/api.md ("Performance") has what each part cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from http.client import responses
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.core.signals import request_finished, request_started, setting_changed
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.log import log_response

from monitoring import request_tally
from predictions.api import token_predict
from volsite.database_outage import outage_response

PREDICT_PATH = "/api/v1/predict"

_security: dict[bool, list[tuple[str, str]]] = {}


def security_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers SecurityMiddleware and XFrameOptionsMiddleware add to a JSON answer of
    this path, as those middleware compute them (HSTS only over HTTPS), for the current
    settings."""
    headers = _security.get(secure)
    if headers is None:
        probe = HttpRequest()
        probe.method, probe.path, probe.path_info = "POST", PREDICT_PATH, PREDICT_PATH
        probe.is_secure = lambda: secure  # type: ignore[method-assign]
        response = HttpResponse(content_type=token_predict.JSON)
        for middleware in (SecurityMiddleware, XFrameOptionsMiddleware):
            # Only their process_response runs: the view they would wrap is never called.
            response = middleware(HttpResponse).process_response(probe, response)
        headers = _security[secure] = [(k, v) for k, v in response.items()
                                       if k.lower() != "content-type"]
    return headers


def _forget_security_headers(**_: Any) -> None:
    _security.clear()


setting_changed.connect(_forget_security_headers)  # tests that change SECURE_* or X_FRAME_*


def _from_response(response: HttpResponse) -> token_predict.TokenAnswer:
    """An answer Django built (the outage's 503, a 500) in the lean handler's form."""
    headers = [(k, v) for k, v in response.items() if k.lower() != "content-length"]
    return token_predict.TokenAnswer(response.status_code, response.content, headers,
                                     raised=True)


def _takes(request: WSGIRequest) -> bool:
    """Whether the request needs nothing the full chain's middleware would answer itself."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not (declared.isascii() and declared.isdigit()) or int(declared) > settings.API_MAX_BODY_BYTES:
        return False  # RequestLimitsMiddleware's 400 / 413
    if settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
        return False  # CommonMiddleware's checks and redirect
    try:
        request.get_host()
    except DisallowedHost:
        return False  # CommonMiddleware's 400
    return not (settings.SECURE_SSL_REDIRECT and not request.is_secure())  # the redirect


class TokenPredictHandler:
    def __init__(self, full: WSGIHandler) -> None:
        self.full = full  # for a request that turns out to need the full chain

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = WSGIRequest(environ)
        if not _takes(request):
            return self.full(environ, start_response)
        set_script_prefix(get_script_name(environ))
        request_started.send(sender=self.__class__, environ=environ)
        try:
            started = time.perf_counter()
            answer = self._answer(request)
            seconds = time.perf_counter() - started
        finally:
            request_finished.send(sender=self.__class__)
        secure = request.is_secure()
        present = {name.lower() for name, _ in answer.headers}
        headers = [*answer.headers, *((k, v) for k, v in security_headers(secure)
                                      if k.lower() not in present),
                   ("Content-Length", str(len(answer.body)))]
        if answer.status >= 400 and not answer.raised:  # as Django's get_response logs them
            log_response("%s: %s", responses.get(answer.status), request.path,
                         response=HttpResponse(status=answer.status), request=request)
        request_tally.record(request_tally.Answered(
            answer.status, answer.variant, answer.rows, seconds,
            int(environ.get("CONTENT_LENGTH") or 0), len(answer.body), secure, time.time(),
            answer.raised))
        start_response(f"{answer.status} {responses.get(answer.status, 'Unknown Status Code')}",
                       headers)
        return [answer.body]

    @staticmethod
    def _answer(request: WSGIRequest) -> token_predict.TokenAnswer:
        try:
            return token_predict.answer(request)
        except (OperationalError, InterfaceError) as exc:
            request_tally.count_exception(exc)
            response = outage_response(request, exc)
        except Exception as exc:  # noqa: BLE001 - answered as Django answers it: a logged 500
            request_tally.count_exception(exc)
            response = response_for_exception(request, exc)
        log_response("%s: %s", response.reason_phrase, request.path, response=response,
                     request=request)  # the 500 was logged already: this skips it
        return _from_response(response)


class TokenApiRouter:
    """Sends plain token predict requests to the lean handler, the rest to Django's."""

    def __init__(self, full: WSGIHandler) -> None:
        self.full = full
        self.token_api = TokenPredictHandler(full)

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") == PREDICT_PATH and environ.get("REQUEST_METHOD") == "POST"
                and token_predict.is_plain(environ)):
            return self.token_api(environ, start_response)
        return self.full(environ, start_response)
