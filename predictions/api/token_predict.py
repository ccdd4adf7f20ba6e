"""POST /api/v1/predict for the usual client, without DRF's per-request machinery.

The web server's lean handler (volsite/token_api.py) sends here a request that `is_plain`:
`Authorization: Token <key>` (ASCII, one key), `Content-Type: application/json` with no
parameters, and an `Accept` that is absent, `*/*` or `application/json`. For it, `answer` does
what PredictView does through DRF, with the same parts: CachedTokenAuthentication, the view's
throttles, OrjsonParser, `predict_answer`, DRF's exceptions through the API's exception
handler for every error body, OrjsonRenderer for the answer. Content negotiation, parser
selection and the Request wrapper are skipped because their outcome is known. Any other request
goes to PredictView through Django's full handler.
tests/predictions/api/test_api_predict_contract.py pins both ways to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from rest_framework.exceptions import APIException, AuthenticationFailed, Throttled

from predictions.api.authentication import CachedTokenAuthentication
from predictions.api.exceptions import api_exception_handler
from predictions.api.parsers import OrjsonParser
from predictions.api.predict import predict_answer
from predictions.api.renderers import OrjsonRenderer
from predictions.api.views import PredictView

JSON = "application/json"
PLAIN_ACCEPT = frozenset({"", "*/*", JSON})
ALLOW = "POST, OPTIONS"  # what DRF's view advertises

_authentication = CachedTokenAuthentication()
_parser = OrjsonParser()
_renderer = OrjsonRenderer()


@dataclass(slots=True)
class TokenAnswer:
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    variant: str = "none"  # X-Model-Variant, "none" when the answer has none
    rows: int = 0  # rows scored
    raised: bool = False  # the view raised: the outage's 503 or a 500, built by Django


def is_plain(environ: dict[str, Any]) -> bool:
    """Whether `answer` may answer this POST (else DRF must)."""
    if (environ.get("CONTENT_TYPE") != JSON
            or environ.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT):
        return False
    header = environ.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    return header.isascii() and len(parts) == 2 and parts[0].lower() == "token"


def _json(status: int, body: Any, variant: str | None = None, rows: int = 0) -> TokenAnswer:
    headers = [("Content-Type", JSON), ("Allow", ALLOW)]
    if variant:
        headers.append(("X-Model-Variant", variant))
    return TokenAnswer(status, _renderer.render(body), headers, variant or "none", rows)


def _error(exc: APIException) -> TokenAnswer:
    """An API exception as DRF's view answers it (status, body, WWW-Authenticate,
    Retry-After)."""
    drf_response = api_exception_handler(exc, {})
    answer = _json(drf_response.status_code, drf_response.data)
    for name in ("WWW-Authenticate", "Retry-After"):
        if name in drf_response:
            answer.headers.append((name, drf_response[name]))
    return answer


def _body(request: HttpRequest) -> Any:
    """The parsed body as DRF's request.data gives it: {} for an empty one."""
    if not int(request.META.get("CONTENT_LENGTH") or 0):
        return {}
    return _parser.parse(request, JSON, {"request": request})


def answer(request: HttpRequest) -> TokenAnswer:
    """The answer to a plain request. Raises what PredictView would let through: the
    database's OperationalError (the outage's 503) and anything unexpected (a 500)."""
    key = request.META["HTTP_AUTHORIZATION"].split()[1]
    try:
        user, _ = _authentication.authenticate_credentials(key)
    except AuthenticationFailed as exc:
        exc.auth_header = "Token"  # as DRF's view sets it for a 401
        return _error(exc)
    request.user = user  # throttles count per user (one token each)
    # The view's own throttle classes (settings' DEFAULT_THROTTLE_CLASSES), as DRF runs them.
    waits = [t.wait() for t in (cls() for cls in PredictView.throttle_classes)
             if not t.allow_request(request, PredictView)]
    if waits:
        return _error(Throttled(max((w for w in waits if w is not None), default=None)))
    try:
        predicted = predict_answer(lambda: _body(request), is_staff=user.is_staff)
    except APIException as exc:  # the body: not JSON, a bad charset, too large
        return _error(exc)
    return _json(predicted.status, predicted.body, predicted.variant, predicted.rows)
