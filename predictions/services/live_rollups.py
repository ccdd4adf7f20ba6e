"""Live-performance rollups (`LiveMinute`, `LiveHour`, `LiveDay`): added to as labels mature, rebuilt
from matured rows on demand (a restore, an upgrade, a benchmark).

Each matured row counts twice: for its served variant (`score`, `threshold`) and, when the
shadow is the other variant and has a threshold, for the shadow (`shadow_score`,
`shadow_threshold`): champion and challenger are measured on the same rows. Rows whose label
is unobservable (a gap cut the horizon) are not counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from django.db import connection
from django.db.models import Case, Count, F, FloatField, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Cast, Floor, Least, Trunc
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from predictions.core.score_buckets import SCORE_BUCKETS, Counts, pack, unpack
from predictions.models import LiveDay, LiveHour, LiveMinute, Prediction

# (model, its time field, seconds per row)
PERIODS = ((LiveMinute, "minute", 60), (LiveHour, "hour", 3600), (LiveDay, "day", 86400))
# Serializes everything that writes the rollups (label maturing, a rebuild) on PostgreSQL:
# a row's counts are read, added to and written back inside the holder's transaction.
ADVISORY_LOCK_KEY = 0x766F6C_6C6976  # "vol" "liv"

Key = tuple[int, str, int, str]  # (period start, product, model version id, variant)


def rollups_lock() -> None:
    """Hold the rollup writers' lock until the current transaction ends (PostgreSQL; SQLite's
    IMMEDIATE transactions already admit one writer)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


@dataclass
class MaturedRows:
    """Columns of rows whose labels were just decided (observed labels only)."""

    ts: np.ndarray  # event time, epoch seconds
    product_id: np.ndarray
    model_version_id: np.ndarray
    variant: np.ndarray
    score: np.ndarray
    threshold: np.ndarray
    shadow_variant: np.ndarray
    shadow_score: np.ndarray
    shadow_threshold: np.ndarray  # NaN where the row has none
    label: np.ndarray  # bool

    @classmethod
    def from_records(cls, records: list[tuple]) -> MaturedRows:
        """From (ts, product, version, variant, score, threshold, shadow variant, shadow score,
        shadow threshold, label) tuples."""
        cols = list(zip(*records)) if records else [()] * 10
        as_float = lambda c: np.array([np.nan if v is None else v for v in c], dtype=float)  # noqa: E731
        return cls(ts=as_float(cols[0]), product_id=np.array(cols[1], dtype=object),
                   model_version_id=np.array(cols[2], dtype=np.int64),
                   variant=np.array(cols[3], dtype=object), score=as_float(cols[4]),
                   threshold=as_float(cols[5]), shadow_variant=np.array(cols[6], dtype=object),
                   shadow_score=as_float(cols[7]), shadow_threshold=as_float(cols[8]),
                   label=np.array(cols[9], dtype=bool))


def _scored(rows: MaturedRows):
    """(ts, product, version, variant, score, threshold, label) arrays: served, then shadow."""
    yield (rows.ts, rows.product_id, rows.model_version_id, rows.variant, rows.score,
           rows.threshold, rows.label)
    shadow = (rows.shadow_variant != rows.variant) & ~np.isnan(rows.shadow_threshold)
    yield (rows.ts[shadow], rows.product_id[shadow], rows.model_version_id[shadow],
           rows.shadow_variant[shadow], rows.shadow_score[shadow],
           rows.shadow_threshold[shadow], rows.label[shadow])


