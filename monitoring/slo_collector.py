"""Scrape-time gauges of the SLO objectives, read from the shared configuration: each SLO's
target and threshold, so the generated Prometheus rules (monitoring/rules.py) compute burn
rates against the targets set in the admin, with nothing to edit in rules.yml."""

from __future__ import annotations

from monitoring import metrics
from monitoring.slo import SLOS


class SloCollector:
    """`volatility_slo_target{slo}` and `volatility_slo_threshold_seconds{slo}`; nothing when
    the configuration cannot be read (DatabaseCollector reports the outage)."""

    def collect(self):
        from django.db import DatabaseError
        from prometheus_client.core import GaugeMetricFamily

        from predictions.config import current_config

        try:
            config = current_config()
        except DatabaseError:
            return
        targets = GaugeMetricFamily(*metrics.SLO_TARGET, labels=["slo"])
        thresholds = GaugeMetricFamily(*metrics.SLO_THRESHOLD, labels=["slo"])
        for definition in SLOS:
            targets.add_metric([definition.key], definition.target(config))
            seconds = definition.threshold_seconds(config)
            if seconds is not None:
                thresholds.add_metric([definition.key], seconds)
        yield targets
        yield thresholds
