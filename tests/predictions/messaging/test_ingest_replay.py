"""`manage.py ingest --source replay`: captured files → the ticks topic, in event-time order."""

from __future__ import annotations

import gzip
import json
import time
from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from predictions.core.ticks import Tick, advanced_trade_envelope, parse_message
from tests.helpers import read_topic

pytestmark = [pytest.mark.integration]

T0 = 1_714_564_800.0


def capture(tmp_path, name: str, ticks: list[Tick], *, gz: bool = False,
            extra: list[str] = ()) -> str:
    lines = [json.dumps(advanced_trade_envelope(t, sequence_num=t.sequence)) for t in ticks]
    data = "\n".join([*lines, *extra]).encode() + b"\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def replay(*files: str, **options) -> str:
    out = StringIO()
    call_command("ingest", source="replay", file=list(files), speed="max", stdout=out,
                 **options)
    return out.getvalue()


def test_it_replays_two_files_merged_by_time_keyed_by_product(kafka, tmp_path):
    btc = [Tick("BTC-USD", T0 + i, 60000.0 + i, 59999.0 + i, 60001.0 + i, 1.0, 1.0, 9.0, i)
           for i in range(0, 40, 2)]
    eth = [Tick("ETH-USD", T0 + i, 3000.0 + i, 2999.0 + i, 3001.0 + i, None, None, None, 100 + i)
           for i in range(1, 40, 2)]
    first = capture(tmp_path, "a.ndjson", btc[::-1] + eth[:5],  # BTC out of order
                    extra=['{"channel":"heartbeats","events":[]}', "{broken"])
    second = capture(tmp_path, "b.ndjson.gz", eth + btc[:3], gz=True)  # overlaps: duplicates

    out = replay(first, second)

    records = read_topic(kafka.KAFKA_TOPIC_TICKS, 40)
    assert len(records) == 40
    by_key: dict[str, list[Tick]] = defaultdict(list)
    for record in records:
        [tick] = parse_message(record.value)
        assert record.key.decode() == tick.product_id
        by_key[tick.product_id].append(tick)
    assert by_key["BTC-USD"] == btc and by_key["ETH-USD"] == eth
    assert "produced 40 messages" in out and "8 duplicates dropped" in out
    assert f"malformed: {first}:27: invalid JSON" in out


def test_it_paces_by_event_time(kafka, tmp_path):
    ticks = [Tick("BTC-USD", T0 + i * 0.5, 100.0 + i, sequence=i) for i in range(5)]
    path = capture(tmp_path, "paced.ndjson", ticks)
    started = time.monotonic()
    call_command("ingest", source="replay", file=[path], speed="10", stdout=StringIO())
    assert 0.18 <= time.monotonic() - started < 5  # 2 s of event time at 10x ≈ 0.2 s
    assert len(read_topic(kafka.KAFKA_TOPIC_TICKS, 5)) == 5


def test_a_bad_file_fails_the_command_naming_it(kafka, tmp_path):
    good = capture(tmp_path, "good.ndjson", [Tick("BTC-USD", T0, 1.0)])
    truncated = tmp_path / "cut.ndjson.gz"
    truncated.write_bytes(gzip.compress(b'{"a": 1}\n' * 5000)[:40])
    with pytest.raises(CommandError, match=rf"^{truncated}: truncated gzip"):
        replay(good, str(truncated))
    with pytest.raises(CommandError, match=r"missing\.csv: no such file"):
        replay(good, str(tmp_path / "missing.csv"))


def test_replay_needs_files(kafka):
    with pytest.raises(CommandError, match="--file"):
        call_command("ingest", source="replay", speed="max")
