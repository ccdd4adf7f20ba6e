"""Who may read /metrics: a scraper with the bearer token (METRICS_TOKEN) or a client in an
allowed network (METRICS_ALLOWED_NETWORKS, loopback by default). Anyone else gets a 403
before any of the scrape's database queries run."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache, wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from predictions.api.authentication import has_metrics_token


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net.strip(), strict=False) for net in spec if net.strip())


def from_allowed_network(request: HttpRequest) -> bool:
    """The peer address (REMOTE_ADDR, never a forwarded header) is in an allowed network."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def metrics_allowed(request: HttpRequest) -> bool:
    return has_metrics_token(request) or from_allowed_network(request)


def metrics_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorator: the view answers only a request `metrics_allowed` lets through."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not metrics_allowed(request):
            response = HttpResponse("forbidden: send the metrics bearer token or scrape from "
                                    "an allowed network\n", status=403, content_type="text/plain")
            response["WWW-Authenticate"] = "Bearer"
            return response
        return view(request, *args, **kwargs)

    return guarded
