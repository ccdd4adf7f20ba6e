"""Each lever of the predict path on its own (issue #18): our server under the production
command with one setting changed at a time, 1 row per request, 16 connections, so the gain of
each lever is read against the same run's others.

Rows (`BENCH_LEVERS_BASE=<git ref>` adds the code of that commit first, checked out into a
temporary worktree and served on the same database, e.g. the commit before the lean handler):
- lean handler, counts published per request, every request counted in the throttle cache
  (`METRICS_PUBLISH_SECONDS=0 API_THROTTLE_RESERVE=1`);
- + counts published once a second (`API_THROTTLE_RESERVE=1`);
- + throttle blocks: the defaults;
- the defaults with the throttle counts in Redis (`CACHE_URL`), and the same with
  `API_THROTTLE_RESERVE=1` (one Redis round trip per request).

Command: `OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/api_levers.py`; settings as in
bench/api.py (BENCH_SECONDS, BENCH_ROUNDS, BENCH_WEB_WORKERS). Needs wrk; the Redis rows need
Redis on 127.0.0.1:6379 (left out otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.api import (
    LUA,
    ROOT,
    WORKERS,
    drop_database,
    free_port,
    prepare,
    scratch_database,
    stop_servers,
    wait_healthy,
    wrk,
)
from bench.common import table

SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REDIS = "redis://127.0.0.1:6379/14"

LEVERS: list[tuple[str, dict[str, str]]] = [
    ("lean handler; counts published per request; throttle counted per request",
     {"METRICS_PUBLISH_SECONDS": "0", "API_THROTTLE_RESERVE": "1"}),
    ("+ counts published once a second", {"API_THROTTLE_RESERVE": "1"}),
    ("+ throttle blocks of 64 (the defaults)", {}),
]
REDIS_LEVERS: list[tuple[str, dict[str, str]]] = [
    ("defaults, throttle in Redis, counted per request",
     {"CACHE_URL": REDIS, "API_THROTTLE_RESERVE": "1"}),
    ("defaults, throttle in Redis, blocks of 64", {"CACHE_URL": REDIS}),
]


def redis_up() -> bool:
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True,
                          text=True).stdout.strip() == "PONG"


def base_tree(ref: str, workdir: Path) -> Path:
    tree = workdir / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True,
                   capture_output=True)
    return tree


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/api_levers.py needs wrk: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="volsite-bench-levers-"))
    db_url, db_name = scratch_database(workdir)
    env = {**os.environ, "DATABASE_URL": db_url, "VOLSITE_RUNTIME_DIR": str(workdir),
           "DJANGO_SECRET_KEY": "bench-only", "DJANGO_SETTINGS_MODULE": "volsite.settings",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "WEB_CONCURRENCY": str(WORKERS), "API_THROTTLE_PREDICT": "100000000/minute"}
    env.pop("CACHE_URL", None)
    variants: list[tuple[str, Path, dict[str, str]]] = []
    base_ref = os.environ.get("BENCH_LEVERS_BASE")
    tree = None
    procs: list[subprocess.Popen] = []
    try:
        info = prepare(env, workdir)
        if base_ref:
            tree = base_tree(base_ref, workdir)
            variants.append((f"code of {base_ref} (defaults)", tree, {"PYTHONPATH": str(tree)}))
        variants += [(name, ROOT, extra) for name, extra in LEVERS]
        if redis_up():
            subprocess.run(["redis-cli", "-n", "14", "flushdb"], capture_output=True)
            variants += [(name, ROOT, extra) for name, extra in REDIS_LEVERS]
        body = json.dumps({"rows": [{n: 0.001 * (j + 1) for j, n in
                                     enumerate(info["features"])}]})
        script = workdir / "post1.lua"
        script.write_text(LUA.format(token=info["token"], body=body))
        bases = []
        log = open(workdir / "servers.log", "wb")
        for i, (_, cwd, extra) in enumerate(variants):
            port = free_port()
            metrics_dir = workdir / f"prometheus-{i}"
            metrics_dir.mkdir()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "volsite.web"], cwd=cwd, stdout=log,
                stderr=subprocess.STDOUT, env={**env, **extra, "WEB_BIND": f"127.0.0.1:{port}",
                                               "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}))
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            wait_healthy(base)
            wrk(base, script, 2, 16)  # warm-up
        best: dict[int, dict[str, float]] = {}
        for _ in range(ROUNDS):
            for i, base in enumerate(bases):
                run = wrk(base, script, SECONDS, 16)
                if i not in best or run["rps"] > best[i]["rps"]:
                    best[i] = run
                time.sleep(0.5)
        first = best[0]["rps"]
        rows = [[name, f"{best[i]['rps']:,.0f}", f"{best[i]['rps'] / first:.2f}x",
                 f"{best[i]['p50']:.2f}", f"{best[i]['p99']:.2f}", str(best[i]["non2xx"])]
                for i, (name, _, _) in enumerate(variants)]
        print(table(f"POST /api/v1/predict, 1 row, wrk -t1 -c16, best of {ROUNDS} × {SECONDS} s, "
                    f"{WORKERS} workers each (ratio: against the first row)",
                    ["lever", "req/s", "ratio", "p50 ms", "p99 ms", "non-2xx"], rows))
    finally:
        stop_servers(procs)
        drop_database(db_name)
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
