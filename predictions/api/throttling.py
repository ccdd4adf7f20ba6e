"""Per-token request rates for the authenticated API (predict, prediction history).

A DRF token belongs to exactly one user, so counting per user is counting per token. Rates
come from settings.API_THROTTLE_RATES (env-driven, see settings.py) and are read at request
time. The count is a fixed window kept in the Django cache (per process by default, Redis with
CACHE_URL): DRF's stock throttles keep a list of every timestamp in the window and re-store it
per request, which costs O(rate) on the hot path at serving rates of thousands per minute.

Each process reserves requests of a window from the shared count in blocks, one `add`/`incr`
per block instead of one per request: a block is at most API_THROTTLE_RESERVE requests (64)
and at most 1/RESERVE_SHARE of what the window had left at the last look, so a rate under 128
per window is counted one request at a time, as is every rate with API_THROTTLE_RESERVE=1. A
request past the rate always asks the shared count. A token is never admitted past its rate;
it may be refused early by up to one unspent block per other process (at most 63 requests,
and at most 1/64 of its budget) when those processes stop serving it within the window.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RESERVE_SHARE = 64
_MAX_SLOTS = 10_000

_lock = threading.Lock()
# (scope, who, rate, period) → (window, requests still reserved by this process, the shared
# count after this process's last reservation)
_reserved: dict[tuple[str, str, int, int], tuple[int, int, int]] = {}


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/minute' → (600, 60); None, '' or 'off' → None (no limit)."""
    if rate is None or rate.strip().lower() in {"", "off", "none"}:
        return None
    num, _, period = rate.partition("/")
    try:
        return int(num), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"throttle rate {rate!r} is not like '600/minute'") from None


def forget_reservations() -> None:
    """Drop this process's reserved blocks (tests that clear the shared count)."""
    with _lock:
        _reserved.clear()


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
        slot = (scope, who, num, period)
        with _lock:
            held_window, left, counted = _reserved.get(slot, (window, 0, 0))
            if held_window == window and left > 0:
                _reserved[slot] = (window, left - 1, counted)
                return True
        if held_window != window:
            counted = 0
        block = max(1, min(settings.API_THROTTLE_RESERVE, (num - counted) // RESERVE_SHARE))
        counted = self._count(f"throttle:{scope}:{who}:{period}:{window}", block, period)
        granted = min(block, num - (counted - block))  # the part of the block within the rate
        with _lock:
            if len(_reserved) >= _MAX_SLOTS:
                _reserved.clear()
            _reserved[slot] = (window, max(granted - 1, 0), counted)
        if granted > 0:
            return True
        self.retry_after = (window + 1) * period - now
        return False

    @staticmethod
    def _count(key: str, block: int, period: int) -> int:
        """Add `block` to the window's shared count; the count after it."""
        cache = caches[settings.API_THROTTLE_CACHE]
        if cache.add(key, block, timeout=period + 1):
            return block
        try:
            return cache.incr(key, block)
        except ValueError:  # the window's key expired between add and incr
            cache.add(key, block, timeout=period + 1)
            return block

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
