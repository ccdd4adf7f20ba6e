"""Token authentication without a database query per request.

DRF's TokenAuthentication reads the token and its user on every request. Here each process
remembers a verified token for API_TOKEN_CACHE_SECONDS (default 1 s): at thousands of
requests per second that is one query per token per second per worker instead of one per
request. A revoked token, or a user made inactive, is refused by every worker within that
time, the same bound as a configuration change. Unknown tokens are never remembered, and a
key that cannot be a token is refused without asking the database.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

_KEY = re.compile(r"[0-9A-Za-z_\-]{1,40}")
_MAX_REMEMBERED = 10_000

_lock = threading.Lock()
_remembered: dict[str, tuple[float, Any, Any]] = {}


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not _KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        ttl = settings.API_TOKEN_CACHE_SECONDS
        now = time.monotonic()
        hit = _remembered.get(key)
        if hit is not None and now < hit[0]:
            return hit[1], hit[2]
        user, token = super().authenticate_credentials(key)
        if ttl > 0:
            with _lock:
                if len(_remembered) >= _MAX_REMEMBERED:
                    _remembered.clear()
                _remembered[key] = (now + ttl, user, token)
        return user, token


def forget_tokens() -> None:
    with _lock:
        _remembered.clear()


def has_metrics_token(request: Any) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); never with no
    token configured. Prometheus scrapes /metrics with it, and it unlocks /ready's details."""
    import hmac

    expected = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), expected.encode())
