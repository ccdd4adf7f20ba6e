"""A month of history at production rates: every page, endpoint, scrape and job, timed with
7 days at 0.1 tick/s (the growth reference), 7 days at 10 ticks/s and 30 days at 10 ticks/s
(25.9 M predictions) in PostgreSQL.

Steps, per volume, in a child process of its own (a scratch database each):
1. create the database and migrate it up to the live rollups (0007); train a small model on
   simulated history and promote it;
2. load the history with set-based SQL (bench/volume_history.py: 4 products, labels matured
   but for the last 2 minutes, a month of SLO minute rows, drift reports every 15 minutes);
   the prediction table's indexes are built after the load, then VACUUM ANALYZE;
3. apply the migrations after 0007 on the full table, each timed (how long it takes on a
   live table of that size), and rebuild the live rollups (timed);
4. time each page and endpoint in-process (Django's test client, the median of BENCH_ROUNDS
   after a warm-up): the admin index (the overview), /admin/overview.json, the predictions
   admin list, a filtered page and a detail page, the history API page, latest, served-at,
   the SLO page, and /metrics with its cached live figures dropped (the slow path);
5. time the jobs: a drift report (Evidently included), label maturing of the last day's rows
   made undecided again (rows/s, the longest transaction, runs of LABEL_MATURE_RUN_SECONDS),
   and retention of the oldest day's rows while a writer inserts a batch every 100 ms like
   the consumer (seconds, and the writer's longest wait); beside it, the alternative of a
   daily partition, detached and dropped.
The parent prints the pages with the volumes side by side and each one's growth (30 days at
10 ticks/s over 7 days at 0.1 tick/s), the jobs, the goals of issue #17 and a verdict; the exit
status is 0 only when every goal is met.

Environment: BENCH_PG (postgres://postgres@127.0.0.1:5432), BENCH_ROUNDS (5),
BENCH_VOLUMES (small,week,month), BENCH_VOLUME_KEEP=1 keeps the databases and reuses a complete
one on the next run (the first build of all three takes about half an hour here).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import table  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
KEEP = os.environ.get("BENCH_VOLUME_KEEP") == "1"
# name: (days, ticks per second over all products, label)
VOLUMES = {"small": (7, 0.1, "7 d @ 0.1/s"), "week": (7, 10.0, "7 d @ 10/s"),
           "month": (30, 10.0, "30 d @ 10/s")}
PAGES = [  # (name, goal in ms)
    ("admin index (overview)", 300), ("/admin/overview.json", 300),
    ("predictions admin list", 300), ("predictions admin, filtered", 300),
    ("predictions admin, detail", 300), ("history API page", 50), ("latest API", 50),
    ("served-at API", 50), ("SLO page", 300), ("/metrics, slow path", 300),
]
GROWTH_LIMIT = 2.0


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [name]).fetchone() is not None


def setup_django(db_name: str) -> None:
    os.environ.update({
        "DATABASE_URL": f"{PG}/{db_name}", "DJANGO_SECRET_KEY": "bench-only",
        "VOLSITE_RUNTIME_DIR": tempfile.mkdtemp(prefix="volsite-bench-volume-"),
        "DJANGO_SETTINGS_MODULE": "volsite.settings", "LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "testserver", "DATABASE_STATEMENT_TIMEOUT_MS": "0",
        "TQDM_DISABLE": "1",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest, as deployed


def median_ms(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm-up: templates, the configuration, connections
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


# --- building ---------------------------------------------------------------------------------

def build(volume: str) -> dict:
    """Migrate to 0007, train and promote a model, load the history, then apply the later
    migrations (timed) and rebuild the rollups (timed)."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from tqdm import tqdm

    from bench import volume_history as H
    from predictions.models import ModelVersion, ServiceConfig

    days, rate, _ = VOLUMES[volume]
    out: dict = {}
    call_command("migrate", "predictions", "0007_live_rollups", verbosity=0)
    for app in ("contenttypes", "auth", "admin", "sessions", "authtoken", "django_celery_beat",
                "django_celery_results", "monitoring", "drift"):
        call_command("migrate", app, verbosity=0)
    call_command("train", hours=1.0, activate=True, verbosity=0)
    version = ServiceConfig.load().active_model_version
    names = list(ModelVersion.objects.get(pk=version.pk).feature_names)
    end = timezone.now()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        indexes = H.secondary_indexes(cursor)
        for drop, _ in indexes:
            cursor.execute(drop)
        total = int(days * 86400 * rate)
        with tqdm(total=total, desc=f"{volume}: predictions", unit="row",
                  disable=not sys.stderr.isatty()) as bar:
            H.load_predictions(cursor, version_id=version.pk, names=names, end=end, days=days,
                               rate_hz=rate, progress=bar.update)
        loaded = time.perf_counter() - started
        for _, create in indexes:
            cursor.execute(create)
        H.load_slo_minutes(cursor, end=end, days=30)
        H.load_drift_reports(cursor, version_id=version.pk, end=end, days=30)
    from monitoring.services import slo_hours_rebuild

    slo_hours_rebuild()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {H.TABLE}")
    out["rows"] = total
    out["load_s"] = loaded
    out["load_and_index_s"] = time.perf_counter() - started
    out["migrations"] = migrate_timed()
    from predictions.services.live_rollups import live_rollups_rebuild

    started = time.perf_counter()
    live_rollups_rebuild(minutes_since=timezone.now() - timedelta(hours=48))
    out["rollups_rebuild_s"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_volume_meta (built jsonb)")
        cursor.execute("INSERT INTO bench_volume_meta VALUES (%s)", [json.dumps(out)])
    return out


def migrate_timed() -> list[list]:
    """Apply each migration not applied yet, one by one: [[name, seconds], …]."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    plan = MigrationExecutor(connection).migration_plan(
        MigrationExecutor(connection).loader.graph.leaf_nodes())
    timed = []
    for migration, _ in plan:
        started = time.perf_counter()
        call_command("migrate", migration.app_label, migration.name, verbosity=0)
        timed.append([f"{migration.app_label}.{migration.name}", time.perf_counter() - started])
    return timed


def built_before() -> dict | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_volume_meta') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT built FROM bench_volume_meta")
        row = cursor.fetchone()
    return None if row is None else (json.loads(row[0]) if isinstance(row[0], str) else row[0])


# --- pages ------------------------------------------------------------------------------------

def measure_pages() -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from monitoring.collectors import forget_live_cache
    from predictions.models import Prediction

    User = get_user_model()
    user = User.objects.filter(username="bench").first() or \
        User.objects.create_superuser("bench", "b@example.com", "pw-bench-1")
    token, _ = Token.objects.get_or_create(user=user)
    staff, api = Client(), Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    staff.force_login(user)
    newest = Prediction.objects.order_by("-event_ts", "-id").values_list("id", flat=True).first()
    at = (timezone.now() - timedelta(hours=3)).isoformat().replace("+", "%2B")

    def get(client, url):
        def call():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        return call

    def metrics_slow():
        forget_live_cache()
        get(staff, "/metrics")()

    urls = {
        "admin index (overview)": get(staff, "/admin/"),
        "/admin/overview.json": get(staff, "/admin/overview.json"),
        "predictions admin list": get(staff, "/admin/predictions/prediction/"),
        "predictions admin, filtered": get(
            staff, "/admin/predictions/prediction/?product_id__exact=ETH-USD&variant__exact=ml"),
        "predictions admin, detail": get(staff,
                                         f"/admin/predictions/prediction/{newest}/change/"),
        "history API page": get(api, "/api/v1/predictions?product_id=BTC-USD"),
        "latest API": get(api, "/api/v1/products/BTC-USD/latest"),
        "served-at API": get(api, f"/api/v1/served-at?at={at}"),
        "SLO page": get(staff, "/slo/"),
        "/metrics, slow path": metrics_slow,
    }
    return {name: median_ms(fn) for name, fn in urls.items()}


# --- jobs -------------------------------------------------------------------------------------

def measure_drift() -> float:
    from drift.services import drift_report_create

    drift_report_create()  # warm-up: Evidently's import, as a worker has it loaded
    times = []
    for _ in range(3):
        started = time.perf_counter()
        report = drift_report_create()
        times.append(time.perf_counter() - started)
        assert report.status == "ok", report.message
    return statistics.median(times)


def measure_maturing() -> dict:
    """Make the last day's rows undecided again (a worker outage's backlog: their outcomes
    gone, their pending rows back), then run label maturing as beat would, run after run,
    until none is left."""
    from django.db import connection
    from django.utils import timezone

    from predictions.services import labels
    from predictions.services.live_rollups import live_rollups_rebuild

    since = timezone.now() - timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM predictions_predictionoutcome o USING "
                       "predictions_prediction p WHERE o.prediction_id = p.id "
                       "AND p.event_ts >= %s", [since])
        backlog = cursor.rowcount
        cursor.execute("INSERT INTO predictions_labelpending (prediction_id, product_id, "
                       "event_ts) SELECT id, product_id, event_ts FROM predictions_prediction "
                       "WHERE event_ts >= %s ON CONFLICT DO NOTHING", [since])
        cursor.execute("VACUUM (ANALYZE) predictions_predictionoutcome, "
                       "predictions_labelpending")
    transactions: list[float] = []
    write = labels._write

    def timed_write(*args, **kwargs):
        started = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            transactions.append(time.perf_counter() - started)

    labels._write = timed_write
    runs, decided, started = 0, 0, time.perf_counter()
    try:
        while True:
            n = labels.prediction_labels_mature()
            runs += 1
            decided += n
            if n == 0:
                break
    finally:
        labels._write = write
    elapsed = time.perf_counter() - started
    live_rollups_rebuild(since=since)  # the day counted again: set its rollups right
    return {"backlog": backlog, "decided": decided, "seconds": elapsed, "runs": runs,
            "rows_per_s": decided / elapsed, "longest_transaction_ms":
            max(transactions) * 1000.0, "transactions": len(transactions)}


def measure_retention() -> dict:
    """Delete the oldest day while a writer inserts 20 rows every 100 ms (the consumer's
    pace); then put the day back (so a kept database stays the same)."""
    from django.conf import settings
    from django.db import connection, connections
    from django.db.models import Min

    from monitoring.services import predictions_delete_before
    from predictions.models import Prediction

    oldest = Prediction.objects.aggregate(t=Min("created_at"))["t"]
    cutoff = oldest + timedelta(days=1)
    day = Prediction.objects.filter(created_at__lt=cutoff).count()
    with connection.cursor() as cursor:  # a copy of the day, to put back after
        cursor.execute("CREATE TEMP TABLE day_copy AS SELECT * FROM predictions_prediction "
                       "WHERE created_at < %s", [cutoff])
    waits: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        template = Prediction.objects.order_by("-id").first()
        offset = 10**12
        try:
            while not stop.is_set():
                rows = []
                for _ in range(20):
                    offset += 1
                    template.pk, template.offset, template.topic = None, offset, "bench-writer"
                    rows.append(Prediction(**{f.attname: getattr(template, f.attname)
                                              for f in Prediction._meta.concrete_fields}))
                started = time.perf_counter()
                Prediction.objects.bulk_create(rows)
                waits.append(time.perf_counter() - started)
                time.sleep(0.1)
        finally:
            Prediction.objects.filter(topic="bench-writer").delete()
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.0)
    started = time.perf_counter()
    deleted = predictions_delete_before(cutoff)
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    thread.join()
    partition = measure_partition_drop(day)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO predictions_prediction SELECT * FROM day_copy "
                       "ON CONFLICT DO NOTHING")
        cursor.execute("DROP TABLE day_copy")
    return {"day_rows": day, "deleted": deleted, "seconds": seconds,
            "chunk_ids": settings.RETENTION_DELETE_IDS,
            "writer_longest_ms": max(waits) * 1000.0, "writer_batches": len(waits),
            **partition}


def measure_partition_drop(rows: int) -> dict:
    """The alternative considered: a table partitioned by day, where retention detaches and
    drops a day's partition. Built from the same day's rows in a scratch table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_parted (LIKE predictions_prediction) "
                       "PARTITION BY RANGE (created_at)")
        cursor.execute("CREATE TABLE bench_parted_day PARTITION OF bench_parted "
                       "FOR VALUES FROM (MINVALUE) TO (MAXVALUE)")
        cursor.execute("INSERT INTO bench_parted SELECT * FROM day_copy")
        started = time.perf_counter()
        cursor.execute("ALTER TABLE bench_parted DETACH PARTITION bench_parted_day")
        cursor.execute("DROP TABLE bench_parted_day")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_parted")
    return {"partition_rows": rows, "partition_drop_s": seconds}


