from __future__ import annotations

import math

import numpy as np
import pytest

from predictions.core.features import FeatureEngine, batch_features, feature_names, order_ticks
from predictions.core.simulator import simulate_history
from predictions.core.ticks import Tick

WINDOWS = [30, 60, 300]


def tick(pid: str, ts: float, mid: float, spread: float = 0.02, price: float | None = None):
    """A ticker as Advanced Trade sends it: a trade price beside the top of book."""
    return Tick(pid, ts, mid if price is None else price, mid - spread / 2, mid + spread / 2,
                None, None, 10.0, None)


def brute_force(ticks: list[Tick], at: int, window: float, gap_s: float) -> dict[str, float]:
    """The features of tick `at`, recomputed from scratch."""
    pid = ticks[at].product_id
    own = [t for t in ticks[: at + 1] if t.product_id == pid]
    start = 0
    for i in range(1, len(own)):
        if own[i].ts - own[i - 1].ts > gap_s:
            start = i
    own = own[start:]
    now = own[-1].ts
    inside = [i for i, t in enumerate(own) if t.ts > now - window]
    rets = [math.log(own[i].mid / own[i - 1].mid) for i in inside if i > 0]
    log_mids = [math.log(own[i].mid) for i in inside]
    seen = max(min(window, now - own[0].ts), 1.0)
    rv = math.sqrt(sum(r * r for r in rets))
    return {
        "rv": rv,
        "log_vol": math.log(math.sqrt(rv * rv * 60.0 / seen) + 1e-6),
        "range": max(log_mids) - min(log_mids),
        "intensity": len(inside) / seen,
        "trade_moves": sum(own[i].price != own[i - 1].price for i in inside if i > 0) / seen,
    }


def test_streaming_features_match_a_brute_force_recomputation():
    rng = np.random.default_rng(3)
    ticks, ts, mid = [], 1000.0, 100.0
    for i in range(400):
        ts += float(rng.exponential(1.5)) + (45.0 if i == 200 else 0.0)  # one gap
        if rng.random() < 0.6:  # quotes often stand still between trades
            mid *= math.exp(float(rng.normal(0, 0.001)))
        spread = float(rng.uniform(0.01, 0.05))
        price = mid + spread / 2 * float(rng.choice([-1.0, 1.0]))  # trades at the bid or ask
        ticks.append(tick("BTC-USD", ts, mid, spread=spread, price=price))
    engine = FeatureEngine(WINDOWS, gap_s=30.0)
    names = feature_names(WINDOWS)
    for i, t in enumerate(ticks):
        row = engine.update(t)
        if i % 37 and i not in (200, 201):
            continue
        got = dict(zip(names, row.values))
        for w in WINDOWS:
            for key, want in brute_force(ticks, i, w, 30.0).items():
                assert got[f"{key}_{w}s"] == pytest.approx(want, rel=1e-9, abs=1e-12), (i, key, w)


def test_a_gap_resets_the_windows():
    engine = FeatureEngine(WINDOWS, gap_s=30.0)
    for k in range(10):
        engine.update(tick("BTC-USD", 100.0 + k, 100.0 + k))
    row = engine.update(tick("BTC-USD", 100.0 + 9 + 31, 150.0))
    assert row.reset
    values = dict(zip(feature_names(WINDOWS), row.values))
    assert values["intensity_300s"] == 1.0  # one tick over the minimum second seen
    assert values["rv_300s"] == 0.0  # the jump across the gap is not a return
    assert values["range_300s"] == 0.0


def test_an_out_of_order_tick_is_skipped_and_counted():
    engine = FeatureEngine(WINDOWS, gap_s=30.0)
    engine.update(tick("BTC-USD", 10.0, 100.0))
    assert engine.update(tick("BTC-USD", 9.0, 100.0)) is None
    assert engine.skipped_out_of_order == 1


def test_streaming_and_batch_features_agree_across_products_and_a_gap():
    ticks = simulate_history(["BTC-USD", "ETH-USD"], seed=5, start_ts=1e9, duration_s=900)
    late = [Tick(t.product_id, t.ts + 120.0, t.price, t.best_bid, t.best_ask, t.bid_qty,
                 t.ask_qty, t.volume_24h, t.sequence) for t in
            simulate_history(["BTC-USD", "ETH-USD"], seed=6, start_ts=1e9 + 900, duration_s=300)]
    stream = order_ticks(ticks + late + ticks[:50])  # duplicates are dropped
    frame = batch_features(stream, WINDOWS, 30.0)
    engine = FeatureEngine(WINDOWS, 30.0)
    streamed = np.array([engine.update(t).values for t in stream])
    assert frame.reset.sum() >= 4  # first ticks of both products, then both after the gap
    np.testing.assert_allclose(streamed, frame.X, rtol=1e-9, atol=1e-12)
