"""The watchdog ends a `manage.py consume` that hangs for real (issue #19): its database is made
unreachable in a way that blocks — a TCP relay in front of PostgreSQL stops passing bytes but
keeps the connections open, so no timeout of ours fires (the server never sees the statement;
keepalives are answered by the relay). With no poll return, batch or lease renewal for the
grace period, the process dumps its stacks and exits 70; a new process then goes on."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from django.db import connection

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from predictions.models import StreamOffset
from predictions.stream.watchdog import EXIT_CODE
from tests.helpers import consumer_process, need, postgres_in_use, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GRACE_S = 4.0


class FreezingRelay:
    """A TCP relay to PostgreSQL that can stop passing bytes while holding every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():  # hold the bytes and the connection
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            pass
        finally:  # one side left: end the other, so no server session outlives its client
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self.listener.close()


def publish_ticks(topic: str, n: int) -> None:
    publisher = Publisher(topic)
    now = time.time()
    for i in range(n):
        tick = Tick("BTC-USD", now - 60 + i, 100.0 + i, 99.99 + i, 100.01 + i, 1.0, 1.0, 10.0)
        publisher.send("BTC-USD", json.dumps(advanced_trade_envelope(tick, sequence_num=i))
                       .encode())
    publisher.close()


def stored_total(topic: str) -> int:
    return sum(StreamOffset.objects.filter(topic=topic).values_list("next_offset", flat=True))


def test_a_consumer_whose_database_hangs_dumps_its_stacks_and_exits_for_a_restart(
        kafka, model_version, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the relay stands in front of PostgreSQL")
    db = connection.settings_dict
    relay = FreezingRelay(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    url = f"postgres://{db['USER']}@127.0.0.1:{relay.port}/{db['NAME']}"
    env = {"DATABASE_URL": url, "STREAM_WATCHDOG_GRACE_SECONDS": str(GRACE_S),
           "STREAM_LEASE_SECONDS": "3", "STREAM_WRITER_TIMEOUT_SECONDS": "2"}
    topic = kafka.KAFKA_TOPIC_TICKS
    publish_ticks(topic, 5)
    log = tmp_path / "consume.log"
    first = consumer_process(kafka, log, "--run-seconds", "5", **env)
    try:
        wait_until(lambda: stored_total(topic) == 5, timeout=60, what="the first rows")
        relay.frozen.set()
        frozen_at = time.monotonic()
        code = first.wait(timeout=60)
        ended_after = time.monotonic() - frozen_at
    finally:
        if first.poll() is None:
            first.kill()
    output = log.read_text()
    assert code == EXIT_CODE, output[-3000:]
    assert "made no progress" in output
    assert "Thread 0x" in output and "File " in output  # faulthandler's dump of every thread
    assert GRACE_S <= ended_after < GRACE_S + 30, ended_after

    relay.frozen.clear()  # the supervisor's restart: a new process goes on where it stopped
    publish_ticks(topic, 5)
    second = consumer_process(kafka, tmp_path / "consume2.log", "--run-seconds", "5", **env)
    try:
        wait_until(lambda: stored_total(topic) == 10, timeout=60, what="rows after the restart")
    finally:
        second.terminate()
        second.wait(timeout=20)
        relay.close()
