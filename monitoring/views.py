"""The SLO status page and the Prometheus scrape endpoint."""

from __future__ import annotations

import os

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from monitoring.access import metrics_access
from monitoring.burn import TIERS
from monitoring.burn import WINDOWS as BURN_WINDOWS
from monitoring.collectors import DatabaseCollector
from monitoring.selectors import WINDOWS
from monitoring.slo_collector import SloCollector
from monitoring.slo_page import slo_charts, slo_page_build, slo_page_json
from predictions.config import current_config

_db_registry = CollectorRegistry(auto_describe=False)
_db_registry.register(DatabaseCollector())
_db_registry.register(SloCollector())


@metrics_access
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Process metrics (all workers' in multiprocess mode) plus database-backed gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_db_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


@staff_member_required
def slo_page(request: HttpRequest) -> HttpResponse:
    """The five SLOs over the chosen window; `?format=json` gives the same data as JSON."""
    window_key = request.GET.get("window", "24h")
    if window_key not in WINDOWS:
        window_key = "24h"
    config = current_config()
    page = slo_page_build(config=config, window_key=window_key)
    if request.GET.get("format") == "json":
        return JsonResponse(slo_page_json(page))
    charts = slo_charts(page)
    context = {
        # The admin's header (user links, log out), sidebar and theme, like every admin page.
        **admin.site.each_context(request),
        "title": "Service level objectives",
        "window_key": window_key,
        "windows": list(WINDOWS),
        "page": page,
        "rows": [{"report": r, "rates": [(w, r.burn_rates[w]) for w, _ in BURN_WINDOWS],
                  "charts": charts[r.definition.key]} for r in page.reports],
        "burn_windows": [w for w, _ in BURN_WINDOWS],
        "tiers": TIERS,
        "stream_chart": charts["stream_quantiles"]["latency"],
        "config": config,
        "prediction_age": page.prediction_age,
        "fresh": page.prediction_age is not None
        and page.prediction_age <= config.slo_freshness_seconds,
    }
    return render(request, "monitoring/slo.html", context)
