"""Celery tasks of the prediction app. Thin: claim, call the service, report."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from celery.worker import state as worker_state
from django.conf import settings

from monitoring import metrics
from predictions import stream

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def stream_consume(chain_id: str) -> None:
    """One bounded consumer run, then re-enqueue the next run of the same chain.

    A chain that cannot claim the lease (another chain holds it) ends quietly: the beat
    supervisor makes sure exactly one chain is alive.
    """
    lease_seconds = settings.STREAM_RUN_SECONDS + 30
    if not stream.lease_claim(chain_id, seconds=lease_seconds):
        log.info("consumer chain %s: lease held by another chain; ending", chain_id)
        return
    stats = stream.RunStats()
    try:
        # End the run early when the worker is asked to shut down (warm shutdown).
        stats = stream.consume_run(should_stop=lambda: worker_state.should_stop is not None
                                   or worker_state.should_terminate is not None)
    except Exception as exc:  # report, then let the chain continue: the next run retries
        metrics.CONSUMER_ERRORS.labels(kind=type(exc).__name__).inc()
        stats.errors.append(f"{type(exc).__name__}: {exc}")
        log.exception("consumer run failed")
    finally:
        stream.lease_report(chain_id, stats)
    stream_consume.apply_async((chain_id,), queue="stream", countdown=1 if stats.errors else 0)


@shared_task(ignore_result=True)
def stream_supervise() -> str:
    """Beat: start a consumer chain when none holds a live lease."""
    if not stream.lease_is_stale():
        return "consumer alive"
    chain_id = uuid.uuid4().hex
    stream_consume.apply_async((chain_id,), queue="stream")
    log.info("started consumer chain %s", chain_id)
    return f"started chain {chain_id}"
