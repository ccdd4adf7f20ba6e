"""Streaming equals batch, and training works, on a recorded Advanced Trade fixture that the
project generated itself (tests/fixtures/make_advanced_trade_fixture.py; no real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from predictions.core.features import FeatureEngine, batch_features
from predictions.core.tickfiles import read_ticks

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "advanced_trade_sim.ndjson.gz"
WINDOWS = [30, 60, 300]


@pytest.fixture(scope="module")
def ticks():
    report = read_ticks([str(FIXTURE)])
    assert not report.errors
    return report.ticks


def test_the_fixture_looks_like_the_real_feed(ticks):
    btc = [t for t in ticks if t.product_id == "BTC-USD"]
    prices = np.array([t.price for t in btc])
    assert np.mean(prices[1:] == prices[:-1]) > 0.2  # a ticker per trade: prices repeat
    assert all(t.price in (t.best_bid, t.best_ask) or t.price == p.price
               for p, t in zip(btc, btc[1:]))
    assert all(t.bid_qty is None for t in ticks)  # the ticker channel has no book sizes


def test_streaming_features_equal_batch_features_on_the_fixture(ticks):
    frame = batch_features(ticks, WINDOWS, 30.0)
    engine = FeatureEngine(WINDOWS, 30.0)
    streamed = np.array([engine.update(t).values for t in ticks])
    assert frame.reset.sum() == 4  # two products, at the start and after the 200 s pause
    assert np.isfinite(frame.X).all()
    np.testing.assert_allclose(streamed, frame.X, rtol=1e-12, atol=1e-15)


def test_thinning_the_capture_keeps_the_volatility_level_in_place(ticks):
    """A capture that misses messages sees fewer ticks, not a calmer market: the level the
    model reads (log_vol) must move far less than the tick counts do."""
    rng = np.random.default_rng(0)
    thin = [t for t in ticks if rng.random() < 0.6]
    full = batch_features(ticks, WINDOWS, 30.0)
    sparse = batch_features(thin, WINDOWS, 30.0)

    def median(frame, name):
        return float(np.median(frame.X[:, frame.names.index(name)]))

    level_shift = abs(median(sparse, "log_vol_300s") - median(full, "log_vol_300s"))
    count_shift = abs(np.log(median(sparse, "intensity_300s") / median(full, "intensity_300s")))
    assert level_shift < 0.5 * count_shift
