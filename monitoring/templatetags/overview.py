"""`{% operations_overview %}`: the operations overview at the top of the admin index."""

from __future__ import annotations

from django import template

from monitoring.overview import overview_data
from monitoring.overview_views import overview_charts

register = template.Library()


@register.inclusion_tag("monitoring/overview.html")
def operations_overview() -> dict:
    data = overview_data()
    return {"o": data, "charts": overview_charts(data["series"])}


@register.filter
def get(mapping: dict, key: str):
    """mapping[key] in a template (keys such as "1h" are not attribute names)."""
    return mapping.get(key) if hasattr(mapping, "get") else None
