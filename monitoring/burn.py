"""Burn rates and multiwindow alert state (Google SRE workbook, chapter 5), free of Django.

The windows and the four alert tiers are defined here once: the SLO page computes with them
and `monitoring.rules` writes the Prometheus rules from them, so both judge the same counts
the same way (tests/monitoring/test_slo_rules_agree.py runs both on one history).

A burn rate is the bad-event ratio of a window over the ratio the objective allows: 1 spends
the 30-day budget exactly in 30 days, 14.4 spends 2 % of it in an hour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

PAGE, TICKET, QUIET, NO_DATA = "page", "ticket", "ok", "no data"
# Alert level as the `volsite:slo_alert_level` recording rule has it.
LEVELS = {PAGE: 2, TICKET: 1, QUIET: 0}

# Burn-rate windows, shortest first: (name as in PromQL, minutes).
WINDOWS: tuple[tuple[str, int], ...] = (
    ("5m", 5), ("30m", 30), ("1h", 60), ("2h", 120), ("6h", 360), ("1d", 1440), ("3d", 4320),
)
WINDOW_MINUTES: dict[str, int] = dict(WINDOWS)
# The error budget is counted over 30 days.
BUDGET_WINDOW = ("30d", 43_200)


@dataclass(frozen=True)
class AlertTier:
    """Fire when the burn rate exceeds `factor` over both the long and the short window: the
    long window says enough budget is gone, the short one that it is still going."""

    key: str
    alert: str  # Prometheus alert name
    severity: str  # PAGE or TICKET
    factor: float
    long: str
    short: str

    @property
    def budget_spent(self) -> float:
        """Share of the 30-day budget spent when the long window fires."""
        return self.factor * WINDOW_MINUTES[self.long] / BUDGET_WINDOW[1]

    def fires(self, rates: Mapping[str, float | None]) -> bool:
        long, short = rates.get(self.long), rates.get(self.short)
        return long is not None and short is not None and long > self.factor \
            and short > self.factor


TIERS: tuple[AlertTier, ...] = (
    AlertTier("fast_burn", "VolsiteSloFastBurn", PAGE, 14.4, "1h", "5m"),
    AlertTier("slow_burn", "VolsiteSloSlowBurn", PAGE, 6.0, "6h", "30m"),
    AlertTier("budget_burn", "VolsiteSloBudgetBurn", TICKET, 3.0, "1d", "2h"),
    AlertTier("budget_drain", "VolsiteSloBudgetDrain", TICKET, 1.0, "3d", "6h"),
)


def burn_rate(good: int, total: int, target: float) -> float | None:
    """Bad ratio over allowed ratio; None without events. A target of 1 allows no bad event:
    any is an infinite burn."""
    if total <= 0:
        return None
    bad_ratio = (total - good) / total
    allowed = 1.0 - target
    if allowed <= 0:
        return math.inf if bad_ratio > 0 else 0.0
    return bad_ratio / allowed


@dataclass(frozen=True)
class AlertState:
    level: str  # PAGE, TICKET, QUIET or NO_DATA
    firing: tuple[str, ...]  # keys of the tiers that fire


def alert_state(rates: Mapping[str, float | None]) -> AlertState:
    """The most severe tier that fires. No data when the longest window saw no event (then
    no shorter one did either)."""
    if rates.get(WINDOWS[-1][0]) is None:
        return AlertState(NO_DATA, ())
    firing = tuple(t.key for t in TIERS if t.fires(rates))
    severities = {t.severity for t in TIERS if t.key in firing}
    level = PAGE if PAGE in severities else TICKET if TICKET in severities else QUIET
    return AlertState(level, firing)


def burn_rates(counts: Mapping[str, tuple[int, int]], target: float) -> dict[str, float | None]:
    """{window: burn rate} from {window: (good, total)}."""
    return {name: burn_rate(*counts.get(name, (0, 0)), target) for name, _ in WINDOWS}
