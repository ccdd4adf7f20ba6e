"""Issue #19, item 3, as an operator met it: the simulator feed (`manage.py ingest`) and
`manage.py consume` run against a Tansu and a PostgreSQL of the test's own. The broker is
restarted with an empty log (memory storage), then PostgreSQL is restarted. Within 30 s of
each fault predictions flow again by themselves, with `manage.py consume` and with the
production path (the Celery stream worker, the default worker and beat); at the end every
message the broker holds is exactly one prediction position of the new log epoch, and no
position is stored twice.
`pytest -s` prints the recovery times and row counts."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from predictions.management.stack import (
    Stack,
    beat_argv,
    build_env,
    default_worker_argv,
    stream_worker_argv,
)
from predictions.messaging.kafka import ensure_topics
from tests.helpers import (
    ROOT,
    PrivateRedis,
    broker_stopped,
    child_env,
    need,
    postgres_in_use,
    private_postgres_with_model,
    redis_available,
    start_broker,
    stop_broker,
    topic_records,
    use_fresh_topics,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECOVERY_BOUND_S = 30.0
PRODUCTS = "BTC-USD,ETH-USD,SOL-USD"


@pytest.fixture
def servers(settings, model_version, tmp_path):
    """This test's Tansu (fresh topics, wired into settings) and PostgreSQL (migrated, with the
    test database's model)."""
    need("PostgreSQL", postgres_in_use(), "the model is copied from the test database")
    broker = start_broker(tmp_path / "tansu.log")
    use_fresh_topics(settings, broker["address"])
    postgres = private_postgres_with_model(settings, tmp_path)
    try:
        yield broker, postgres
    finally:
        postgres.remove()
        stop_broker(broker)


def scalar(postgres, sql: str):
    try:
        return postgres.query(sql)[0][0]
    except Exception:  # noqa: BLE001 - the server is restarting
        return None


def first_prediction_after(postgres, since: float, epoch: int) -> float:
    """Seconds from `since` to the first prediction of log epoch `epoch` written after it."""
    delay = wait_until(lambda: scalar(
        postgres, f"SELECT extract(epoch FROM min(created_at)) - {since} FROM "
                  f"predictions_prediction WHERE created_at > to_timestamp({since}) "
                  f"AND log_epoch = {epoch}"),
        timeout=RECOVERY_BOUND_S + 60, what=f"a prediction of epoch {epoch} after {since}")
    return round(float(delay), 1)


def faults_then_checks(settings, broker, postgres, stack: Stack, stream: str) -> None:
    """The sequence on a running feed and stream process `stream` (a name in `stack`): wait
    for predictions; restart the broker empty; restart PostgreSQL 10 s later; stop the feed;
    check recovery times, every held message once, nothing twice."""
    topic, partitions = settings.KAFKA_TOPIC_TICKS, settings.KAFKA_TOPIC_PARTITIONS
    feed = next(p for p in stack.procs if p.name == "ingest")
    first_prediction_after(postgres, time.time(), 0)  # flowing
    time.sleep(5)

    with broker_stopped(broker):  # comes back empty: the log is lost
        time.sleep(2)
    ensure_topics()  # as an operator (or ingest's restart) re-creates them
    broker_back = time.time()
    after_broker = first_prediction_after(postgres, broker_back, 1)
    time.sleep(10)

    postgres.stop()
    time.sleep(5)
    postgres.start()
    postgres_back = time.time()
    after_postgres = first_prediction_after(postgres, postgres_back, 1)

    feed.popen.send_signal(signal.SIGTERM)
    assert feed.popen.wait(timeout=60) == 0, feed.log.read_text(errors="replace")[-2000:]
    log = topic_records(topic, partitions)
    ends = {p: len(records) for p, records in log.items() if records}
    wait_until(lambda: dict(postgres.query(
        "SELECT partition, next_offset FROM predictions_streamoffset "
        f"WHERE topic = '{topic}' AND epoch = 1")) == ends,
        timeout=120, what=f"stored offsets at the log's ends {ends}")
    dead = {p.name: p.popen.poll() for p in stack.procs
            if p.name != "ingest" and p.popen.poll() is not None}
    assert not dead, f"processes ended: {dead}; logs under {stack.runtime / 'logs'}"

    held = {(p, r.offset) for p, records in log.items() for r in records}
    stored = set(postgres.query('SELECT DISTINCT "partition", "offset" FROM '
                                f"predictions_prediction WHERE topic = '{topic}' "
                                "AND log_epoch = 1"))
    rows, distinct = postgres.query(
        'SELECT count(*), count(DISTINCT ("partition", log_epoch, "offset", tick_index)) '
        "FROM predictions_prediction")[0]
    before = scalar(postgres, "SELECT count(*) FROM predictions_prediction WHERE log_epoch = 0")
    resets = postgres.query("SELECT partition, reason, stored_offset, log_start, log_end, "
                            "reset_to FROM predictions_streamoffsetreset ORDER BY partition")
    print(f"\n[log loss, {stream}] first prediction {after_broker} s after the broker came back "
          f"empty, {after_postgres} s after PostgreSQL came back; rows: {before} of the lost "
          f"log, {rows - before} of the new one; the broker holds {len(held)} messages; "
          f"resets (partition, reason, stored, log start, log end, reset to): {resets}")
    assert after_broker < RECOVERY_BOUND_S and after_postgres < RECOVERY_BOUND_S
    assert stored == held  # nothing the broker holds is lost
    assert rows == distinct  # nothing twice
    assert {r[1] for r in resets} == {"ahead_of_log_end"} and len(resets) == len(ends)


def feed_argv() -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), "ingest", "--source", "simulate",
            "--speed", "4", "--products", PRODUCTS, "--seed", "19"]


def test_consume_recovers_from_a_broker_that_lost_its_log_then_a_postgresql_restart(
        settings, servers, tmp_path):
    broker, postgres = servers
    stack = Stack(tmp_path, build_env(tmp_path, child_env(
        settings, PYTHONPATH=str(ROOT), DATABASE_URL=postgres.url, STREAM_LEASE_SECONDS="5",
        STREAM_WATCHDOG_GRACE_SECONDS="60")))
    try:
        stack.start("ingest", feed_argv())
        stack.start("consume", [sys.executable, str(ROOT / "manage.py"), "consume",
                                "--run-seconds", "5"])
        faults_then_checks(settings, broker, postgres, stack, "consume")
    finally:
        stack.stop()


def test_the_celery_stream_worker_recovers_from_the_same_faults(settings, servers, tmp_path):
    """The production path: the Celery stream worker runs the chain beat's stream-supervise
    starts, beside the default worker."""
    need("redis-server", redis_available(), "the Celery path needs a Redis")
    broker, postgres = servers
    redis = PrivateRedis(tmp_path)
    redis.start()
    stack = Stack(tmp_path, build_env(tmp_path, child_env(
        settings, PYTHONPATH=str(ROOT), DATABASE_URL=postgres.url, CELERY_BROKER_URL=redis.url,
        STREAM_RUN_SECONDS="5", STREAM_LEASE_SECONDS="5", STREAM_WATCHDOG_GRACE_SECONDS="60")))
    try:
        stack.start("ingest", feed_argv())
        stack.start("stream-worker", stream_worker_argv(sys.executable))
        stack.start("worker", default_worker_argv(sys.executable))
        stack.start("beat", beat_argv(sys.executable, tmp_path))
        faults_then_checks(settings, broker, postgres, stack, "celery")
    finally:
        stack.stop()
        redis.stop()
