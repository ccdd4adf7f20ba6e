from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The consumer counts nothing itself (predictions never imports monitoring): each
        # stored batch reaches the tick-to-prediction SLI through this signal.
        from monitoring import sli
        from predictions.signals import stream_batch_stored

        stream_batch_stored.connect(sli.stream_batch_receiver,
                                    dispatch_uid="monitoring.sli.stream_batch")
