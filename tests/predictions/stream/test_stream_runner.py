"""The runner both entry points share (the Celery chain, `manage.py consume`): a run is
reported on the lease it holds, a failed run is reported and retried after a second, a run
that lost its lease stops its caller, and the foreground loop releases the lease at the end."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from predictions.core.ticks import format_timestamp
from predictions.models import Prediction, StreamLease
from predictions.stream.runner import RETRY_SECONDS, StreamRunner

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 60


def produce(settings) -> None:
    settings.STREAM_RUN_MAX_MESSAGES = N
    call_command("ingest", source="simulate", speed="max", max_messages=N, seed=5,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(1_700_000_000.0),
                 topic=settings.KAFKA_TOPIC_TICKS, verbosity=0)


@pytest.fixture
def ticks(kafka, model_version):
    produce(kafka)
    return kafka


def test_a_run_is_reported_on_the_lease_it_holds(ticks):
    runner = StreamRunner("chain-a", run_seconds=20)
    assert runner.claim()
    stats = runner.run_once()

    lease = StreamLease.objects.get(name="ticks")
    assert (lease.holder, lease.last_run_messages, lease.last_error) == ("chain-a", N, "")
    assert stats.messages == N and runner.retry_delay(stats) == 0
    assert Prediction.objects.count() == N


def test_a_failed_run_is_reported_on_the_lease_and_retried_after_a_second(kafka):
    produce(kafka)  # and no model version promoted: the first batch fails
    runner = StreamRunner("chain-a", run_seconds=20)
    assert runner.claim()
    stats = runner.run_once()

    assert stats.errors and stats.errors[0].startswith("NoModelVersion")
    assert StreamLease.objects.get(name="ticks").last_error.startswith("NoModelVersion")
    assert runner.retry_delay(stats) == RETRY_SECONDS
    assert not Prediction.objects.exists()


def test_a_run_that_lost_its_lease_stops_its_caller(ticks):
    runner = StreamRunner("chain-a", run_seconds=20)
    assert runner.claim()
    StreamLease.objects.update(holder="chain-b")  # taken over before the run writes

    assert runner.run_once() is None
    lease = StreamLease.objects.get(name="ticks")
    assert (lease.holder, lease.last_run_at) == ("chain-b", None)  # not reported as ours
    assert not Prediction.objects.exists()


def test_the_foreground_loop_runs_and_releases_the_lease_at_the_end(ticks):
    said: list[str] = []
    StreamRunner("cli-1", run_seconds=20, say=said.append).serve(runs=1)

    lease = StreamLease.objects.get(name="ticks")
    assert (lease.holder, lease.expires_at, lease.last_run_messages) == ("", None, N)
    assert said == [f"run: {N} messages, {N} scored, 0 dead-lettered, 0 skipped, "
                    "0 replayed for warm-up"]
