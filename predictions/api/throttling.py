"""Per-token request rates for the authenticated API (predict, prediction history).

A DRF token belongs to exactly one user, so counting per user is counting per token. Rates
come from settings.API_THROTTLE_RATES (env-driven, see settings.py) and are read at request
time. The counter is a fixed window kept in the Django cache with one `add`/`incr` per
request: DRF's stock throttles keep a list of every timestamp in the window and re-store it
per request, which costs O(rate) on the hot path at serving rates of thousands per minute.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/minute' → (600, 60); None, '' or 'off' → None (no limit)."""
    if rate is None or rate.strip().lower() in {"", "off", "none"}:
        return None
    num, _, period = rate.partition("/")
    try:
        return int(num), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"throttle rate {rate!r} is not like '600/minute'") from None


class TokenRateThrottle(BaseThrottle):
    """Throttles views that set `throttle_scope`, per authenticated token, in fixed windows."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None)
        who = self.ident(request)
        if not scope or who is None:
            return True  # anonymous requests never reach here past IsAuthenticated
        limit = parse_rate(settings.API_THROTTLE_RATES.get(scope))
        if limit is None:
            return True
        num, period = limit
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{who}:{period}:{window}"
        cache = caches[settings.API_THROTTLE_CACHE]
        if cache.add(key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # the window's key expired between add and incr
                cache.add(key, 1, timeout=period + 1)
                count = 1
        if count <= num:
            return True
        self.retry_after = (window + 1) * period - now
        return False

    def ident(self, request: Any) -> str | None:
        """Whose budget a request spends: its token's user (None: not throttled here)."""
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None

    def wait(self) -> float | None:
        # DRF puts this (rounded up) in the Retry-After header of the 429.
        return None if self.retry_after is None else max(1.0, math.ceil(self.retry_after))


class AddressRateThrottle(TokenRateThrottle):
    """The same fixed windows per client address, for the anonymous /ready probe (the peer
    address: a probe storm from one host cannot run the checks for everyone else)."""

    def ident(self, request: Any) -> str | None:
        return "addr:" + request.META.get("REMOTE_ADDR", "")
