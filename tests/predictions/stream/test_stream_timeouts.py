"""Every wait of the stream is bounded: the writer thread's hand-over and join, the lease
bookkeeping when PostgreSQL is away, and a watchdog for the run as a whole."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from django.db import OperationalError

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from predictions.models import StreamLease
from predictions.stream import runner as runner_module
from predictions.stream import writer as writer_module
from predictions.stream.consumer import consume_run
from predictions.stream.runner import StreamRunner
from predictions.stream.watchdog import EXIT_CODE
from tests.helpers import ROOT, child_env, need, postgres_in_use

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def publish_ticks(topic: str, n: int) -> None:
    publisher = Publisher(topic)
    now = time.time()
    for i in range(n):
        tick = Tick("BTC-USD", now - 60 + i, 100.0 + i, 99.99 + i, 100.01 + i, 1.0, 1.0, 10.0)
        publisher.send("BTC-USD", json.dumps(advanced_trade_envelope(tick, sequence_num=i))
                       .encode())
    publisher.close()


def test_a_hung_writer_fails_the_run_within_the_writer_timeout(kafka, model_version, settings,
                                                               monkeypatch):
    need("PostgreSQL", postgres_in_use(), "the writer thread runs on PostgreSQL only")
    settings.STREAM_WRITER_TIMEOUT_SECONDS = 1.0
    settings.STREAM_POLL_MAX_RECORDS = 1
    release = threading.Event()
    monkeypatch.setattr(writer_module, "write_now", lambda commit, stats: release.wait(60))
    publish_ticks(kafka.KAFKA_TOPIC_TICKS, 5)
    started = time.monotonic()
    try:
        with pytest.raises(writer_module.WriterStuck):
            consume_run(max_seconds=30, max_messages=5)
    finally:
        release.set()
    assert time.monotonic() - started < 25  # bounded: not the run's 30 s, not forever


def test_the_loop_survives_lease_bookkeeping_on_a_closed_connection(db, monkeypatch):
    calls = {"claim": 0}
    closed = OperationalError("the connection is closed")

    def claim(self):
        calls["claim"] += 1
        if calls["claim"] == 1:
            raise closed
        return True

    def failing_run(**kwargs):
        raise closed

    def refuse(*args, **kwargs):
        raise closed

    monkeypatch.setattr(StreamRunner, "claim", claim)
    monkeypatch.setattr(runner_module, "consume_run", failing_run)
    monkeypatch.setattr(runner_module, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(StreamLease.objects, "report", refuse)
    monkeypatch.setattr(StreamLease.objects, "release", refuse)

    StreamRunner("cli-test", run_seconds=1).serve(runs=2)  # returns: nothing raised out

    assert calls["claim"] == 3  # the failed claim was retried, then two runs


def test_the_watchdog_ends_a_stuck_stream_run_with_its_exit_code(kafka, model_version, settings,
                                                                  tmp_path):
    need("PostgreSQL", postgres_in_use(), "the child process needs a shared database")
    publish_ticks(kafka.KAFKA_TOPIC_TICKS, 3)
    script = textwrap.dedent("""
        import os, threading, django
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volsite.settings")
        django.setup()
        from predictions.stream import writer
        from predictions.stream.runner import StreamRunner
        forever = threading.Event()
        writer.write_now = lambda commit, stats: forever.wait()  # a call no timeout reaches
        writer.BatchCommit.write = lambda self: forever.wait()
        StreamRunner("stuck", run_seconds=1).run_once()
        print("the stuck run returned")
    """)
    env = child_env(settings, STREAM_WATCHDOG_GRACE_SECONDS="3",
                    STREAM_WRITER_TIMEOUT_SECONDS="600", STREAM_PIPELINE_WRITES="false")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_CODE, result.stdout + result.stderr[-2000:]
    assert "made no progress" in result.stderr
