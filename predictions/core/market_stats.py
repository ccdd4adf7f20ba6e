"""Summary statistics of one product's tick stream, to compare simulated and real markets.

Why a module of its own: the benchmark that prints real against simulated and the tests that
pin the simulator's calibration must measure the same way. Everything is computed the way
the service sees ticks: gap-split segments (`gap_s`, as the feature engine resets), mid from
the quotes, rv_60s from the feature engine and the 60 s forward rv from the label code.
Pure numpy, no Django.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictions.core.features import batch_features
from predictions.core.labels import forward_realized_vol
from predictions.core.ticks import Tick

# The 60 s forward-rv P90 of the real BTC-USD capture (docs/simulator.md): the spike
# threshold a model trained on real data would learn. A summary statistic, not data.
REAL_SPIKE_THRESHOLD = 0.0006

# (key, label, format) in the order the comparison table prints them.
ROWS: list[tuple[str, str, str]] = [
    ("ticks_per_s", "ticks per second (active time)", "{:.2f}"),
    ("interarrival_cv", "inter-arrival CV", "{:.2f}"),
    ("fano_10s", "Fano factor of 10 s counts", "{:.1f}"),
    ("same_ts_share", "ticks < 1 ms after the previous", "{:.3f}"),
    ("spread_mean_bps", "spread mean (bps)", "{:.3f}"),
    ("spread_p50_bps", "spread P50 (bps)", "{:.4f}"),
    ("spread_p90_bps", "spread P90 (bps)", "{:.3f}"),
    ("spread_p99_bps", "spread P99 (bps)", "{:.3f}"),
    ("one_tick_spread_share", "spread of one price tick", "{:.3f}"),
    ("price_repeat_share", "price repeats", "{:.3f}"),
    ("quote_change_share", "quote changes between ticks", "{:.3f}"),
    ("rv60_p10", "rv_60s P10", "{:.6f}"),
    ("rv60_p50", "rv_60s P50", "{:.6f}"),
    ("rv60_p90", "rv_60s P90", "{:.6f}"),
    ("rv60_p99", "rv_60s P99", "{:.6f}"),
    ("fwd_rv_p90", "60 s forward rv P90 (label threshold)", "{:.6f}"),
    ("spike_share", "spike share at the real P90", "{:.3f}"),
    ("spike_acf_60s", "spike autocorrelation at 60 s", "{:.2f}"),
    ("spike_spell_s", "mean spike spell (s)", "{:.0f}"),
]


def market_stats(ticks: Sequence[Tick], *, product_id: str = "BTC-USD", gap_s: float = 30.0,
                 horizon_s: float = 60.0, spike_threshold: float = REAL_SPIKE_THRESHOLD,
                 tick_size: float = 0.01) -> dict[str, float]:
    """The comparison statistics of one product's ticks (time-ordered)."""
    mine = [t for t in ticks if t.product_id == product_id]
    if len(mine) < 100:
        raise ValueError(f"too few {product_id} ticks to summarise ({len(mine)})")
    ts = np.array([t.ts for t in mine])
    price = np.array([t.price for t in mine])
    bid = np.array([t.best_bid for t in mine], dtype=float)
    ask = np.array([t.best_ask for t in mine], dtype=float)
    out = _arrival_stats(ts, gap_s)
    out.update(_quote_stats(price, bid, ask, tick_size))
    frame = batch_features(mine, [int(horizon_s)], gap_s)
    rv = frame.X[:, frame.names.index(f"rv_{int(horizon_s)}s")]
    for q in (10, 50, 90, 99):
        out[f"rv60_p{q}"] = float(np.percentile(rv, q))
    fwd = forward_realized_vol(frame, horizon_s)
    out["fwd_rv_p90"] = float(np.nanpercentile(fwd, 90))
    out.update(_spike_stats(frame.ts, fwd, frame.reset, spike_threshold))
    return out


def _arrival_stats(ts: np.ndarray, gap_s: float) -> dict[str, float]:
    """Rate over active time (gaps > gap_s excluded), burstiness of the arrivals."""
    dt = np.diff(ts)
    inside = dt[dt <= gap_s]
    counts: list[np.ndarray] = []
    for seg in _segments(ts, gap_s):
        if seg[-1] - seg[0] >= 60.0:
            counts.append(np.histogram(seg, np.arange(seg[0], seg[-1], 10.0))[0])
    c = np.concatenate(counts) if counts else np.zeros(1)
    return {
        "ticks_per_s": float(len(inside) / max(inside.sum(), 1e-9)),
        "interarrival_cv": float(inside.std() / max(inside.mean(), 1e-12)),
        "fano_10s": float(c.var() / c.mean()) if c.mean() > 0 else float("nan"),
        "same_ts_share": float(np.mean(inside < 1e-3)),
    }


def _segments(ts: np.ndarray, gap_s: float) -> list[np.ndarray]:
    cuts = np.flatnonzero(np.diff(ts) > gap_s) + 1
    return np.split(ts, cuts)


def _quote_stats(price: np.ndarray, bid: np.ndarray, ask: np.ndarray, tick_size: float
                 ) -> dict[str, float]:
    mid = (bid + ask) / 2.0
    spread = (ask - bid) / mid * 1e4
    quote_moved = (np.diff(bid) != 0) | (np.diff(ask) != 0)
    return {
        "spread_mean_bps": float(spread.mean()),
        "spread_p50_bps": float(np.percentile(spread, 50)),
        "spread_p90_bps": float(np.percentile(spread, 90)),
        "spread_p99_bps": float(np.percentile(spread, 99)),
        "one_tick_spread_share": float(np.mean(ask - bid <= tick_size * 1.5)),
        "price_repeat_share": float(np.mean(np.diff(price) == 0)),
        "quote_change_share": float(np.mean(quote_moved)),
    }


def _spike_stats(ts: np.ndarray, fwd: np.ndarray, reset: np.ndarray, threshold: float
                 ) -> dict[str, float]:
    """Spike share, and how spikes cluster: on a 1 s grid per segment (so a burst of ticks
    does not weigh more than a quiet second), the lag-60 s autocorrelation of the spike
    indicator and the mean length of a run of spike seconds."""
    known = ~np.isnan(fwd)
    share = float(np.mean(fwd[known] >= threshold)) if known.any() else float("nan")
    pairs: list[np.ndarray] = []
    runs: list[int] = []
    for idx in np.split(np.arange(len(ts)), np.flatnonzero(reset)[1:]):
        idx = idx[known[idx]]
        if len(idx) < 2 or ts[idx[-1]] - ts[idx[0]] < 120.0:
            continue
        grid = np.arange(ts[idx[0]], ts[idx[-1]], 1.0)
        y = (fwd[idx][np.searchsorted(ts[idx], grid, side="right") - 1] >= threshold)
        pairs.append(np.stack([y[:-60], y[60:]]).astype(float))
        runs.extend(_run_lengths(y))
    acf = float("nan")
    if pairs:
        a, b = np.concatenate(pairs, axis=1)
        if a.std() > 0 and b.std() > 0:
            acf = float(np.corrcoef(a, b)[0, 1])
    spell = float(np.mean(runs)) if runs else float("nan")
    return {"spike_share": share, "spike_acf_60s": acf, "spike_spell_s": spell}


def _run_lengths(y: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a boolean array."""
    padded = np.r_[False, y, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])
