"""The ingest publisher delivers every message it accepted, across a broker restart.

kafka-python's `send` only queues; after a broker restart the idempotent producer fails for
good and aborts what it had queued. The publisher must notice the failed futures and send those
messages again with a new producer, in order, instead of losing them silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from predictions.messaging.kafka import ensure_topics
from predictions.messaging.publisher import Publisher, PublishError
from tests.helpers import (
    broker_stopped,
    read_topic,
    start_broker,
    stop_broker,
    use_fresh_topics,
)

pytestmark = pytest.mark.integration

KEYS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def messages(start: int, n: int) -> list[tuple[str, bytes]]:
    return [(KEYS[i % 3], b'{"n":%d}' % i) for i in range(start, start + n)]


@pytest.mark.parametrize("round_", range(3))  # the race is timing-dependent: try it a few times
def test_messages_sent_right_after_a_broker_restart_all_arrive_in_order(
        kafka, broker_address, round_):
    topic = kafka.KAFKA_TOPIC_TICKS
    publisher = Publisher(topic)
    for key, value in messages(0, 30):
        publisher.send(key, value)
    publisher.flush(timeout=10)

    with broker_stopped(broker_address):
        pass  # memory storage: the broker comes back empty, and the producer's id is unknown
    ensure_topics()
    after = messages(30, 300)
    for key, value in after:  # at once, as a live feed would: they queue in the old producer
        publisher.send(key, value)
    publisher.close()

    assert publisher.pending == type(publisher.pending)()
    records = read_topic(topic, len(after))
    got = [r.value for r in records]
    assert set(got) == {value for _, value in after}, "messages were lost"
    for key in KEYS:  # per key (one partition each) the order is the order sent
        sent = [value for k, value in after if k == key]
        arrived = [r.value for r in records if r.key == key.encode()]
        deduplicated = [v for i, v in enumerate(arrived) if v not in arrived[:i]]
        assert deduplicated == sent


# Timeouts shrunk so that a few seconds of outage outlast every one of them: a batch expires
# after 2 s, a new producer gives up bootstrapping after 1 s, a send waits 1 s for metadata.
SHORT_TIMEOUTS = {"delivery_timeout_ms": 2000, "request_timeout_ms": 1000,
                  "bootstrap_timeout_ms": 1000, "max_block_ms": 1000}


@pytest.fixture
def own_broker(settings, tmp_path):
    """A broker of this test's own (it stays down for a while), with the ticks topic."""
    broker = start_broker(tmp_path / "tansu.log")
    use_fresh_topics(settings, broker["address"])
    yield broker
    stop_broker(broker)


def in_background(work: Callable[[], None]) -> dict:
    """Run `work` on a thread; the dict gets the thread and the error it raised."""
    outcome: dict = {"error": None}

    def run() -> None:
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc

    outcome["thread"] = threading.Thread(target=run, daemon=True)
    outcome["thread"].start()
    return outcome


def send_in_background(publisher: Publisher, batch: list[tuple[str, bytes]]) -> dict:
    """Send `batch` a message every 20 ms on a thread (see in_background)."""
    def run() -> None:
        for key, value in batch:
            publisher.send(key, value)
            time.sleep(0.02)

    return in_background(run)


def confirm_one(publisher: Publisher) -> None:
    """Have a first message confirmed, so the producer has its producer id: until it has one,
    kafka-python 3 fails no batch, whatever its timeouts (a broker stopped right after the
    producer was created, which a loaded machine makes likely, would meet that producer)."""
    publisher.send(KEYS[0], b'{"n":-1}')
    publisher.flush(timeout=10)


def kafka_producer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-python-producer")}


def test_a_feed_publisher_waits_out_an_outage_longer_than_every_kafka_timeout(
        settings, own_broker):
    """`ingest` publishes with keep_trying: an 8 s outage (4× the batch expiry, 8× the
    bootstrap timeout) pauses it, and every message sent meanwhile arrives once it is back.
    Without keep_trying the first failed reconnection raised and the feed process died."""
    topic = settings.KAFKA_TOPIC_TICKS
    given_up = threading.Event()  # set on leaving, so a failed test leaves no thread retrying
    publisher = Publisher(topic, keep_trying=lambda: not given_up.is_set(), **SHORT_TIMEOUTS)
    confirm_one(publisher)  # its batches do expire: the outage makes it reconnect
    batch = messages(0, 200)
    try:
        with broker_stopped(own_broker):
            sending = send_in_background(publisher, batch)
            time.sleep(8)
            assert sending["thread"].is_alive() and sending["error"] is None, sending["error"]
        ensure_topics([topic])  # memory storage: the broker came back empty
        sending["thread"].join(timeout=60)
        assert not sending["thread"].is_alive() and sending["error"] is None, sending["error"]
        publisher.close()
    finally:
        given_up.set()
    arrived = {r.value for r in read_topic(topic, len(batch))}
    assert arrived == {value for _, value in batch}, "messages were lost"


@pytest.mark.parametrize(("timeouts", "confirmed_first"),
                         [(SHORT_TIMEOUTS, True), ({}, False)],
                         ids=["reconnecting", "messages-held"])
def test_a_feed_publisher_asked_to_stop_during_an_outage_gives_up_with_a_clear_error(
        settings, own_broker, timeouts, confirmed_first):
    """The sending thread and the close that follows (as in `ingest`) both end with the error,
    and the close leaves no producer thread behind.

    reconnecting: kafka-python fails the batches after 2 s; the stop is seen between attempts to
    reconnect. messages-held: with the product's timeouts kafka-python holds them for 120 s (and
    for good if the producer has no producer id yet): only the publisher's own check sees it."""
    topic = settings.KAFKA_TOPIC_TICKS
    stop = threading.Event()
    threads_before = kafka_producer_threads()
    publisher = Publisher(topic, keep_trying=lambda: not stop.is_set(), **timeouts)
    if confirmed_first:
        confirm_one(publisher)
    with broker_stopped(own_broker):
        # More than it can send in the test, so the stop finds it still sending.
        sending = send_in_background(publisher, messages(0, 100_000))
        time.sleep(4)  # the outage before the stop; whatever was done by then, the stop ends it
        stop.set()
        sending["thread"].join(timeout=30)
        assert not sending["thread"].is_alive()
        closing = in_background(publisher.close)
        closing["thread"].join(timeout=30)
        assert not closing["thread"].is_alive()
    for outcome in (sending, closing):
        assert isinstance(outcome["error"], PublishError), outcome["error"]
        assert "stopped while the broker was unreachable" in str(outcome["error"])
    assert kafka_producer_threads() <= threads_before, "a producer was left running"
