"""`{% auto_rollback_status %}`: the auto-rollback policy and its latest rollback, for any page
(the SLO page includes it). A tag, so a page shows it without its view changing."""

from __future__ import annotations

from django import template

from monitoring.rollback import auto_rollback_latest
from predictions.models import ServiceConfig
from predictions.selectors import config_manual_rollback_latest

register = template.Library()


@register.inclusion_tag("monitoring/auto_rollback.html")
def auto_rollback_status() -> dict:
    return {"enabled": ServiceConfig.load().auto_rollback_enabled,
            "latest": auto_rollback_latest(), "manual": config_manual_rollback_latest()}