# --- one volume, in its own process -------------------------------------------------------------

def run_volume(volume: str, json_out: str) -> None:
    db_name = f"volsite_bench_volume_{volume}"
    reuse = KEEP and database_exists(db_name)
    if not reuse:
        admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{db_name}"')
    try:
        setup_django(db_name)
        built = built_before() if reuse else None
        if built is None:
            if reuse:  # an unfinished build: start again
                from django.db import connections

                connections.close_all()
                admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                admin_sql(f'CREATE DATABASE "{db_name}"')
            built = build(volume)
        else:  # a kept database: bring it up to the code's migrations (timed)
            built = {**built, "migrations": built["migrations"] + migrate_timed()}
        result = {"volume": volume, "built": built, "pages": measure_pages(),
                  "drift_s": measure_drift(), "maturing": measure_maturing(),
                  "retention": measure_retention()}
        Path(json_out).write_text(json.dumps(result))
    finally:
        from django.db import connections

        connections.close_all()
        if not KEEP:
            admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# --- the report -------------------------------------------------------------------------------

def report(results: dict[str, dict]) -> bool:
    names = [v for v in VOLUMES if v in results]
    ok = True
    rows = []
    for page, goal in PAGES:
        values = [results[v]["pages"][page] for v in names]
        growth = (results["month"]["pages"][page] / results["small"]["pages"][page]
                  if {"month", "small"} <= set(names) else None)
        at_month = results.get("month", results[names[-1]])["pages"][page]
        met = at_month <= goal and (growth is None or growth <= GROWTH_LIMIT)
        ok &= met
        rows.append([page, *(f"{v:.1f}" for v in values),
                     "—" if growth is None else f"{growth:.2f}×", f"≤ {goal}",
                     "ok" if met else "MISSED"])
    header = ["page (median ms)", *(VOLUMES[v][2] for v in names), "growth", "goal", ""]
    print(table("Pages and endpoints, in-process, median of "
                f"{ROUNDS} after a warm-up (growth: 30 d @ 10/s over 7 d @ 0.1/s, goal ≤ "
                f"{GROWTH_LIMIT:g}×)", header, rows))
    print()
    jobs = []
    for v in names:
        r, m, t = results[v], results[v]["maturing"], results[v]["retention"]
        jobs.append([VOLUMES[v][2], f"{r['built']['rows']:,}", f"{r['drift_s']:.2f}",
                     f"{m['rows_per_s']:,.0f} ({m['decided']:,} in {m['seconds']:.1f} s, "
                     f"{m['runs']} runs)", f"{m['longest_transaction_ms']:.0f}",
                     f"{t['seconds']:.2f} ({t['deleted']:,} rows)",
                     f"{t['writer_longest_ms']:.0f}", f"{t['partition_drop_s'] * 1000:.0f}"])
    print(table("Jobs", ["volume", "predictions", "drift report s (≤ 10)",
                         "label maturing rows/s (≥ 10,000)", "longest maturing tx ms (≤ 1000)",
                         "retention of a day s (≤ 10)", "writer's longest insert ms",
                         "alt.: drop a day partition ms"], jobs))
    for v in names:
        m, t = results[v]["maturing"], results[v]["retention"]
        ok &= results[v]["drift_s"] <= 10 and m["longest_transaction_ms"] <= 1000
        ok &= t["seconds"] <= 10 and t["writer_longest_ms"] <= 1000
        if v != "small":
            ok &= m["rows_per_s"] >= 10_000
    print()
    builds = []
    for v in names:
        b = results[v]["built"]
        migrations = "; ".join(f"{name} {s:.1f} s" for name, s in b["migrations"]) or "none"
        builds.append([VOLUMES[v][2], f"{b['load_s']:.0f}", f"{b['load_and_index_s']:.0f}",
                       f"{b['rollups_rebuild_s']:.1f}", migrations])
    print(table("Building the history (once; reused with BENCH_VOLUME_KEEP=1)",
                ["volume", "load s", "load + indexes + vacuum s", "live_rollups_rebuild s",
                 "migrations after 0007, on the full table"], builds))
    return ok


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--volume":
        run_volume(sys.argv[2], sys.argv[3])
        return 0
    chosen = [v for v in os.environ.get("BENCH_VOLUMES", ",".join(VOLUMES)).split(",") if v]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for volume in chosen:
            out = Path(tmp) / f"{volume}.json"
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--volume", volume, str(out)], check=True,
                           cwd=ROOT)
            print(f"volume {volume}: measured in {time.perf_counter() - started:.0f} s",
                  flush=True)
            results[volume] = json.loads(out.read_text())
    print()
    ok = report(results)
    print(f"\nverdict: {'every goal met' if ok else 'a goal was MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
