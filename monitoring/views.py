"""The SLO status page and the Prometheus scrape endpoint."""

from __future__ import annotations

import os

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from monitoring.access import metrics_access
from monitoring.collectors import DatabaseCollector
from monitoring.selectors import WINDOWS, prediction_age_seconds, slo_statuses
from predictions.config import current_config

_db_registry = CollectorRegistry(auto_describe=False)
_db_registry.register(DatabaseCollector())


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
    window_key = request.GET.get("window", "24h")
    if window_key not in WINDOWS:
        window_key = "24h"
    config = current_config()
    age = prediction_age_seconds()
    context = {
        # The admin's header (user links, log out), sidebar and theme, like every admin page.
        **admin.site.each_context(request),
        "title": "Service level objectives",
        "window_key": window_key,
        "windows": list(WINDOWS),
        "slos": slo_statuses(config=config, window=WINDOWS[window_key]),
        "config": config,
        "prediction_age": age,
        "fresh": age is not None and age <= config.slo_freshness_seconds,
    }
    return render(request, "monitoring/slo.html", context)
