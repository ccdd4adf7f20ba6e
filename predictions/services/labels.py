"""Label maturing: attach the realized label to predictions whose horizon has passed, and add
them to the live-performance rollups in the same transaction."""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from predictions.core.labels import live_forward_rv
from predictions.models import ModelVersion, Prediction, ServiceConfig
from predictions.services.live_rollups import MaturedRows, live_counts_add, rollups_lock

log = logging.getLogger(__name__)

# What the rollups need of a row just decided (besides its event time, read before).
_RETURNED = ("id", "product_id", "model_version_id", "variant", "score", "threshold",
             "shadow_variant", "shadow_score", "shadow_threshold", "realized_label")


def prediction_labels_mature(*, batch_rows: int | None = None,
                             budget_seconds: float | None = None) -> int:
    """Attach the realized label and forward volatility to predictions whose horizon passed.

    Steps, per product with undecided rows, batch after batch until the product is caught up
    or the run's time budget (LABEL_MATURE_RUN_SECONDS) is spent:
    1. take the promoted model version's horizon and label threshold (nothing without one);
    2. read the product's rows from its oldest undecided one on, in time order, only the
       columns needed (at most LABEL_MATURE_BATCH_ROWS; the next batch continues from there);
    3. compute forward realized vol from their mids, as training does (labels.live_forward_rv);
       a row without a mid (written before mids were stored) is decided as unobservable;
    4. write label, forward vol and matured_at of every decided row with one set-based
       UPDATE per at most LABEL_MATURE_WRITE_ROWS rows, each its own short transaction that
       also adds those rows to the live-performance rollups — a row whose horizon a gap cut
       off is decided with an empty label and counted nowhere.
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
    """Products with undecided rows, found by walking the partial index of undecided rows
    one product at a time (an index probe each, however long the backlog)."""
    products: list[str] = []
    pending = (Prediction.objects.filter(matured_at__isnull=True).order_by("product_id")
               .values_list("product_id", flat=True))
    while (product := pending.filter(product_id__gt=products[-1] if products else "")
           .first()) is not None:
        products.append(product)
    return products


def _batch_rows(product_id: str, oldest: datetime, limit: int) -> list[tuple]:
    """(id, event time as epoch seconds, mid, undecided) of a product's rows from `oldest`
    on, in stream order. PostgreSQL hands the time over as a number (no timestamp to parse
    per row); SQLite's rows go through the ORM."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, EXTRACT(EPOCH FROM event_ts)::float8, mid, matured_at IS NULL "
                f"FROM {Prediction._meta.db_table} WHERE product_id = %s AND event_ts >= %s "
                f'ORDER BY event_ts, "partition", "offset", tick_index LIMIT %s',
                [product_id, oldest, limit])
            return cursor.fetchall()
    return [(i, t.timestamp(), mid, m is None) for i, t, mid, m in
            Prediction.objects.filter(product_id=product_id, event_ts__gte=oldest)
            .order_by("event_ts", "partition", "offset", "tick_index")
            .values_list("id", "event_ts", "mid", "matured_at")[:limit]]


def _mature_batch(product_id: str, version: ModelVersion, limit: int) -> tuple[int, bool]:
    """Decide what one batch of a product's rows can decide. Returns (rows decided, whether
    the batch was full, so more rows may follow)."""
    oldest = (Prediction.objects.filter(product_id=product_id, matured_at__isnull=True)
              .order_by("event_ts").values_list("event_ts", flat=True).first())
    if oldest is None:
        return 0, False
    rows = _batch_rows(product_id, oldest, limit)
    if not rows:
        return 0, False
    ids, ts, mids, undecided = zip(*rows)
    ts, undecided = np.array(ts, dtype=float), np.array(undecided, dtype=bool)
    has_mid = np.array([m is not None for m in mids])
    fwd = np.full(len(ts), np.nan)
    decided = ~has_mid  # no mid: never observable
    fwd_known, decided_known = live_forward_rv(
        ts[has_mid], np.array([m for m in mids if m is not None], dtype=float),
        version.horizon_s, settings.FEATURE_GAP_SECONDS)
    fwd[has_mid], decided[has_mid] = fwd_known, decided_known
    todo = np.flatnonzero(decided & undecided)
    when = dict(zip(ids, ts.tolist()))
    step = settings.LABEL_MATURE_WRITE_ROWS
    written = 0
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        decided_rows = [[ids[i], None if math.isnan(v) else float(v),
                         None if math.isnan(v) else bool(v >= version.label_threshold)]
                        for i, v in zip(chunk.tolist(), fwd[chunk].tolist())]
        written += _write(rows=decided_rows, when=when)
    return written, len(rows) == limit


def _write(*, rows: list[list], when: dict[int, float]) -> int:
    """One transaction: set the rows' labels (only rows still undecided, so a row is decided
    and counted once however runs overlap), then add the ones with a label to the rollups."""
    now = timezone.now()
    with transaction.atomic():
        rollups_lock()
        returned = _update_returning(rows, now)
        observed = [(when[r[0]], *r[1:]) for r in returned if r[-1] is not None]
        if observed:
            live_counts_add(MaturedRows.from_records(observed))
    return len(returned)


def _update_returning(rows: list[list], now: datetime) -> list[tuple]:
    """UPDATE … FROM the set of [id, forward vol, label] rows (sent as one JSON array) with
    RETURNING: one statement for the whole chunk, rather than a CASE WHEN arm per row."""
    table = Prediction._meta.db_table
    if connection.vendor == "postgresql":
        sql = (f"UPDATE {table} AS p SET forward_rv = v.fwd, realized_label = v.label, "
               f"matured_at = %s FROM (SELECT (e ->> 0)::bigint AS id, "
               f"(e ->> 1)::float8 AS fwd, (e ->> 2)::boolean AS label "
               f"FROM jsonb_array_elements(%s::jsonb) AS e) AS v WHERE p.id = v.id "
               f"AND p.matured_at IS NULL RETURNING "
               + ", ".join(f"p.{c}" for c in _RETURNED))
        params = [now, json.dumps(rows)]
    else:  # SQLite: RETURNING names bare columns
        sql = (f"UPDATE {table} SET forward_rv = v.fwd, realized_label = v.label, "
               f"matured_at = %s FROM (SELECT value ->> 0 AS id, value ->> 1 AS fwd, "
               f"value ->> 2 AS label FROM json_each(%s)) AS v WHERE {table}.id = v.id "
               f"AND {table}.matured_at IS NULL RETURNING {', '.join(_RETURNED)}")
        params = [connection.ops.adapt_datetimefield_value(now),
                  json.dumps([[i, f, None if y is None else int(y)] for i, f, y in rows])]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    return [(*r[:-1], None if r[-1] is None else bool(r[-1])) for r in returned]
