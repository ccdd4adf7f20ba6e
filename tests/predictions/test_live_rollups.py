"""Live performance from the rollups: label maturing adds each decided row once to the minute
and hour counts, a rebuild from the rows gives the same counts, and a window's figures equal
the offline metrics on exactly its matured rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from predictions.core.evaluation import scores
from predictions.core.score_buckets import bucket_score, unpack
from predictions.models import (
    LabelPending,
    LiveHour,
    LiveMinute,
    Prediction,
    PredictionOutcome,
)
from predictions.selectors import (
    live_window_parts,
    prediction_live_performance,
    prediction_live_series,
)
from predictions.services import prediction_labels_mature
from predictions.services.live_rollups import live_rollups_rebuild
from tests.helpers import undecided_rows

pytestmark = pytest.mark.django_db


def ticks(version, start: datetime, n: int, *, seconds: float = 2.0, seed: int = 0,
          product_id: str = "BTC-USD") -> None:
    """n undecided rows of one product, a tick every `seconds`, with a mid random walk whose
    volatility changes, so forward vol crosses the version's label threshold now and then."""
    rng = np.random.default_rng(seed)
    vol = np.where((np.arange(n) // 40) % 3 == 0, 4.0, 0.5) * version.label_threshold / 6
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol)))
    score = rng.random(n)
    undecided_rows([
        Prediction(product_id=product_id, event_ts=start + timedelta(seconds=i * seconds),
                   features={}, variant="ml", score=float(score[i]),
                   label=bool(score[i] >= 0.5), threshold=0.5, shadow_variant="baseline",
                   shadow_score=float(1 - score[i]), shadow_threshold=0.3,
                   model_version=version, topic=f"t-{product_id}", partition=0, offset=i,
                   mid=float(mid[i]))
        for i in range(n)])


def exact(since=None, until=None) -> dict[str, dict]:
    """The offline metrics on exactly the window's matured rows (scores as bucketed)."""
    rows = Prediction.objects.exclude(outcome__realized_label=None)
    if since is not None:
        rows = rows.filter(event_ts__gte=since)
    if until is not None:
        rows = rows.filter(event_ts__lt=until)
    y, s, t, ss, st = (np.array(c) for c in zip(*rows.values_list(
        "outcome__realized_label", "score", "threshold", "shadow_score",
        "shadow_threshold")))
    out = {}
    for variant, p, thr in (("ml", s, t), ("baseline", ss, st)):
        m = scores(y.astype(bool), p.astype(float), thr.astype(float))
        m["pr_auc"] = scores(y.astype(bool), bucket_score(p), None)["pr_auc"]
        out[variant] = m
    return out


def assert_same(live: dict, want: dict) -> None:
    for variant in ("ml", "baseline"):
        assert live[variant]["n"] == want[variant]["n"] > 0
        for key in ("prevalence", "precision", "recall", "pr_auc", "brier"):
            assert live[variant][key] == pytest.approx(want[variant][key], rel=1e-9), key


@pytest.fixture
def three_hours(model_version):
    """Three hours of ticks ending 10 minutes ago, matured."""
    start = (timezone.now() - timedelta(hours=3, minutes=10)).replace(second=0, microsecond=0)
    ticks(model_version, start, 5400)
    decided = prediction_labels_mature(batch_rows=1000)
    assert decided > 5000
    return start


def test_a_window_of_whole_hours_and_partial_ones_equals_the_metrics_on_its_rows(three_hours):
    since = three_hours + timedelta(minutes=37)  # mid-hour: minute rows, hours, minute rows
    until = three_hours + timedelta(hours=2, minutes=51)
    live = prediction_live_performance(since=since, until=until)
    assert_same(live, exact(since, until))
    assert_same(prediction_live_performance(), exact())
    assert live["ml"]["prevalence"] not in (0.0, 1.0)  # both classes: a real PR-AUC


def test_maturing_counts_each_row_once_and_equals_a_rebuild(three_hours, model_version):
    before = {(r.minute, r.variant): (r.rows, r.flagged, bytes(r.buckets))
              for r in LiveMinute.objects.all()}
    assert prediction_labels_mature() == 0  # nothing new: nothing counted twice
    live_rollups_rebuild()
    after = {(r.minute, r.variant): (r.rows, r.flagged, bytes(r.buckets))
             for r in LiveMinute.objects.all()}
    assert before == after
    hours = LiveHour.objects.filter(variant="ml")
    assert sum(h.rows for h in hours) == \
        PredictionOutcome.objects.exclude(realized_label=None).count()
    neg, pos = unpack([h.buckets for h in hours])
    assert int(pos.sum()) == PredictionOutcome.objects.filter(realized_label=True).count()


def test_a_run_clears_a_backlog_batch_after_batch(model_version, settings):
    settings.LABEL_MATURE_WRITE_ROWS = 300
    start = timezone.now() - timedelta(hours=2)
    ticks(model_version, start, 3000, product_id="BTC-USD")
    ticks(model_version, start, 3000, product_id="ETH-USD", seed=1)
    decided = prediction_labels_mature(batch_rows=500)  # 12 batches, 20+ transactions
    assert decided == PredictionOutcome.objects.count() > 5800
    assert LabelPending.objects.filter(event_ts__lt=timezone.now()
                                       - timedelta(minutes=30)).count() == 0


