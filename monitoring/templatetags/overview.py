"""`{% operations_overview %}`: the operations overview at the top of the admin index."""

from __future__ import annotations

from datetime import UTC, datetime

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


@register.filter
def percent(share, digits: int = 1) -> str:
    """A share in [0, 1] as "73.3 %" (not 0.7333333333333333); a dash when missing."""
    try:
        return f"{float(share) * 100:.{int(digits)}f} %"
    except (TypeError, ValueError):
        return "—"


@register.filter
def when(iso: str | None) -> str:
    """An ISO-8601 time of the overview's data to the second, in UTC ("2026-12-07 16:14:42");
    the page states the zone once."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
