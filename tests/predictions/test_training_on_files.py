"""Training, evaluation and streaming on captured files, as a data scientist runs them."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from predictions.core.features import batch_features
from predictions.core.simulator import simulate_history
from predictions.core.tickfiles import read_ticks
from predictions.core.ticks import Tick, advanced_trade_envelope
from predictions.models import ModelVersion, Prediction
from predictions.stream.consumer import consume_run

T0 = 1_714_564_800.0


def shifted(ticks: list[Tick], seconds: float) -> list[Tick]:
    return [Tick(t.product_id, t.ts + seconds, t.price, t.best_bid, t.best_ask, t.bid_qty,
                 t.ask_qty, t.volume_24h, t.sequence) for t in ticks]


def write_envelopes(path, ticks: list[Tick], gz: bool) -> str:
    text = "\n".join(json.dumps(advanced_trade_envelope(t, sequence_num=i))
                     for i, t in enumerate(ticks, 1)) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return str(path)


def write_csv(path, ticks: list[Tick]) -> str:
    rows = ["timestamp,product_id,price,best_bid,best_ask,bid_qty,ask_qty,volume_24h,sequence"]
    rows += [f"{t.ts},{t.product_id},{t.price},{t.best_bid},{t.best_ask},{t.bid_qty},{t.ask_qty},"
             f"{t.volume_24h},{t.sequence}" for t in ticks]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """Two sessions of two products, the second after a 10-minute gap, in two formats."""
    folder = tmp_path_factory.mktemp("captures")
    first = simulate_history(["BTC-USD", "ETH-USD"], seed=31, start_ts=T0, duration_s=2 * 3600)
    second = shifted(simulate_history(["BTC-USD", "ETH-USD"], seed=32, start_ts=T0,
                                      duration_s=1800), 2 * 3600 + 600)
    return {"train": [write_envelopes(folder / "session1.ndjson.gz", first, gz=True),
                      write_csv(folder / "session2.csv", second)],
            "later": write_envelopes(folder / "later.ndjson", shifted(
                simulate_history(["BTC-USD", "ETH-USD"], seed=33, start_ts=T0,
                                 duration_s=3600), 4 * 3600), gz=False)}


@pytest.mark.django_db
def test_train_reads_captured_files_and_evaluate_scores_later_sessions(captured, tmp_path):
    out = tmp_path / "train.json"
    call_command("train", data=captured["train"], activate=True, json_out=str(out),
                 verbosity=0)
    version = ModelVersion.objects.get()
    assert version.data_source.startswith("files: ") and "session2.csv" in version.data_source
    report = json.loads(out.read_text())
    assert report["n_rows"] > 1000 and report["ml"]["pr_auc"] is not None

    evaluated = tmp_path / "eval.json"
    call_command("evaluate", data=[captured["later"]], json_out=str(evaluated), verbosity=0)
    metrics = json.loads(evaluated.read_text())
    assert metrics["model_version"] == version.name and metrics["n_rows"] > 1000
    for variant in ("ml", "baseline"):
        assert {"pr_auc", "roc_auc", "brier", "precision", "recall"} <= set(metrics[variant])


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty"),
    (gzip.compress(b'{"a": 1}\n' * 50)[:-12], "gzip"),
    (b"just some words\nmore words\n", "unknown format"),
])
@pytest.mark.django_db
def test_train_fails_with_one_line_naming_the_file(tmp_path, content, reason):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(content)
    with pytest.raises(CommandError) as err:
        call_command("train", data=[str(bad)], verbosity=0)
    message = str(err.value)
    assert str(bad) in message and reason in message and "\n" not in message


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_streaming_features_equal_batch_features_on_a_replay_with_a_gap(
        kafka, model_version, captured, tmp_path):
    """The consumer (streaming, per tick, through Kafka) and training (batch over the file)
    compute the same features for every tick of a multi-product capture with a gap."""
    gap_end = T0 + 2 * 3600 + 600
    ticks = [t for t in read_ticks(captured["train"]).ticks
             if t.ts < T0 + 600 or gap_end <= t.ts < gap_end + 300]  # both sides of the gap
    capture = write_envelopes(tmp_path / "replay.ndjson", ticks, gz=False)
    report = read_ticks([capture])
    frame = batch_features(report.ticks, kafka.FEATURE_WINDOWS_SECONDS,
                           kafka.FEATURE_GAP_SECONDS)
    assert frame.reset.sum() == 4  # two products, each at its start and after the gap

    call_command("ingest", source="replay", file=[capture], speed="max", verbosity=0)
    while Prediction.objects.count() < len(frame.ts):
        stats = consume_run(max_seconds=5)
        assert stats.messages > 0, "the consumer stopped before every tick was scored"

    # Trades of a burst share a timestamp (as on the real feed): match them in stream order.
    streamed: dict[tuple[str, float], list[dict]] = {}
    for p in Prediction.objects.order_by("event_ts", "partition", "offset", "tick_index"):
        streamed.setdefault((p.product_id, round(p.event_ts.timestamp(), 6)), []).append(
            p.features)
    assert sum(map(len, streamed.values())) == len(frame.ts)
    for i in range(len(frame.ts)):
        features = streamed[(frame.product_id[i], round(float(frame.ts[i]), 6))].pop(0)
        np.testing.assert_allclose([features[n] for n in frame.names], frame.X[i],
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.django_db
def test_train_and_evaluate_on_a_recorded_advanced_trade_fixture(tmp_path):
    """The project's own Advanced Trade fixture (simulated, two sessions): training reports
    rows and sessions on both sides, and evaluate adds the raw rv_60s ranking."""
    from pathlib import Path

    fixture = str(Path(__file__).resolve().parents[1] / "fixtures" / "advanced_trade_sim.ndjson.gz")
    out = tmp_path / "train.json"
    call_command("train", data=[fixture], test_fraction=0.5, activate=True, json_out=str(out),
                 verbosity=0)
    report = json.loads(out.read_text())
    split = report["split"]
    assert split["train_rows"] >= 500 and split["test_rows"] >= 200
    assert split["train_sessions"] >= 1 and split["test_sessions"] >= 1
    assert report["refit"]["sessions"] == 2
    evaluated = tmp_path / "eval.json"
    call_command("evaluate", data=[fixture], json_out=str(evaluated), verbosity=0)
    metrics = json.loads(evaluated.read_text())
    assert metrics["rv_60s_pr_auc"] is not None and metrics["sessions"] == 2