def group_counts(rows: MaturedRows, seconds: int) -> dict[Key, Counts]:
    """The rows' counts per (period start, product, version, variant)."""
    out: dict[Key, Counts] = {}
    for ts, product, version, variant, score, threshold, label in _scored(rows):
        if not len(ts):
            continue
        start = (ts // seconds).astype(np.int64) * seconds
        products, product_code = np.unique(product.astype(str), return_inverse=True)
        variants, variant_code = np.unique(variant.astype(str), return_inverse=True)
        keys, group = np.unique(np.stack([start, product_code, version, variant_code], axis=1),
                                axis=0, return_inverse=True)
        group = group.ravel()
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(keys) + 1))
        for g, (at, p, v, var) in enumerate(keys.tolist()):
            idx = order[bounds[g]:bounds[g + 1]]
            key = (at, str(products[p]), v, str(variants[var]))
            counts = Counts.of(label[idx], score[idx], threshold[idx])
            if key in out:
                out[key] += counts
            else:
                out[key] = counts
    return out


def live_counts_add(rows: MaturedRows) -> int:
    """Add matured rows to the minute, hour and day rollups (inside the caller's transaction, which
    must hold `rollups_lock`). Returns the rollup rows touched."""
    touched = 0
    for model, time_field, seconds in PERIODS:
        touched += _merge(model, time_field, group_counts(rows, seconds))
    return touched


def _when(start: int) -> datetime:
    return datetime.fromtimestamp(start, tz=UTC)


def _merge(model, time_field: str, groups: dict[Key, Counts]) -> int:
    """Add each group's counts to its row: read the rows that exist (a range of the unique
    index), add, and write every row back in one upsert (INSERT … ON CONFLICT DO UPDATE)."""
    if not groups:
        return 0
    starts = [key[0] for key in groups]
    existing = {(int(getattr(r, time_field).timestamp()), r.product_id, r.model_version_id,
                 r.variant): r
                for r in model.objects.filter(**{f"{time_field}__gte": _when(min(starts)),
                                                 f"{time_field}__lte": _when(max(starts))},
                                              product_id__in={key[1] for key in groups})}
    rows = []
    for key, counts in groups.items():
        row = existing.get(key)
        if row is not None:
            neg, pos = unpack([row.buckets])
            counts.neg, counts.pos = counts.neg + neg, counts.pos + pos
            counts.flagged += row.flagged
            counts.flagged_positives += row.flagged_positives
            counts.brier_sum += row.brier_sum
        row = model(**{time_field: _when(key[0])}, product_id=key[1],
                    model_version_id=key[2], variant=key[3])
        _fill(row, counts)
        rows.append(row)
    model.objects.bulk_create(
        rows, batch_size=500, update_conflicts=True,
        unique_fields=[time_field, "product_id", "model_version", "variant"],
        update_fields=["rows", "positives", "flagged", "flagged_positives", "brier_sum",
                       "buckets"])
    return len(rows)


def _fill(row, counts: Counts) -> None:
    row.rows, row.positives = counts.rows, counts.positives
    row.flagged, row.flagged_positives = counts.flagged, counts.flagged_positives
    row.brier_sum = counts.brier_sum
    row.buckets = pack(counts.neg, counts.pos)


def _variant_sums(rows, trunc: str, *, shadow: bool):
    """Per (period, product, version, variant, bucket): rows without and with a spike, rows
    flagged, flagged spikes and Σ squared error, summed by the database (one variant side)."""
    score, threshold = (F("shadow_score"), F("shadow_threshold")) if shadow else \
        (F("score"), F("threshold"))
    variant = "shadow_variant" if shadow else "variant"
    if shadow:
        rows = rows.exclude(shadow_variant=F("variant")).exclude(shadow_threshold=None)
    y = Case(When(outcome__realized_label=True, then=Value(1.0)), default=Value(0.0),
             output_field=FloatField())
    flag = Case(When(**{f"{'shadow_score' if shadow else 'score'}__gte": threshold},
                     then=Value(1)), default=Value(0), output_field=IntegerField())
    bucket = Cast(Least(Floor(score * SCORE_BUCKETS), Value(SCORE_BUCKETS - 1)),
                  IntegerField())
    return (rows.annotate(at=Trunc("event_ts", trunc), b=bucket, v=F(variant), f=flag)
            .values("at", "product_id", "model_version_id", "v", "b")
            .annotate(neg=Count("id", filter=Q(outcome__realized_label=False)),
                      pos=Count("id", filter=Q(outcome__realized_label=True)),
                      flagged=Sum("f"),
                      flagged_pos=Sum("f", filter=Q(outcome__realized_label=True)),
                      brier=Sum((score - y) * (score - y)))
            .order_by())


