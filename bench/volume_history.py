"""Build a month of history in PostgreSQL with set-based SQL, for bench/volume.py.

The history is written in the schema of migration 0007 (outcomes still columns of the
prediction row), so that bench/volume.py times the later migrations, 0009's move of the
outcomes into their own table included, on the full table.

Predictions at a fixed rate over several products (one INSERT … SELECT per day of rows, over
generate_series), labels matured except the last minutes, a month of SLO and tick-latency
minute rows with their hour rows, drift reports every 15 minutes and a few configuration
changes. The prediction table's secondary indexes are dropped for the load and built again
after it (as a restore would), except those that later migrations add: bench/volume.py times
those migrations on the full table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD")
MATURE_AFTER = timedelta(minutes=2)  # rows younger than this have no label yet
TABLE = "predictions_prediction"


FEATURE_ROWS = 1000  # distinct feature objects, cycled over the rows (building one per row
#                     is most of the load's time, and no page or job depends on the values)


def _features_table(cursor, names: list[str]) -> None:
    """A temporary table of FEATURE_ROWS JSON objects of the model's features."""
    pairs = ", ".join(f"'{n}', round((random() * 0.002)::numeric, 7)" for n in names)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS bench_features AS SELECT k, "
                   f"jsonb_build_object({pairs}) AS f FROM generate_series(0, "
                   f"{FEATURE_ROWS - 1}) AS k")


def _insert_sql() -> str:
    products = ", ".join(f"'{p}'" for p in PRODUCTS)
    return f"""
INSERT INTO {TABLE} (product_id, event_ts, created_at, features, variant, score, label,
    threshold, shadow_variant, shadow_score, model_version_id, topic, "partition", "offset",
    tick_index, mid, shadow_threshold, realized_label, forward_rv, matured_at)
SELECT (ARRAY[{products}])[1 + g %% {len(PRODUCTS)}], e.ts, e.ts + interval '150 milliseconds',
    bf.f, 'ml', s.score, s.score >= 0.5, 0.5, 'baseline', s.shadow,
    %(version)s, 'ticks.raw', g %% 3, g / 3, 0,
    100000 * exp(0.002 * sin(g / 700.0) + 0.0004 * s.u),
    0.4,
    CASE WHEN e.ts < %(matured_before)s THEN s.y END,
    CASE WHEN e.ts < %(matured_before)s THEN 0.0002 + 0.001 * s.u END,
    CASE WHEN e.ts < %(matured_before)s THEN e.ts + interval '61 seconds' END
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
JOIN bench_features bf ON bf.k = g %% {FEATURE_ROWS}
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + g * %(step)s * interval '1 second' AS ts) e
CROSS JOIN LATERAL (SELECT random() < 0.1 + 0 * g AS y, random() AS u) r
CROSS JOIN LATERAL (SELECT r.y, r.u,
    least(greatest(0.05 + 0.5 * r.y::int * random() + 0.4 * random(), 0.0001), 0.9999) AS score,
    least(greatest(0.05 + 0.4 * r.y::int * random() + 0.5 * random(), 0.0001), 0.9999) AS shadow
    ) s
ORDER BY g  -- ids in time order, as the consumer writes them
"""


def secondary_indexes(cursor) -> list[tuple[str, str]]:
    """(drop, create) statements of the prediction table's indexes and unique constraints
    other than its primary key."""
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'u'", [TABLE])
    constraints = cursor.fetchall()
    out = [(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"',
            f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
           for name, definition in constraints]
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                   "AND indexname NOT LIKE %s", [TABLE, "%pkey"])
    taken = {name for name, _ in constraints}
    out += [(f'DROP INDEX "{name}"', definition)
            for name, definition in cursor.fetchall() if name not in taken]
    return out


def load_predictions(cursor, *, version_id: int, names: list[str], end: datetime, days: float,
                     rate_hz: float, progress: Callable[[int], None]) -> int:
    """Predictions at `rate_hz` (over all products) for `days` days ending at `end`."""
    rows = int(days * 86400 * rate_hz)
    per_chunk = max(int(86400 * rate_hz), 1)
    start = end - timedelta(seconds=rows / rate_hz)
    _features_table(cursor, names)
    cursor.execute("SET synchronous_commit = off")  # a load: nothing waits on each commit
    sql = _insert_sql()
    for lo in range(0, rows, per_chunk):
        hi = min(lo + per_chunk, rows) - 1
        cursor.execute(sql, {"version": version_id, "matured_before": end - MATURE_AFTER,
                             "lo": lo, "hi": hi, "start": start, "step": 1.0 / rate_hz})
        progress(hi - lo + 1)
    return rows


def load_slo_minutes(cursor, *, end: datetime, days: int) -> None:
    """Every SLO counted every minute, and tick latencies, for `days` days ending at `end`;
    the hour rows as the flush keeps them."""
    minutes = days * 1440
    cursor.execute("""
INSERT INTO monitoring_slominute (slo, minute, good, total)
SELECT slo, date_trunc('minute', %(end)s::timestamptz) - m * interval '1 minute',
       CASE WHEN slo LIKE '%%freshness' THEN 1 ELSE 600 - (m %% 97 = 0)::int END,
       CASE WHEN slo LIKE '%%freshness' THEN 1 ELSE 600 END
FROM generate_series(0, %(minutes)s - 1) AS m,
     unnest(ARRAY['api_availability', 'api_latency', 'stream_latency',
                  'prediction_freshness', 'drift_freshness']) AS slo""",
                   {"end": end, "minutes": minutes})
    cursor.execute("""
INSERT INTO monitoring_ticklatencyminute (minute, ticks, le_100ms, le_250ms, le_500ms, le_1s,
    le_2500ms, le_5s, le_10s, le_30s, le_60s)
SELECT date_trunc('minute', %(end)s::timestamptz) - m * interval '1 minute',
       600, 240, 480, 580, 594, 600, 600, 600, 600, 600
FROM generate_series(0, %(minutes)s - 1) AS m""", {"end": end, "minutes": minutes})


def load_drift_reports(cursor, *, version_id: int, end: datetime, days: int) -> None:
    """A drift report every 15 minutes (no HTML: housekeeping keeps it on the newest only)."""
    cursor.execute("""
INSERT INTO drift_driftreport (created_at, status, message, model_version_id, method,
    reference_rows, current_rows, n_features, n_drifted, share_drifted, share_threshold,
    dataset_drift, features, html)
SELECT %(end)s::timestamptz - k * interval '15 minutes', 'ok', '', %(version)s, 'wasserstein',
       2000, 5000, 15, k %% 4, (k %% 4) / 15.0, 0.5, false, '[]'::jsonb, ''
FROM generate_series(1, %(n)s) AS k""", {"end": end, "version": version_id, "n": days * 96})