def test_a_run_stops_at_its_time_budget_and_the_next_goes_on(model_version):
    ticks(model_version, timezone.now() - timedelta(hours=2), 3000)
    first = prediction_labels_mature(batch_rows=500, budget_seconds=0)
    assert 0 < first <= 500  # one batch, then the budget is spent
    second = prediction_labels_mature(batch_rows=500)
    assert first + second == PredictionOutcome.objects.count() > 2900


def parts(since, until, now):
    return [(m.__name__, lo, hi) for m, _, lo, hi in
            live_window_parts(since=since, until=until, now=now)]


def at(day, hour=0, minute=0):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_a_window_reads_the_fewest_rows_minutes_hours_and_days(settings):
    settings.LIVE_MINUTE_RETENTION_HOURS = 48
    now = datetime(2026, 12, 7, 12, 34, 56, tzinfo=UTC)
    assert parts(now - timedelta(hours=1), None, now) == [
        ("LiveMinute", at(7, 11, 34), at(7, 12)), ("LiveHour", at(7, 12), None)]
    assert parts(now - timedelta(days=1), None, now) == [
        ("LiveMinute", at(6, 12, 34), at(6, 13)), ("LiveHour", at(6, 13), at(7)),
        ("LiveDay", at(7), None)]
    # past the minute rows: the edge snaps to its midnight, and days are read
    assert parts(now - timedelta(days=7), None, now) == [
        ("LiveDay", datetime(2026, 11, 30, tzinfo=UTC), None)]
    assert parts(now - timedelta(minutes=20), now - timedelta(minutes=5), now) == [
        ("LiveMinute", at(7, 12, 14), at(7, 12, 29))]
    assert parts(at(5, 22, 10), at(7, 1, 5), now) == [
        ("LiveMinute", at(5, 22, 10), at(5, 23)), ("LiveHour", at(5, 23), at(6)),
        ("LiveDay", at(6), at(7)), ("LiveHour", at(7), at(7, 1)),
        ("LiveMinute", at(7, 1), at(7, 1, 5))]
    assert parts(None, None, now) == [("LiveDay", datetime(1970, 1, 1, tzinfo=UTC), None)]


def test_rows_without_a_label_and_an_identical_shadow_are_not_counted(model_version):
    start = timezone.now() - timedelta(hours=1)
    ticks(model_version, start, 10)
    for row in Prediction.objects.all():  # 5 spikes, 5 unobservable
        PredictionOutcome.objects.create(prediction=row, matured_at=start,
                                         realized_label=True if row.offset < 5 else None,
                                         forward_rv=0.01 if row.offset < 5 else None)
    Prediction.objects.filter(offset=0).update(shadow_variant="ml")  # no challenger
    live_rollups_rebuild()
    live = prediction_live_performance()
    assert live["ml"]["n"] == 5 and live["baseline"]["n"] == 4


def test_the_pr_auc_chart_slices_agree_with_the_windows_they_cover(three_hours):
    now = timezone.now()
    series = prediction_live_series(now=now, span=timedelta(hours=4), slices=4)
    assert len(series["ml"]) >= 3 and len(series["baseline"]) >= 3
    for variant, points in series.items():
        for end, pr_auc in points:
            until = datetime.fromtimestamp(end, tz=UTC)
            live = prediction_live_performance(since=until - timedelta(hours=1), until=until)
            assert pr_auc == pytest.approx(live[variant]["pr_auc"])


def test_each_chunk_is_decided_by_one_set_based_insert_and_no_update(model_version, settings):
    """No update of the wide prediction rows, and no CASE WHEN arm per row: one INSERT …
    SELECT of outcomes per LABEL_MATURE_WRITE_ROWS rows, one DELETE of their pending rows,
    and one upsert per rollup table per chunk."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.LABEL_MATURE_WRITE_ROWS = 400
    ticks(model_version, timezone.now() - timedelta(hours=1), 1500)
    with CaptureQueriesContext(connection) as captured:
        decided = prediction_labels_mature(batch_rows=2000)
    sql = [q["sql"] for q in captured]
    chunks = -(-decided // 400)
    assert decided > 1400 and chunks == 4
    assert not [s for s in sql if s.startswith("UPDATE") and "predictions_prediction" in s]
    assert not [s for s in sql if "CASE WHEN" in s.upper()]
    inserts = [s for s in sql if s.startswith('INSERT INTO "predictions_predictionoutcome"')
               or s.startswith("INSERT INTO predictions_predictionoutcome")]
    assert len(inserts) == chunks
    assert len([s for s in sql if s.startswith('DELETE FROM "predictions_labelpending"')]) \
        == chunks
    upserts = [s for s in sql if s.startswith("INSERT") and "DO UPDATE" in s]
    assert len(upserts) == 3 * chunks  # minute, hour and day rollups
