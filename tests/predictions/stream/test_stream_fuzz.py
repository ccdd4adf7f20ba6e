"""Fuzz the stream through the real broker: random bytes, random JSON, extreme numbers and
valid ticks mixed together. `manage.py consume` turns every message into a row or a dead
letter, its stored offsets reach the end of the topic, and it is still running."""

from __future__ import annotations

import json
import random
import string
import time

import pytest

from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.messaging.publisher import Publisher
from predictions.models import Prediction, StreamOffset
from tests.helpers import consumer_process, need, postgres_in_use, read_topic, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 600
EXTREMES = [0, -0.0, -1, 5e-324, 1e-320, 1e300, 1.7976931348623157e308, 2**64, -(2**63),
            "NaN", "inf", "-Infinity", "1e999", "", " ", "0x10", "1_000", True, None, [], {}]


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(EXTREMES)
    if kind == 1:
        return "".join(rng.choice(string.printable + "é€😀\x00") for _ in range(rng.randrange(12)))
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.randrange(-(2**70), 2**70)
    if kind == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["channel", "timestamp", "events", "tickers", "product_id", "price", "type", "time",
            "best_bid", "best_ask", "x"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def extreme_envelope(rng: random.Random, ts: float) -> bytes:
    tick = Tick("BTC-USD", ts, 100.0, 99.99, 100.01, 1.0, 1.0, 10.0, None)
    env = advanced_trade_envelope(tick, sequence_num=rng.randrange(10))
    ticker = env["events"][0]["tickers"][0]
    field = rng.choice(["price", "best_bid", "best_ask", "best_bid_quantity", "volume_24_h",
                        "product_id", "timestamp"])
    value = rng.choice(EXTREMES + [ts * 1000, ts + 5 * 365 * 86400, 1e300, "58888-01-01"])
    (env if field == "timestamp" else ticker)[field] = value
    return json.dumps(env).encode()


def fuzz_messages(seed: int) -> tuple[list[bytes], int]:
    """N messages, a quarter of each kind; and how many are valid ticks (in time order)."""
    rng = random.Random(seed)
    start = time.time() - 3600
    messages, valid = [], 0
    for i in range(N):
        kind = rng.randrange(4)
        if kind == 0:
            messages.append(rng.randbytes(rng.randrange(1, 200)))
        elif kind == 1:
            messages.append(json.dumps(random_json(rng)).encode())
        elif kind == 2:
            messages.append(extreme_envelope(rng, start + i))
        else:
            price = 100.0 + rng.uniform(-1, 1)
            tick = Tick("BTC-USD", start + i, price, price - 0.01, price + 0.01, 1.0, 1.0, 10.0,
                        None)
            messages.append(json.dumps(advanced_trade_envelope(tick, sequence_num=i)).encode())
            valid += 1
    return messages, valid


def test_random_messages_through_the_broker_each_become_a_row_or_a_dead_letter(
        kafka, model_version, settings, tmp_path):
    need("PostgreSQL", postgres_in_use(), "the consumer child process needs a shared database")
    messages, valid = fuzz_messages(seed=13)
    publisher = Publisher(kafka.KAFKA_TOPIC_TICKS)
    for value in messages:
        publisher.send("BTC-USD", value)
    publisher.close()

    proc = consumer_process(settings, tmp_path / "consume.log", STREAM_POLL_MAX_RECORDS="50")
    try:
        wait_until(lambda: sum(StreamOffset.objects.filter(topic=kafka.KAFKA_TOPIC_TICKS)
                               .values_list("next_offset", flat=True)) >= N,
                   timeout=180, what="every offset stored")
        time.sleep(1)  # a crash right after the last batch would show now
        assert proc.poll() is None, (tmp_path / "consume.log").read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    rows = Prediction.objects.filter(topic=kafka.KAFKA_TOPIC_TICKS)
    positions = set(rows.values_list("partition", "offset"))
    letters = read_topic(kafka.KAFKA_TOPIC_DLQ, N - len(positions), timeout=60)
    print(f"fuzz: sent {N}, valid {valid}, rows {rows.count()}, dead letters {len(letters)}, "
          f"stored offsets {sum(StreamOffset.objects.values_list('next_offset', flat=True))}")
    assert rows.count() == len(positions)  # one row per message (single-tick envelopes)
    assert len(positions) + len(letters) == N
    assert len(positions) >= valid
    assert {int(dict(r.headers)["source_offset"]) for r in letters}.isdisjoint(
        {offset for _, offset in positions})