def _rollup_sums(rows, trunc: str, *, shadow: bool):
    """One variant side's sums per rollup row: (period start, product, version, variant,
    bucket indexes, rows without a spike, rows with one (both per bucket), flagged, flagged
    spikes, Σ squared error). The database groups twice: per bucket, then per rollup row,
    gathering the buckets into arrays (PostgreSQL) or JSON arrays (SQLite)."""
    sql, params = _variant_sums(rows, trunc, shadow=shadow).query.sql_with_params()
    postgres = connection.vendor == "postgresql"
    agg = "array_agg" if postgres else "json_group_array"
    outer = (f"SELECT at, product_id, model_version_id, v, {agg}(b), {agg}(neg), {agg}(pos), "
             f"SUM(flagged), SUM(flagged_pos), SUM(brier) FROM ({sql}) AS per_bucket "
             f"GROUP BY at, product_id, model_version_id, v")
    with connection.cursor() as cursor:
        cursor.execute(outer, params)
        for at, product, version, variant, b, neg, pos, flagged, fpos, brier in cursor:
            if not postgres:
                at = timezone.make_aware(parse_datetime(at), UTC) if isinstance(at, str) else at
                b, neg, pos = json.loads(b), json.loads(neg), json.loads(pos)
            yield (int(at.timestamp()), product, int(version), variant, b, neg, pos,
                   int(flagged or 0), int(fpos or 0), float(brier or 0.0))


def live_rollups_rebuild(*, since: datetime | None = None, minutes_since: datetime | None = None
                         ) -> dict[str, int]:
    """Recompute the rollups from the matured rows: hour and day rows from `since` on (all
    when None), minute rows from `minutes_since` on (default: the same). The database sums per
    score bucket and rollup row; this packs each row's buckets. Rows of the rebuilt span are
    replaced in one transaction. Returns the rows written per table."""
    from django.db import transaction

    matured = Prediction.objects.filter(outcome__realized_label__isnull=False)
    written = {}
    for model, time_field, seconds in PERIODS:
        start = minutes_since if (time_field == "minute" and minutes_since) else since
        if start is not None:
            start = _period_floor(start, seconds)  # whole periods: none is rebuilt from a part
        rows = matured if start is None else matured.filter(event_ts__gte=start)
        counts: dict[Key, Counts] = {}
        for shadow in (False, True):
            for at, product, version, variant, b, neg, pos, flagged, fpos, brier in \
                    _rollup_sums(rows, time_field, shadow=shadow):
                c = counts.setdefault((at, product, version, variant), Counts())
                index = np.asarray(b, dtype=np.int64)
                np.add.at(c.neg, index, np.asarray(neg, dtype=np.int64))
                np.add.at(c.pos, index, np.asarray(pos, dtype=np.int64))
                c.flagged += flagged
                c.flagged_positives += fpos
                c.brier_sum += brier
        objects = []
        for key, c in counts.items():
            row = model(**{time_field: _when(key[0])}, product_id=key[1],
                        model_version_id=key[2], variant=key[3])
            _fill(row, c)
            objects.append(row)
        with transaction.atomic():
            rollups_lock()
            old = model.objects.all()
            if start is not None:
                old = old.filter(**{f"{time_field}__gte": start})
            old.delete()
            model.objects.bulk_create(objects, batch_size=2000)
        written[model._meta.model_name] = len(objects)
    return written


def _period_floor(at: datetime, seconds: int) -> datetime:
    return _when(int(at.timestamp()) // seconds * seconds)
