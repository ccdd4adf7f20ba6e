"""A backtest over 7 days at 10 ticks/s (about 6 M matured rows) in PostgreSQL: rows/s and peak
memory of `manage.py backtest`, against the goal of issue #21 (within 2 minutes on this 2-core
machine, memory bounded).

Steps:
1. a scratch database, migrated; a small model trained on simulated history and promoted;
2. the history built with set-based SQL in the current schema (bench/volume_history.py's
   feature objects and index handling: one INSERT … SELECT per day over generate_series, the
   secondary indexes built after the load), every row of the current feature set, each with
   its PredictionOutcome; then VACUUM ANALYZE;
3. `manage.py backtest --since 8d` in a child process: its wall time, rows/s and peak resident
   memory (the child's ru_maxrss).

Environment: BENCH_PG (postgres://postgres@127.0.0.1:5432), BENCH_BACKTEST_DAYS (7),
BENCH_BACKTEST_RATE (10 ticks/s), BENCH_BACKTEST_KEEP=1 keeps the database and reuses it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import volume_history as H  # noqa: E402
from bench.common import table  # noqa: E402
from bench.volume import admin_sql, database_exists, setup_django  # noqa: E402

DB = "volsite_bench_backtest"
DAYS = float(os.environ.get("BENCH_BACKTEST_DAYS", "7"))
RATE = float(os.environ.get("BENCH_BACKTEST_RATE", "10"))
KEEP = os.environ.get("BENCH_BACKTEST_KEEP") == "1"
GOAL_S = 120.0

INSERT = f"""
INSERT INTO {H.TABLE} (product_id, event_ts, created_at, features, variant, score, label,
    threshold, shadow_variant, shadow_score, model_version_id, topic, "partition", "offset",
    tick_index, mid, shadow_threshold, feature_set)
SELECT (ARRAY[{", ".join(f"'{p}'" for p in H.PRODUCTS)}])[1 + g %% {len(H.PRODUCTS)}], e.ts,
    e.ts + interval '150 milliseconds', bf.f, 'ml', s.score, s.score >= 0.5, 0.5, 'baseline',
    s.shadow, %(version)s, 'ticks.raw', g %% 3, g / 3, 0, 100000.0, 0.4, %(feature_set)s
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
JOIN bench_features bf ON bf.k = g %% {H.FEATURE_ROWS}
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + g * %(step)s * interval '1 second' AS ts) e
CROSS JOIN LATERAL (SELECT least(greatest(0.05 + 0.9 * random() + 0 * g, 0.0001), 0.9999)
    AS score, least(greatest(0.05 + 0.9 * random() + 0 * g, 0.0001), 0.9999) AS shadow) s
ORDER BY g
"""
OUTCOMES = f"""
INSERT INTO predictions_predictionoutcome (prediction_id, realized_label, forward_rv, matured_at)
SELECT id, random() < 0.2 * score, 0.001, event_ts + interval '61 seconds' FROM {H.TABLE}
"""


def build() -> dict:
    """Migrate, train and promote, load the rows and their outcomes, index, vacuum."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from predictions.core.features import FEATURE_SET_VERSION
    from predictions.models import ServiceConfig

    call_command("migrate", verbosity=0)
    call_command("train", hours=1.0, activate=True, verbosity=0)
    version = ServiceConfig.load().active_model_version
    rows = int(DAYS * 86400 * RATE)
    per_day = int(86400 * RATE)
    end = timezone.now() - timedelta(minutes=5)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        indexes = H.secondary_indexes(cursor)
        for drop, _ in indexes:
            cursor.execute(drop)
        H._features_table(cursor, list(version.feature_names))
        cursor.execute("SET synchronous_commit = off")
        for lo in range(0, rows, per_day):
            cursor.execute(INSERT, {"version": version.pk, "feature_set": FEATURE_SET_VERSION,
                                    "lo": lo, "hi": min(lo + per_day, rows) - 1,
                                    "start": end - timedelta(seconds=rows / RATE),
                                    "step": 1.0 / RATE})
            print(f"  loaded {min(lo + per_day, rows):,} rows", flush=True)
        cursor.execute(OUTCOMES)
        for _, create in indexes:
            cursor.execute(create)
        cursor.execute(f"VACUUM (ANALYZE) {H.TABLE}")
        cursor.execute("VACUUM (ANALYZE) predictions_predictionoutcome")
        cursor.execute("CREATE TABLE bench_backtest_meta (built jsonb)")
        built = {"rows": rows, "build_s": time.perf_counter() - started,
                 "version": version.name}
        cursor.execute("INSERT INTO bench_backtest_meta VALUES (%s)", [json.dumps(built)])
    return built


def built_before() -> dict | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_backtest_meta')")
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute("SELECT built FROM bench_backtest_meta")
        row = cursor.fetchone()
    return (json.loads(row[0]) if isinstance(row[0], str) else row[0]) if row else None


def run_backtest(version: str) -> dict:
    """`manage.py backtest` in a child process: wall time and the child's peak RSS."""
    out = Path(tempfile.mkdtemp(prefix="volsite-bench-backtest-")) / "report.json"
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "backtest", "--model-version", version,
                    "--since", f"{DAYS + 1:g}d", "--json-out", str(out)], check=True,
                   cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(out.read_text())
    return {"seconds": seconds, "peak_mb": peak_mb, "rows": report["rows"],
            "inner_s": report["seconds"], "pr_auc": report["overall"]["intervals"]["pr_auc"]}


def main() -> int:
    reuse = KEEP and database_exists(DB)
    if not reuse:
        admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{DB}"')
    try:
        setup_django(DB)
        built = (built_before() if reuse else None) or build()
        from django.db import connections

        connections.close_all()
        result = run_backtest(built["version"])
    finally:
        from django.db import connections

        connections.close_all()
        if not KEEP:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    ok = result["seconds"] <= GOAL_S
    print(table(f"Backtest of {built['rows']:,} rows ({DAYS:g} d at {RATE:g} ticks/s, "
                f"built in {built['build_s']:.0f} s)",
                ["measure", "value", "goal"],
                [["wall time of manage.py backtest, s", f"{result['seconds']:.1f}",
                  f"≤ {GOAL_S:.0f}"],
                 ["of which the backtest itself, s", f"{result['inner_s']:.1f}", ""],
                 ["matured rows compared", f"{result['rows']:,}", ""],
                 ["rows/s", f"{result['rows'] / result['seconds']:,.0f}", ""],
                 ["peak resident memory, MB", f"{result['peak_mb']:.0f}", "bounded"]]))
    print(f"\nverdict: {'goal met' if ok else 'goal MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
