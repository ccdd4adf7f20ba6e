"""POST /api/v1/predict for the usual client, without DRF's per-request machinery.

The web server's token API handler (volsite/token_api.py) routes here a POST that names the
`Token` scheme. When the request is the plain case — `Authorization: Token <key>` (ASCII, one
key), `Content-Type: application/json` with no parameters, and an `Accept` that is absent,
`*/*` or `application/json` — this view does what PredictView does through DRF, with the same
parts: CachedTokenAuthentication, the view's throttles, OrjsonParser, `predict_answer`, DRF's
exceptions through the API's exception handler for every error body, OrjsonRenderer for the
answer. Content negotiation, parser selection and the Request wrapper are skipped because
their outcome is known. Any other request goes to PredictView itself, which answers it as
always. tests/predictions/api/test_api_predict_contract.py pins both ways to the same answers.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException, AuthenticationFailed, Throttled

from predictions.api.authentication import CachedTokenAuthentication
from predictions.api.exceptions import api_exception_handler
from predictions.api.parsers import OrjsonParser
from predictions.api.predict import PredictAnswer, predict_answer
from predictions.api.renderers import OrjsonRenderer
from predictions.api.views import PredictView

JSON = "application/json"
PLAIN_ACCEPT = frozenset({"", "*/*", JSON})
ALLOW = "POST, OPTIONS"  # what DRF's view advertises

_drf_view = PredictView.as_view()
_authentication = CachedTokenAuthentication()
_parser = OrjsonParser()
_renderer = OrjsonRenderer()


def _plain(request: HttpRequest) -> str | None:
    """The token key of a plain request, or None: DRF must answer it."""
    meta = request.META
    if (request.method != "POST" or meta.get("CONTENT_TYPE") != JSON
            or meta.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT):
        return None
    header = meta.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if not header.isascii() or len(parts) != 2 or parts[0].lower() != "token":
        return None
    return parts[1]


def _json(status: int, body: Any, variant: str | None = None) -> HttpResponse:
    response = HttpResponse(_renderer.render(body), status=status, content_type=JSON)
    response["Allow"] = ALLOW
    if variant:
        response["X-Model-Variant"] = variant
    return response


def _error(exc: APIException) -> HttpResponse:
    """An API exception as DRF's view answers it (status, body, WWW-Authenticate,
    Retry-After)."""
    drf_response = api_exception_handler(exc, {})
    response = _json(drf_response.status_code, drf_response.data)
    for name in ("WWW-Authenticate", "Retry-After"):
        if name in drf_response:
            response[name] = drf_response[name]
    return response


def _body(request: HttpRequest) -> Any:
    """The parsed body as DRF's request.data gives it: {} for an empty one."""
    if not int(request.META.get("CONTENT_LENGTH") or 0):
        return {}
    return _parser.parse(request, JSON, {"request": request})


@csrf_exempt
def predict(request: HttpRequest) -> HttpResponse:
    key = _plain(request)
    if key is None:
        return _drf_view(request)
    try:
        user, _ = _authentication.authenticate_credentials(key)
    except AuthenticationFailed as exc:
        exc.auth_header = "Token"  # as DRF's view sets it for a 401
        return _error(exc)
    request.user = user  # throttles count per user (one token each)
    # The view's own throttle classes (settings' DEFAULT_THROTTLE_CLASSES), as DRF runs them.
    waits = [t.wait() for t in PredictView().get_throttles()
             if not t.allow_request(request, PredictView)]
    if waits:
        return _error(Throttled(max((w for w in waits if w is not None), default=None)))
    try:
        answer: PredictAnswer = predict_answer(lambda: _body(request), is_staff=user.is_staff)
    except APIException as exc:  # the body: not JSON, a bad charset, too large
        return _error(exc)
    return _json(answer.status, answer.body, answer.variant)
