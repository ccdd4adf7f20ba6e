"""SLO arithmetic and the five SLO definitions, free of Django: an SLI is good events over
total events, judged against a target, with the share of error budget left.

The definitions name the `ServiceConfig` fields that hold each objective's target and
threshold, so the page, the `/metrics` target gauges and the generated Prometheus rules
(`manage.py slo_rules`) all read one source (docs/slo.md).
"""

from __future__ import annotations

from dataclasses import dataclass

OK, BREACHING, NO_DATA = "ok", "breaching", "no data"


@dataclass(frozen=True)
class SloDefinition:
    """One objective: what is counted, and where its target and threshold live."""

    key: str  # the `slo` label of the metrics and rules
    name: str
    target_field: str  # ServiceConfig field: the share of good events promised
    threshold_field: str | None  # ServiceConfig field: what makes an event good
    threshold_unit: str  # "ms" or "s" (for the objective text and the threshold gauge)
    objective: str  # format string with {target} and {threshold}
    counted_by: str  # which process counts the events
    # Seconds after the counting process starts during which no event is counted: what the
    # SLO judges cannot have happened yet (the first drift report is due 15 minutes in), so
    # those minutes are "no data", on the page and in Prometheus alike, not bad ones.
    grace_seconds: int = 0
    grace_reason: str = ""

    def target(self, config: object) -> float:
        return float(getattr(config, self.target_field))

    def threshold(self, config: object) -> float | None:
        if self.threshold_field is None:
            return None
        return float(getattr(config, self.threshold_field))

    def threshold_seconds(self, config: object) -> float | None:
        value = self.threshold(config)
        if value is None:
            return None
        return value / 1000.0 if self.threshold_unit == "ms" else value

    def in_grace(self, *, started_at: float, now: float) -> bool:
        """True while `now` is within the grace period of a process started at `started_at`
        (both Unix seconds); the edge itself is outside it."""
        return now - started_at < self.grace_seconds

    def describe(self, config: object) -> str:
        return self.objective.format(target=f"{self.target(config):.2%}",
                                     threshold=f"{self.threshold(config) or 0:g}")


SLOS: tuple[SloDefinition, ...] = (
    SloDefinition(
        "api_availability", "Predict API availability", "slo_availability_target", None, "",
        "{target} of predict requests answer without a server error (5xx)",
        "web: the API middleware, per request"),
    SloDefinition(
        "api_latency", "Predict API latency", "slo_latency_target", "slo_latency_threshold_ms",
        "ms", "{target} of predict requests answer within {threshold} ms",
        "web: the API middleware, per request"),
    SloDefinition(
        "stream_latency", "Tick-to-prediction latency", "slo_stream_latency_target",
        "slo_stream_latency_seconds", "s",
        "{target} of ticks are scored and stored within {threshold} s of their exchange time",
        "stream worker: the consumer, per committed batch"),
    SloDefinition(
        "prediction_freshness", "Prediction freshness", "slo_freshness_target",
        "slo_freshness_seconds", "s",
        "{target} of minutes in which every product's newest prediction is under {threshold} s old",
        "beat: the slo-sample task, once a minute",
        grace_seconds=180,
        grace_reason="the stream consumer is started by supervision (every 15 s), loads the "
                     "model and warms its windows before it writes a first prediction"),
    SloDefinition(
        "drift_freshness", "Drift-report freshness", "slo_drift_freshness_target",
        "slo_drift_freshness_seconds", "s",
        "{target} of minutes in which the newest completed drift report is under {threshold} s old",
        "beat: the slo-sample task, once a minute",
        grace_seconds=1800,
        grace_reason="the first drift report is due 15 minutes after beat starts; like the "
                     "default threshold, the grace allows one missed run"),
)
SLO_KEYS: tuple[str, ...] = tuple(s.key for s in SLOS)
SLOS_BY_KEY: dict[str, SloDefinition] = {s.key: s for s in SLOS}


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
        return budget_remaining(self.good, self.total, self.target)


def budget_remaining(good: int, total: int, target: float) -> float | None:
    """Share of the error budget of `total` events left after `total - good` bad ones."""
    if not total:
        return None
    allowed_bad = (1.0 - target) * total
    bad = total - good
    if allowed_bad <= 0:
        return 1.0 if bad == 0 else -float(bad)
    return 1.0 - bad / allowed_bad


def latency_edge(threshold_ms: int, edges: tuple[int, ...]) -> int:
    """The largest bucket edge at or below the threshold (buckets are what we keep)."""
    below = [e for e in edges if e <= threshold_ms]
    return below[-1] if below else edges[0]


def bucket_quantile(q: float, edges: tuple[float, ...], cumulative: list[int],
                    total: int) -> float | None:
    """The q-quantile of events counted in cumulative buckets (`cumulative[i]` events at or
    below `edges[i]`, `total` in all), interpolated linearly inside the bucket as
    Prometheus' histogram_quantile does; above the last edge, the last edge."""
    if total <= 0:
        return None
    rank = q * total
    lower_edge, lower_count = 0.0, 0
    for edge, count in zip(edges, cumulative):
        if count >= rank:
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 1.0
            return lower_edge + (edge - lower_edge) * share
        lower_edge, lower_count = edge, count
    return edges[-1]
