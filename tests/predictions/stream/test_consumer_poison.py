"""Poison ticks never stop a partition: each message becomes a row or a dead letter, and the
stored offset reaches the end — whatever the message, and wherever it fails."""

from __future__ import annotations

import json
import time

import pytest
from django.db import DataError

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from predictions.models import Prediction, StreamOffset
from predictions.stream import consumer as consumer_module
from predictions.stream import writer as writer_module
from predictions.stream.consumer import consume_run
from tests.helpers import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def envelope(ts: float, price: float = 100.0, **over) -> bytes:
    tick = Tick("BTC-USD", ts, price, price - 0.01, price + 0.01, 1.0, 1.0, 10.0, None)
    env = advanced_trade_envelope(tick, sequence_num=1)
    env["events"][0]["tickers"][0].update(over)
    if "timestamp" in over:
        env["timestamp"] = over.pop("timestamp")
        env["events"][0]["tickers"][0].pop("timestamp")
    return json.dumps(env).encode()


def publish(topic: str, values: list[bytes]) -> None:
    publisher = Publisher(topic)
    for value in values:
        publisher.send("BTC-USD", value)
    publisher.close()


def stored_total(topic: str) -> int:
    return sum(StreamOffset.objects.filter(topic=topic).values_list("next_offset", flat=True))


def run_until_stored(topic: str, n: int, runs: int = 12) -> None:
    """Runs as the chain would (a failed run is retried), until every offset is stored."""
    for _ in range(runs):
        if stored_total(topic) >= n:
            return
        try:
            consume_run(topic=topic, max_seconds=5, max_messages=n)
        except Exception:  # noqa: BLE001 - the runner reports and retries a failed run
            continue
    assert stored_total(topic) >= n


def test_the_ticks_of_the_issue_are_dead_lettered_and_later_ticks_still_score(kafka, model_version):
    now = time.time()
    poison = [
        envelope(now - 50, timestamp=(now - 50) * 1000),  # epoch ms read as seconds
        envelope(now - 49, price=5e-324, best_bid="", best_ask=""),
        envelope(now - 48, timestamp=1e300),
        envelope(now + 5 * 365 * 86400),  # five years ahead
    ]
    good = [envelope(now - 40 + i, price=100.0 + i * 0.01) for i in range(5)]
    publish(kafka.KAFKA_TOPIC_TICKS, good[:1] + poison + good[1:])

    run_until_stored(kafka.KAFKA_TOPIC_TICKS, len(good) + len(poison), runs=1)

    assert Prediction.objects.count() == len(good)  # the far-future tick blocked nothing
    letters = read_topic(kafka.KAFKA_TOPIC_DLQ, len(poison))
    assert [r.value for r in letters] == poison
    assert all("outside" in dict(r.headers)["error"].decode() for r in letters)


def test_any_exception_while_parsing_one_record_dead_letters_it_and_the_batch_goes_on(
        kafka, model_version, monkeypatch):
    from predictions.stream import batches

    real = batches.parse_message

    def flaky(raw):
        if b"666.66" in raw:
            raise ZeroDivisionError("a parser bug")
        return real(raw)

    monkeypatch.setattr(batches, "parse_message", flaky)
    now = time.time()
    values = [envelope(now - 30 + i, price=p) for i, p in enumerate([100.0, 666.66, 100.1])]
    publish(kafka.KAFKA_TOPIC_TICKS, values)

    stats = consume_run(topic=kafka.KAFKA_TOPIC_TICKS, max_seconds=5, max_messages=3)

    assert (stats.scored, stats.dead_lettered) == (2, 1)
    [letter] = read_topic(kafka.KAFKA_TOPIC_DLQ, 1)
    assert "ZeroDivisionError: a parser bug" in dict(letter.headers)["error"].decode()


def poisoned_offset(records_or_batch, offset: int) -> bool:
    return offset in records_or_batch.ticks.offsets


def test_a_batch_failing_in_scoring_is_isolated_by_the_breaker_and_the_bad_record_dead_lettered(
        kafka, model_version, monkeypatch, settings):
    settings.STREAM_BREAKER_FAILURES = 2
    real = consumer_module.score_batch

    def failing(tp, ticks, serving, names):
        if 3 in ticks.offsets:
            raise ValueError("the model cannot score this")
        return real(tp, ticks, serving, names)

    monkeypatch.setattr(consumer_module, "score_batch", failing)
    now = time.time()
    publish(kafka.KAFKA_TOPIC_TICKS, [envelope(now - 30 + i, 100.0 + i) for i in range(8)])

    run_until_stored(kafka.KAFKA_TOPIC_TICKS, 8)

    assert sorted(Prediction.objects.values_list("offset", flat=True)) == [0, 1, 2, 4, 5, 6, 7]
    [letter] = read_topic(kafka.KAFKA_TOPIC_DLQ, 1)
    assert letter.offset == 0 and dict(letter.headers)["source_offset"] == b"3"
    assert "the model cannot score this" in dict(letter.headers)["error"].decode()


def test_a_record_the_database_refuses_again_and_again_is_skipped_by_the_breaker(
        kafka, model_version, monkeypatch, settings):
    settings.STREAM_BREAKER_FAILURES = 2
    real = writer_module.write_predictions

    def refusing(batch, payload=None):
        if 5 in batch.ticks.offsets:
            raise DataError("value out of range")
        return real(batch, payload)

    monkeypatch.setattr(writer_module, "write_predictions", refusing)
    now = time.time()
    publish(kafka.KAFKA_TOPIC_TICKS, [envelope(now - 30 + i, 100.0 + i) for i in range(8)])

    run_until_stored(kafka.KAFKA_TOPIC_TICKS, 8)

    assert sorted(Prediction.objects.values_list("offset", flat=True)) == [0, 1, 2, 3, 4, 6, 7]
    [letter] = read_topic(kafka.KAFKA_TOPIC_DLQ, 1)
    assert dict(letter.headers)["source_offset"] == b"5"
    assert "poison breaker" in dict(letter.headers)["error"].decode()


def test_an_outage_never_trips_the_breaker(kafka, model_version, monkeypatch, settings):
    from django.db import OperationalError

    settings.STREAM_BREAKER_FAILURES = 1
    real = writer_module.write_predictions
    down = {"runs": 3}

    def outage(batch, payload=None):
        if down["runs"]:
            down["runs"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return real(batch, payload)

    monkeypatch.setattr(writer_module, "write_predictions", outage)
    now = time.time()
    publish(kafka.KAFKA_TOPIC_TICKS, [envelope(now - 30 + i, 100.0 + i) for i in range(4)])

    run_until_stored(kafka.KAFKA_TOPIC_TICKS, 4)

    assert Prediction.objects.count() == 4  # nothing dead-lettered while the database was away
