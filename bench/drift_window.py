"""Drift report cost against its window size (`drift_window_rows`, Service configuration).

Steps:
1. simulate 6 h of ticks of three products and compute the 15 features, as the stream does;
2. for each window size, in a fresh child process (so its peak memory is its own): build the
   current DataFrame from feature dicts as `drift_report_create` does with the rows it reads,
   and run Evidently's DataDriftPreset against a 2,000-row reference sample (the size training
   stores) with the default method, then its HTML, as the drift task does;
3. print wall time and peak memory of that step (tracemalloc: Python, numpy and pandas
   buffers) per size beside the default window (5,000 rows), and the child's peak RSS.
The database read of the rows is not included (about the cost of reading the same number of
prediction rows; see docs/performance.md). Environment: BENCH_DRIFT_SIZES (comma-separated,
default 2000,5000,20000,50000,100000).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = [int(s) for s in os.environ.get("BENCH_DRIFT_SIZES",
                                        "2000,5000,20000,50000,100000").split(",")]
DEFAULT = 5000
REFERENCE_ROWS = 2000


def one(size: int) -> dict:
    """Child process: one drift run of `size` current rows; prints its numbers as JSON."""
    import numpy as np
    import pandas as pd

    from drift.evidently_report import run_drift
    from predictions.core.features import batch_features
    from predictions.core.simulator import simulate_history

    ticks = simulate_history(["BTC-USD", "ETH-USD", "SOL-USD"], seed=2, start_ts=1.7e9,
                             duration_s=6 * 3600)
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    names = list(frame.names)
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(frame.X[rng.choice(len(frame.X), REFERENCE_ROWS)], columns=names)
    rows = frame.X[rng.choice(len(frame.X), size)]
    dicts = [dict(zip(names, map(float, row))) for row in rows]  # as JSON rows come back
    import evidently  # noqa: F401 - its import (seconds) is not the window's cost

    tracemalloc.start()  # numpy and pandas report their buffers to it
    started = time.perf_counter()
    current = pd.DataFrame([[d.get(n) for n in names] for d in dicts], columns=names)
    result = run_drift(reference, current, method="wasserstein", threshold=None, share=0.5)
    seconds = time.perf_counter() - started
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "seconds": seconds, "peak_mb": peak_mb, "rss_mb": rss_mb,
            "html_mb": len(result.html) / 1e6, "drifted": result.n_drifted}


def main() -> None:
    from bench.common import table

    results = []
    for size in SIZES:
        out = subprocess.run([sys.executable, __file__, "--one", str(size)], cwd=ROOT,
                             capture_output=True, text=True, timeout=1800,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = next((r for r in results if r["size"] == DEFAULT), results[0])
    print(table(f"Drift report against its window size (reference {REFERENCE_ROWS} rows, "
                f"wasserstein, with the HTML); ratios against the default {base['size']} rows",
                ["current rows", "seconds", "× default", "peak MB (step)", "× default",
                 "process peak RSS MB", "HTML MB"],
                [[f"{r['size']:,}", f"{r['seconds']:.2f}", f"{r['seconds'] / base['seconds']:.2f}",
                  f"{r['peak_mb']:.0f}", f"{r['peak_mb'] / base['peak_mb']:.2f}",
                  f"{r['rss_mb']:.0f}", f"{r['html_mb']:.1f}"] for r in results]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]))))
    else:
        main()
