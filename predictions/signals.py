"""Signals other apps listen to, so that predictions never imports them (import contracts).

`stream_batch_stored` is sent once per consumer batch committed to the database, with the
seconds from each tick's exchange time to its stored row; monitoring counts the
tick-to-prediction SLI from it (monitoring/apps.py connects the receiver).
"""

from __future__ import annotations

from django.dispatch import Signal

stream_batch_stored = Signal()  # kwargs: latencies_s (list[float])
