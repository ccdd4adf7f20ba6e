"""Token authentication without a database query per request.

DRF's TokenAuthentication reads the token and its user on every request. Here each process
remembers a verified token for API_TOKEN_CACHE_SECONDS (default 1 s) from the moment it was
verified. In a web worker the background refresher (predictions/api/refresher.py) re-verifies
the tokens used since its last round, in one query, before that time is up, so a request
finds its token fresh and does not query; a request whose token is not remembered, or whose
entry ran out because the refresher was late, verifies it itself as DRF would. A revoked
token, or a user made inactive, is refused by every worker within API_TOKEN_CACHE_SECONDS of
the change, whoever verified it last. Unknown tokens are never remembered, and a key that
cannot be a token is refused without asking the database. While the refresher finds the
database away, a token that would need the database raises the outage (503) without trying.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from predictions.api import outage

_KEY = re.compile(r"[0-9A-Za-z_\-]{1,40}")
_MAX_REMEMBERED = 10_000

_lock = threading.Lock()
# key → (monotonic time the entry runs out, user, token)
_remembered: dict[str, tuple[float, Any, Any]] = {}
# Keys answered from memory since the refresher's last round: the ones it re-verifies.
_used: set[str] = set()


def _remember(key: str, verified_at: float, user: Any, token: Any) -> None:
    with _lock:
        if len(_remembered) >= _MAX_REMEMBERED:
            _remembered.clear()
        _remembered[key] = (verified_at + settings.API_TOKEN_CACHE_SECONDS, user, token)


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not _KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        hit = _remembered.get(key)
        if hit is not None and time.monotonic() < hit[0]:
            _used.add(key)
            return hit[1], hit[2]
        outage.raise_if_database_away()
        verified_at = time.monotonic()
        user, token = super().authenticate_credentials(key)
        if settings.API_TOKEN_CACHE_SECONDS > 0:
            _remember(key, verified_at, user, token)
        return user, token


def tokens_refresh() -> int:
    """Re-verify, in one query, the remembered tokens used since the last call, extending
    each one still valid (its user active) and forgetting the others, so their next request
    verifies them and is refused as DRF refuses them. Returns how many were re-verified."""
    from rest_framework.authtoken.models import Token

    with _lock:
        keys = list(_used)
        _used.clear()
    if not keys or settings.API_TOKEN_CACHE_SECONDS <= 0:
        return 0
    verified_at = time.monotonic()
    valid = {t.key: t for t in Token.objects.select_related("user").filter(key__in=keys)
             if t.user.is_active}
    for key in keys:
        token = valid.get(key)
        if token is None:
            with _lock:
                _remembered.pop(key, None)
        else:
            _remember(key, verified_at, token.user, token)
    return len(valid)


def forget_tokens() -> None:
    with _lock:
        _remembered.clear()
        _used.clear()


def has_metrics_token(request: Any) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); never with no
    token configured. Prometheus scrapes /metrics with it, and it unlocks /ready's details."""
    import hmac

    expected = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), expected.encode())
