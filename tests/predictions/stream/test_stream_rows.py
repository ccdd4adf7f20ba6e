"""How the consumer encodes a batch of rows for PostgreSQL's COPY, and that what lands in the
table is what the model scored (the same values Django's ORM would have stored)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from predictions.core.features import FEATURE_SET_VERSION
from predictions.models import LabelPending, Prediction
from predictions.stream.batches import ScoredBatch, TickColumns
from predictions.stream.copy_encoding import COPY_COLUMNS, copy_rows, copy_text, features_json
from predictions.stream.writer import write_predictions
from tests.helpers import need, postgres_in_use

NAMES = ["rv_30s", "ret_mean_30s", "n_ticks_30s"]


def batch(values: list[list[float]], *, products=None, scores=None, model_version_id=1):
    n = len(values)
    ticks = TickColumns(
        offsets=list(range(100, 100 + n)), tick_index=[0] * n,
        product_ids=products or ["BTC-USD"] * n,
        ts=[1_700_000_000.123456 + i for i in range(n)], mids=[60_000.5 + i for i in range(n)],
        values=values)
    X = np.asarray(values, dtype=np.float64)
    score = np.asarray(scores if scores is not None else [0.25] * n)
    return ScoredBatch(
        topic="ticks.raw", partition=2, ticks=ticks, names=NAMES, X=X, variant="ml",
        score=score, threshold=np.float64(0.3), shadow_variant="baseline",
        shadow_score=score / 2, shadow_threshold=0.1, model_version_id=model_version_id)


def test_feature_json_equals_the_dict_orjson_would_write():
    values = [[0.1, -1.3668838455279266e-05, 32.0], [1e-300, -0.0, 5e20],
              [math.nan, math.inf, 1 / 3]]
    for row, text in zip(values, features_json(np.asarray(values), NAMES)):
        assert orjson.loads(text) == orjson.loads(orjson.dumps(dict(zip(NAMES, row))))
    assert orjson.loads(features_json(np.asarray(values), NAMES)[2]) == {
        "rv_30s": None, "ret_mean_30s": None, "n_ticks_30s": 1 / 3}


def test_copy_text_escapes_what_copy_treats_specially():
    assert copy_text("a\\b\tc\nd\re") == b"a\\\\b\\tc\\nd\\re"
    assert copy_text("BTC-USD") == b"BTC-USD"


def test_copy_rows_are_one_line_per_tick_with_every_column():
    rows = copy_rows(batch([[0.1, 0.2, 3.0], [0.4, 0.5, 6.0]], scores=[0.25, 0.5]),
                            created_at=datetime(2026, 1, 1, tzinfo=UTC)).decode()
    lines = rows.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    first, second = (line.split("\t") for line in lines[:2])
    assert len(first) == len(COPY_COLUMNS)
    record = dict(zip(COPY_COLUMNS, second))
    assert record["label"] == "t" and dict(zip(COPY_COLUMNS, first))["label"] == "f"
    assert record["threshold"] == "0.3"  # a numpy float is written as a number, not its repr
    assert float(record["shadow_score"]) == 0.25 and record["offset"] == "101"
    assert record["feature_set"] == FEATURE_SET_VERSION  # a backtest never mixes definitions


@pytest.mark.django_db
def test_rows_written_by_copy_read_back_as_scored(model_version):
    from django.db import transaction

    need("PostgreSQL", postgres_in_use(), "COPY is PostgreSQL's (SQLite takes bulk_create)")
    values = [[0.1, -1.3668838455279266e-05, 32.0], [1e-300, -0.0, 5e20]]
    scored = batch(values, scores=[0.125, 0.75], model_version_id=model_version.id)
    with transaction.atomic():
        write_predictions(scored)
    rows = list(Prediction.objects.order_by("offset"))
    assert [r.offset for r in rows] == [100, 101]
    for row, features, score, ts, mid in zip(rows, values, [0.125, 0.75], scored.ticks.ts,
                                              scored.ticks.mids):
        assert row.features == dict(zip(NAMES, features))
        assert (row.score, row.shadow_score, row.label) == (score, score / 2, score >= 0.3)
        assert row.event_ts == datetime.fromtimestamp(ts, tz=UTC)
        assert (row.mid, row.threshold, row.shadow_threshold) == (mid, 0.3, 0.1)
        assert (row.topic, row.partition, row.variant, row.shadow_variant) == (
            "ticks.raw", 2, "ml", "baseline")
        assert row.created_at is not None and not hasattr(row, "outcome")
    # every row is registered for label maturing in the same transaction
    assert sorted(LabelPending.objects.values_list("prediction_id", flat=True)) == \
        sorted(r.pk for r in rows)
