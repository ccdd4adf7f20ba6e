"""Label maturing: decide the outcome of predictions whose horizon has passed, and add them to
the live-performance rollups in the same transaction.

An outcome is a narrow row appended to `PredictionOutcome`; the wide prediction row is never
updated (an update rewrites the row and every index entry of it: docs/performance.md). The
stream writer registers every new prediction in `LabelPending`; maturing deletes a pending
row in the transaction that writes its outcome.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from predictions.core.labels import live_forward_rv
from predictions.models import (
    LabelPending,
    ModelVersion,
    Prediction,
    PredictionOutcome,
    ServiceConfig,
)
from predictions.services.live_rollups import MaturedRows, live_counts_add, rollups_lock

# What the rollups need of a row (besides its time), read with the batch.
_SCORED = ("product_id", "model_version_id", "variant", "score", "threshold", "shadow_variant",
           "shadow_score", "shadow_threshold")


def prediction_labels_mature(*, batch_rows: int | None = None,
                             budget_seconds: float | None = None) -> int:
    """Decide the outcome (realized label and forward volatility) of predictions whose
    horizon has passed.

    Steps, per product with undecided rows, batch after batch until the product is caught up
    or the run's time budget (LABEL_MATURE_RUN_SECONDS) is spent:
    1. take the promoted model version's horizon and label threshold (nothing without one);
    2. read the product's rows from its oldest undecided one on, in stream order, only the
       columns needed (at most LABEL_MATURE_BATCH_ROWS; the next batch continues from there);
    3. compute forward realized vol from their mids, as training does (labels.live_forward_rv);
       a row without a mid (written before mids were stored) is decided as unobservable;
    4. append the outcomes of the undecided rows now decided, at most LABEL_MATURE_WRITE_ROWS
       per transaction, each of which also deletes their pending rows and adds the ones with
       a label to the live-performance rollups — a row whose horizon a gap cut off is
       decided with an empty label and counted nowhere.
    Returns the number of rows decided.
    """
    version_id = ServiceConfig.objects.filter(pk=ServiceConfig.SINGLETON_PK).values_list(
        "active_model_version", flat=True).first()
    version = ModelVersion.objects.filter(pk=version_id).only(
        "horizon_s", "label_threshold").first() if version_id else None
    if version is None:
        return 0
    limit = batch_rows or settings.LABEL_MATURE_BATCH_ROWS
    deadline = time.monotonic() + (budget_seconds if budget_seconds is not None
                                   else settings.LABEL_MATURE_RUN_SECONDS)
    decided_total = 0
    for product_id in _pending_products():
        while True:
            decided, more = _mature_batch(product_id, version, limit)
            # A full batch that decided nothing spans less than a horizon (a very fast
            # product): read more rows at once rather than stall on it.
            grown = limit
            while decided == 0 and more and grown < 16 * limit:
                grown *= 4
                decided, more = _mature_batch(product_id, version, grown)
            decided_total += decided
            if not more or decided == 0 or time.monotonic() >= deadline:
                break
        if time.monotonic() >= deadline:
            break
    return decided_total


def _pending_products() -> list[str]:
    """Products with undecided rows, found by walking the pending rows' index one product at
    a time (an index probe each, however long the backlog)."""
    products: list[str] = []
    pending = LabelPending.objects.order_by("product_id").values_list("product_id", flat=True)
    while (product := pending.filter(product_id__gt=products[-1] if products else "")
           .first()) is not None:
        products.append(product)
    return products


def _batch_rows(product_id: str, oldest: datetime, limit: int) -> list[tuple]:
    """(id, event time as epoch seconds, mid, *_SCORED) of a product's rows from `oldest` on,
    in stream order. PostgreSQL hands the time over as a number (no timestamp to parse per
    row); SQLite's rows go through the ORM."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, EXTRACT(EPOCH FROM event_ts)::float8, mid, {', '.join(_SCORED)} "
                f"FROM {Prediction._meta.db_table} WHERE product_id = %s AND event_ts >= %s "
                f'ORDER BY event_ts, "partition", "offset", tick_index LIMIT %s',
                [product_id, oldest, limit])
            return cursor.fetchall()
    return [(i, t.timestamp(), *rest) for i, t, *rest in
            Prediction.objects.filter(product_id=product_id, event_ts__gte=oldest)
            .order_by("event_ts", "partition", "offset", "tick_index")
            .values_list("id", "event_ts", "mid", *_SCORED)[:limit]]


