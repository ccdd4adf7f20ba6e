"""The simulator beside the real market: one table of BTC-USD statistics, real and simulated.

Simulated: the history `make run` trains its first model on (8 h of BTC-USD and ETH-USD,
seed 7), BTC-USD only. Real: the captured Coinbase BTC-USD sessions, read from
../shared/data/real-ticks/ when present (third-party data: read, never copied; without it
the real column is skipped with a message). `--write-docs` also writes the picture data to
docs/img/simulator_vs_real.json and draws docs/img/simulator_rv60.svg and
docs/img/simulator_path.svg from it (docs/simulator.md shows them).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from bench.common import table
from predictions.core.charts import line_chart_svg, step_histogram_svg
from predictions.core.features import batch_features
from predictions.core.labels import forward_realized_vol
from predictions.core.market_stats import REAL_SPIKE_THRESHOLD, ROWS, market_stats
from predictions.core.simulator import simulate_history
from predictions.core.ticks import Tick

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real-ticks" / "btc-usd-2025-11-to-12.ndjson.gz"
DOCS = ROOT / "docs" / "img"
HIST_EDGES_BPS = [i * 0.5 for i in range(31)]  # rv_60s in bps of log price, 0–15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL, help="real tick file(s)")
    parser.add_argument("--hours", type=float, default=8.0, help="simulated hours")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true",
                        help="write docs/img/simulator_vs_real.json and its SVGs")
    args = parser.parse_args()
    started = time.perf_counter()
    sim_ticks = simulate_history(["BTC-USD", "ETH-USD"], seed=args.seed, start_ts=1.7e9,
                                 duration_s=args.hours * 3600)
    seconds = time.perf_counter() - started
    print(f"simulated {args.hours:g} h of BTC-USD,ETH-USD (seed {args.seed}): "
          f"{len(sim_ticks):,} ticks in {seconds:.1f} s ({len(sim_ticks) / seconds:,.0f} ticks/s)")
    sim = market_stats(sim_ticks)
    real_ticks = _real_ticks(args.real)
    real = market_stats(real_ticks) if real_ticks else None
    print(_table(real, sim))
    if args.write_docs and real is None:
        print("not rewriting docs/img without the real column")
    elif args.write_docs:
        write_docs(_docs_data(real, sim, real_ticks, sim_ticks))


def _real_ticks(path: Path) -> list[Tick]:
    if not path.exists():
        print(f"real data not found at {path}: the real column is skipped")
        return []
    from predictions.core.tickfiles import read_ticks

    print(f"real: {path}")
    return read_ticks([str(path)]).ticks


def _table(real: dict | None, sim: dict) -> str:
    rows = []
    for key, label, fmt in ROWS:
        r = "—" if real is None else fmt.format(real[key])
        ratio = "—" if real is None or not real[key] else f"{sim[key] / real[key]:.2f}"
        rows.append([label, r, fmt.format(sim[key]), ratio])
    return table(f"BTC-USD, real vs simulated (spike threshold {REAL_SPIKE_THRESHOLD})",
                 ["statistic", "real", "simulated", "sim/real"], rows)


def rv60_shares(ticks: list[Tick]) -> list[float]:
    """Share of BTC-USD ticks per rv_60s bin (bps): the distribution, binned."""
    mine = [t for t in ticks if t.product_id == "BTC-USD"]
    frame = batch_features(mine, [60], 30.0)
    rv = frame.X[:, frame.names.index("rv_60s")] * 1e4
    counts, _ = np.histogram(np.clip(rv, 0, HIST_EDGES_BPS[-1]), HIST_EDGES_BPS)
    return [round(float(c) / len(rv), 5) for c in counts]


def sample_path(ticks: list[Tick], step_s: float = 20.0) -> dict:
    """The simulated BTC-USD rv_60s every `step_s` over the whole run, and where a spike
    (60 s forward rv at or above the real P90) begins."""
    mine = [t for t in ticks if t.product_id == "BTC-USD"]
    frame = batch_features(mine, [60], 30.0)
    rv = frame.X[:, frame.names.index("rv_60s")]
    spike = forward_realized_vol(frame, 60.0) >= REAL_SPIKE_THRESHOLD
    grid = np.arange(frame.ts[0], frame.ts[-1], step_s)
    at = np.searchsorted(frame.ts, grid, side="right") - 1
    starts = grid[1:][spike[at][1:] & ~spike[at][:-1]]
    return {"rv60": [[float(t), round(float(v) * 1e4, 4)] for t, v in zip(grid, rv[at])],
            "spike_starts": [float(t) for t in starts]}


def _docs_data(real: dict, sim: dict, real_ticks: list[Tick], sim_ticks: list[Tick]) -> dict:
    return {
        "note": "Summary statistics only (no ticks): written by bench/simulator_vs_real.py.",
        "spike_threshold": REAL_SPIKE_THRESHOLD,
        "stats": {key: {"real": _r(real[key]), "simulated": _r(sim[key])} for key, _, _ in ROWS},
        "rv60_hist_bps": {"edges": HIST_EDGES_BPS, "real": rv60_shares(real_ticks),
                          "simulated": rv60_shares(sim_ticks)},
        "sample_path": sample_path(sim_ticks),
    }


def _r(value: float) -> float | None:
    return None if not math.isfinite(value) else float(f"{value:.6g}")


def write_docs(data: dict) -> None:
    """The JSON, and the two pictures drawn from it with the chart module."""
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "simulator_vs_real.json").write_text(json.dumps(data, indent=1) + "\n")
    hist = data["rv60_hist_bps"]
    shares = {name: hist[key] for name, key in (("real BTC-USD", "real"),
                                                ("simulated BTC-USD", "simulated")) if key in hist}
    (DOCS / "simulator_rv60.svg").write_text(step_histogram_svg(
        shares, hist["edges"], title="rv_60s distribution, real vs simulated",
        x_label="rv_60s (bps of log price; the last bin holds the tail)",
        y_label="share of ticks") + "\n")
    path = data["sample_path"]
    (DOCS / "simulator_path.svg").write_text(line_chart_svg(
        {"rv_60s": [tuple(p) for p in path["rv60"]]},
        title="Simulated BTC-USD rv_60s (every 20 s), spike starts marked",
        x_label="simulated time (UTC)", y_label="rv_60s (bps)", x_is_time=True,
        markers={"spike starts (forward rv ≥ real P90)": path["spike_starts"]}) + "\n")
    print(f"wrote {DOCS / 'simulator_vs_real.json'}, simulator_rv60.svg, simulator_path.svg")


if __name__ == "__main__":
    main()
