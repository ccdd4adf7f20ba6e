"""`manage.py consume` survives a restart of PostgreSQL by itself: against a server this test
starts (initdb on a spare port), stopped and started twice mid-stream, every tick still ends
up as exactly one row, within 30 s of the server coming back each time."""

from __future__ import annotations

import json
import time

import pytest

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from tests.helpers import (
    PrivatePostgres,
    consumer_process,
    need,
    postgres_in_use,
    private_postgres_with_model,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PER_ROUND = 200


@pytest.fixture
def private_postgres(tmp_path, settings, model_version):
    """A migrated server of this test's own, holding the promoted model of the test DB."""
    server = private_postgres_with_model(settings, tmp_path)
    yield server
    server.remove()


def publish_round(topic: str, start: float, n: int) -> None:
    publisher = Publisher(topic)
    for i in range(n):
        price = 100.0 + (i % 7) * 0.01
        tick = Tick("BTC-USD", start + i * 0.5, price, price - 0.01, price + 0.01, 1.0, 1.0, 10.0)
        publisher.send("BTC-USD", json.dumps(advanced_trade_envelope(tick, sequence_num=i))
                       .encode())
    publisher.close()


def rows(server: PrivatePostgres) -> int:
    try:
        return server.query("SELECT count(*) FROM predictions_prediction")[0][0]
    except Exception:  # noqa: BLE001 - the server is restarting
        return -1


def test_consume_survives_postgresql_restarts_and_writes_every_tick_once(
        kafka, settings, private_postgres, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the model is copied from the test database")
    topic, start = kafka.KAFKA_TOPIC_TICKS, time.time() - 900
    log_path = tmp_path / "consume.log"
    publish_round(topic, start, PER_ROUND)
    proc = consumer_process(settings, log_path, "--run-seconds", "5",
                            DATABASE_URL=private_postgres.url, STREAM_LEASE_SECONDS="3",
                            STREAM_POLL_MAX_RECORDS="20")
    recoveries = []
    try:
        wait_until(lambda: rows(private_postgres) == PER_ROUND, timeout=120, what="first rows")
        for restart in (1, 2):
            private_postgres.stop()
            publish_round(topic, start + restart * PER_ROUND, PER_ROUND)  # sent while it is down
            time.sleep(3)  # the consumer meets the outage
            private_postgres.start()
            back = time.monotonic()
            wanted = (restart + 1) * PER_ROUND
            wait_until(lambda w=wanted: rows(private_postgres) == w, timeout=30,
                       what=f"all rows within 30 s of restart {restart}")
            recoveries.append(round(time.monotonic() - back, 1))
            assert proc.poll() is None, log_path.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"recovery after each PostgreSQL restart: {recoveries} s")
    distinct = private_postgres.query(
        'SELECT count(DISTINCT (topic, "partition", "offset", tick_index)) '
        "FROM predictions_prediction")[0][0]
    assert distinct == rows(private_postgres) == 3 * PER_ROUND
    stored = private_postgres.query("SELECT sum(next_offset) FROM predictions_streamoffset")[0][0]
    assert stored == 3 * PER_ROUND
