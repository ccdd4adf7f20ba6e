"""Celery tasks of the prediction app. Thin entry points: the stream chain (its runs are the
runner's: `predictions.stream.runner`), beat's supervision of the chains, and label maturing."""

from __future__ import annotations

import logging
import time
import uuid

from celery import shared_task
from celery.worker import state as worker_state
from django.conf import settings
from kombu.exceptions import OperationalError

from predictions.models import StreamLease
from predictions.stream.runner import RETRY_SECONDS, StreamRunner

log = logging.getLogger(__name__)

# A look at a lease's expiry comes this much after it, so it never finds the lease still live.
EXPIRY_MARGIN_S = 0.5


def worker_shutting_down() -> bool:
    """The worker was asked to shut down (warm shutdown): end the run early."""
    return worker_state.should_stop is not None or worker_state.should_terminate is not None


@shared_task(ignore_result=True)
def stream_consume(chain_id: str, slot: int = 0) -> None:
    """One bounded consumer run of a lease slot, then re-enqueue the next run of the chain.

    Steps (the runner's): claim the slot's lease (a chain that cannot — another holds it — ends
    quietly: the beat supervisor keeps exactly one chain per slot alive); run; report on the
    lease; re-enqueue (a second later after a failed run or while the database is away). A run
    that loses its lease mid-way ends the chain without writing anything more.

    While the Celery broker is away the next run cannot be enqueued: this task then runs it
    itself, still holding the lease, and tries again after it, so ticks keep turning into
    predictions through a broker restart (whose queues may come back empty).
    """
    runner = StreamRunner(chain_id, slot=slot, should_stop=worker_shutting_down)
    while True:
        claimed = runner.claim_unless_down()
        if claimed is False:
            log.info("consumer chain %s: lease %s held by another chain; ending", chain_id,
                     runner.name)
            return
        if claimed is None:  # the database is away (a restart): the chain tries again shortly
            delay = RETRY_SECONDS
        else:
            stats = runner.run_once()
            if stats is None:
                return  # the lease was lost: another chain goes on
            delay = runner.retry_delay(stats)
        # Wait here rather than with a countdown: a worker holds a countdown task in memory,
        # and drops it when its broker connection does (a Redis restart would end the chain).
        time.sleep(delay)
        if next_run_enqueued(chain_id, slot) or worker_shutting_down():
            return


def next_run_enqueued(chain_id: str, slot: int) -> bool:
    """Enqueue the chain's next run; False while the Celery broker cannot take it (after
    Celery's own publish retries)."""
    try:
        stream_consume.apply_async((chain_id, slot), queue="stream")
        return True
    except OperationalError as exc:
        log.warning("consumer chain %s: the Celery broker is unavailable (%s); running the "
                    "next run in this task", chain_id, exc)
        return False


@shared_task(ignore_result=True)
def stream_supervise(at_expiry: bool = False) -> str:
    """Beat: start a consumer chain for every lease slot that no chain holds a live lease on.

    Steps, per slot: a lease that has expired is claimed for a new chain, whose first run is
    enqueued; a lease that runs out before the next beat has a holder that stopped renewing
    it (a live one renews it every batch, and every third of STREAM_LEASE_SECONDS while idle),
    so the slots are looked at again the moment it expires (`at_expiry`; such a look schedules
    no further one, and takes a lease over only if it did expire). A crashed worker's
    partitions thus wait for its lease to run out, not for that and a beat interval.
    """
    started = []
    for slot in range(settings.STREAM_CONSUMER_SLOTS):
        name = StreamLease.name_for(slot)
        if not StreamLease.objects.is_stale(name):
            left = StreamLease.objects.seconds_left(name)
            if not at_expiry and left < settings.STREAM_SUPERVISE_SECONDS:
                log.info("lease %s runs out in %.1f s unrenewed; looking again then", name, left)
                stream_supervise.apply_async((True,), countdown=left + EXPIRY_MARGIN_S)
            continue
        chain_id = uuid.uuid4().hex
        # Claim for the new chain now, so the next beat does not start a second one while
        # this chain's first task waits in the queue.
        if StreamLease.objects.claim(chain_id, name=name):
            stream_consume.apply_async((chain_id, slot), queue="stream")
            started.append(f"{slot}:{chain_id}")
            log.info("started consumer chain %s for slot %d", chain_id, slot)
    return f"started chain {', '.join(started)}" if started else "consumer alive"


@shared_task(ignore_result=True)
def labels_mature() -> int:
    """Beat: attach realized labels to predictions whose horizon has passed."""
    from predictions.services import prediction_labels_mature

    return prediction_labels_mature()


@shared_task(ignore_result=False)
def backtest_run(version_id: int, since: str, until: str, product: str | None = None,
                 actor_id: int | None = None) -> int:
    """Admin: backtest a version on the served stream's window (default queue) and store the
    `Backtest` row, refused or not. Returns its id."""
    from celery.exceptions import SoftTimeLimitExceeded
    from django.contrib.auth import get_user_model
    from django.utils.dateparse import parse_datetime

    from predictions.models import ModelVersion
    from predictions.services.backtest import Window, backtest_create, backtest_refuse

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    window = Window(since=parse_datetime(since), until=parse_datetime(until), product=product)
    version = ModelVersion.objects.get(pk=version_id)
    try:
        backtest = backtest_create(version=version, window=window, actor=actor,
                                   actor_name=str(actor or "admin"))
    except SoftTimeLimitExceeded:  # the operator sees why on the version's page
        backtest = backtest_refuse(
            version=version, window=window, actor=actor, actor_name=str(actor or "admin"),
            error=f"it took longer than CELERY_TASK_SOFT_TIME_LIMIT "
                  f"({settings.CELERY_TASK_SOFT_TIME_LIMIT} s); run manage.py backtest instead")
    return backtest.pk
