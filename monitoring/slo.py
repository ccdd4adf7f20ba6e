"""SLO arithmetic, free of Django: an SLI is good events over total events, judged against a
target, with the share of error budget left."""

from __future__ import annotations

from dataclasses import dataclass

OK, BREACHING, NO_DATA = "ok", "breaching", "no data"


@dataclass(frozen=True)
class SloStatus:
    key: str
    name: str
    objective: str  # human text, e.g. "99.5 % of API requests succeed"
    target: float
    good: int
    total: int

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def sli_percent(self) -> float | None:
        sli = self.sli
        return None if sli is None else sli * 100.0

    @property
    def target_percent(self) -> float:
        return self.target * 100.0

    @property
    def status(self) -> str:
        sli = self.sli
        if sli is None:
            return NO_DATA
        return OK if sli >= self.target else BREACHING

    @property
    def budget_remaining(self) -> float | None:
        """1.0 = no budget spent, 0 = all spent, negative = overspent."""
        if not self.total:
            return None
        allowed_bad = (1.0 - self.target) * self.total
        bad = self.total - self.good
        if allowed_bad <= 0:
            return 1.0 if bad == 0 else -float(bad)
        return 1.0 - bad / allowed_bad


def latency_edge(threshold_ms: int, edges: tuple[int, ...]) -> int:
    """The largest bucket edge at or below the threshold (buckets are what we keep)."""
    below = [e for e in edges if e <= threshold_ms]
    return below[-1] if below else edges[0]
