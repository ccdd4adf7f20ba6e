from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Predictions"

    def ready(self) -> None:
        checks.register(check_throttle_rates)


def check_throttle_rates(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A mistyped API_THROTTLE_* value fails at start-up, not as a 500 per request."""
    from django.conf import settings

    from predictions.api.throttling import parse_rate

    errors = []
    for scope, rate in settings.API_THROTTLE_RATES.items():
        try:
            parse_rate(rate)
        except ValueError as exc:
            errors.append(checks.Error(str(exc), hint="use e.g. 600/minute, 10/second or off",
                                       obj=f"API_THROTTLE_RATES[{scope!r}]",
                                       id="predictions.E001"))
    return errors