def _mature_batch(product_id: str, version: ModelVersion, limit: int) -> tuple[int, bool]:
    """Decide what one batch of a product's rows can decide. Returns (rows decided, whether
    the batch was full, so more rows may follow)."""
    pending = LabelPending.objects.filter(product_id=product_id)
    oldest = pending.order_by("event_ts").values_list("event_ts", flat=True).first()
    if oldest is None:
        return 0, False
    rows = _batch_rows(product_id, oldest, limit)
    if not rows:
        return 0, False
    ids = [r[0] for r in rows]
    ts = np.array([r[1] for r in rows], dtype=float)
    mids = [r[2] for r in rows]
    undecided = set(pending.filter(prediction_id__gte=min(ids), prediction_id__lte=max(ids))
                    .values_list("prediction_id", flat=True))
    has_mid = np.array([m is not None for m in mids])
    fwd = np.full(len(ts), np.nan)
    decided = ~has_mid  # no mid: never observable
    fwd[has_mid], decided[has_mid] = live_forward_rv(
        ts[has_mid], np.array([m for m in mids if m is not None], dtype=float),
        version.horizon_s, settings.FEATURE_GAP_SECONDS)
    todo = [i for i in np.flatnonzero(decided).tolist() if ids[i] in undecided]
    step = settings.LABEL_MATURE_WRITE_ROWS
    written = 0
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        outcomes = [[ids[i], None if math.isnan(fwd[i]) else float(fwd[i]),
                     None if math.isnan(fwd[i]) else bool(fwd[i] >= version.label_threshold)]
                    for i in chunk]
        written += _write(outcomes, {ids[i]: rows[i] for i in chunk})
    return written, len(rows) == limit


def _write(outcomes: list[list], read: dict[int, tuple]) -> int:
    """One transaction: append the outcomes (a row already decided is skipped, so a row is
    decided and counted once however runs overlap), delete their pending rows, and add the
    ones with a label to the rollups."""
    with transaction.atomic():
        rollups_lock()
        inserted = set(_outcomes_insert(outcomes, timezone.now()))
        LabelPending.objects.filter(prediction_id__in=[o[0] for o in outcomes])._raw_delete(
            LabelPending.objects.db)
        observed = [(read[i][1], *read[i][3:], label) for i, _, label in outcomes
                    if i in inserted and label is not None]
        if observed:
            live_counts_add(MaturedRows.from_records(observed))
    return len(inserted)


def _outcomes_insert(outcomes: list[list], now: datetime) -> list[int]:
    """INSERT … SELECT FROM a JSON array of [id, forward vol, label] ON CONFLICT DO NOTHING
    RETURNING: one statement for the chunk; returns the ids whose outcome it wrote."""
    table = PredictionOutcome._meta.db_table
    if connection.vendor == "postgresql":
        source = ("SELECT (e ->> 0)::bigint, (e ->> 1)::float8, (e ->> 2)::boolean, %s "
                  "FROM jsonb_array_elements(%s::jsonb) AS e")
        params = [now, json.dumps(outcomes)]
    else:  # SQLite: "WHERE true" keeps the upsert's ON CONFLICT apart from the SELECT
        source = ("SELECT value ->> 0, value ->> 1, value ->> 2, %s FROM json_each(%s) "
                  "WHERE true")
        params = [connection.ops.adapt_datetimefield_value(now),
                  json.dumps([[i, f, None if y is None else int(y)] for i, f, y in outcomes])]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (prediction_id, forward_rv, realized_label, "
                       f"matured_at) {source} ON CONFLICT (prediction_id) DO NOTHING "
                       f"RETURNING prediction_id", params)
        return [row[0] for row in cursor.fetchall()]
