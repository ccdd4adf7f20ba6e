"""Reads behind the SLO page and the scrape-time metrics."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from monitoring.models import LATENCY_EDGES_MS, ApiMinute
from monitoring.slo import SloStatus, latency_edge
from predictions.config import ActiveConfig
from predictions.models import Prediction

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "30d": timedelta(days=30)}
# Tick-to-prediction latency objective of the stream (seconds), and rows sampled to judge it.
STREAM_LATENCY_S = 1.0
STREAM_SAMPLE_ROWS = 5000


def api_totals(*, since, endpoints: tuple[str, ...] = ("predict",)) -> dict[str, int]:
    fields = ["requests", "server_errors", "client_errors"] + [f"le_{e}ms" for e in LATENCY_EDGES_MS]
    agg = ApiMinute.objects.filter(minute__gte=since, endpoint__in=endpoints).aggregate(
        **{f: Sum(f) for f in fields}
    )
    return {k: int(v or 0) for k, v in agg.items()}


def slo_statuses(*, config: ActiveConfig, window: timedelta) -> list[SloStatus]:
    now = timezone.now()
    since = now - window
    api = api_totals(since=since)
    edge = latency_edge(config.slo_latency_threshold_ms, LATENCY_EDGES_MS)
    ok_requests = api["requests"] - api["server_errors"]
    rows = list(
        Prediction.objects.filter(created_at__gte=since)
        .order_by("-id")
        .values_list("event_ts", "created_at")[:STREAM_SAMPLE_ROWS]
    )
    fast_rows = sum(1 for ev, cr in rows if (cr - ev).total_seconds() <= STREAM_LATENCY_S)
    return [
        SloStatus(
            key="api_availability", name="Predict API availability",
            objective=f"{config.slo_availability_target:.2%} of predict requests answer without "
                      "a server error (5xx)",
            target=config.slo_availability_target, good=ok_requests, total=api["requests"],
        ),
        SloStatus(
            key="api_latency", name="Predict API latency",
            objective=f"{config.slo_latency_target:.2%} of predict requests answer within "
                      f"{edge} ms",
            target=config.slo_latency_target, good=api[f"le_{edge}ms"], total=api["requests"],
        ),
        SloStatus(
            key="stream_latency", name="Tick-to-prediction latency",
            objective=f"99% of ticks are scored and stored within {STREAM_LATENCY_S:g} s of "
                      f"their exchange time (newest {STREAM_SAMPLE_ROWS} rows)",
            target=0.99, good=fast_rows, total=len(rows),
        ),
    ]


def prediction_age_seconds() -> float | None:
    newest = Prediction.objects.order_by("-id").values_list("created_at", flat=True).first()
    return None if newest is None else (timezone.now() - newest).total_seconds()
