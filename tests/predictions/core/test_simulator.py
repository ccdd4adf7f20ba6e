"""The simulator: deterministic per seed, shaped like a ticker feed, and at its defaults in the
ranges calibrated against real BTC-USD (docs/simulator.md; real values in the comments)."""

from __future__ import annotations

import math

import pytest

from predictions.core.market_stats import REAL_SPIKE_THRESHOLD, market_stats
from predictions.core.simulator import MarketSimulator, RegimeParams, simulate_history

START = 1_700_000_000.0


@pytest.fixture(scope="module")
def two_hours():
    """Two simulated hours of BTC-USD at the defaults, seed 3: the calibration sample."""
    return simulate_history(["BTC-USD"], seed=3, start_ts=START, duration_s=2 * 3600)


@pytest.fixture(scope="module")
def stats(two_hours):
    return market_stats(two_hours)


def test_one_seed_gives_one_stream_and_another_seed_another():
    a = simulate_history(["BTC-USD", "ETH-USD"], seed=5, start_ts=START, duration_s=300)
    b = simulate_history(["BTC-USD", "ETH-USD"], seed=5, start_ts=START, duration_s=300)
    c = simulate_history(["BTC-USD", "ETH-USD"], seed=6, start_ts=START, duration_s=300)
    assert a == b
    assert [t.price for t in a[:200]] != [t.price for t in c[:200]]


def test_products_are_merged_in_time_order_within_the_duration():
    ticks = simulate_history(["BTC-USD", "ETH-USD", "SOL-USD"], seed=1, start_ts=START,
                             duration_s=600)
    assert {t.product_id for t in ticks} == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert all(a.ts <= b.ts for a, b in zip(ticks, ticks[1:]))
    assert START < ticks[0].ts and ticks[-1].ts <= START + 600


def test_quotes_sit_on_the_cent_grid_and_trades_at_the_quote(two_hours):
    for t in two_hours[:5000]:
        assert t.best_bid < t.best_ask
        assert math.isclose(t.best_bid * 100, round(t.best_bid * 100), abs_tol=1e-6)
        assert math.isclose(t.best_ask * 100, round(t.best_ask * 100), abs_tol=1e-6)
        assert t.price in (t.best_bid, t.best_ask)
    sequences = [t.sequence for t in two_hours]
    assert sequences == list(range(1, len(two_hours) + 1))


def test_arrivals_match_the_real_rate_and_burstiness(stats):
    assert 3.0 <= stats["ticks_per_s"] <= 5.0  # real 3.77 per active second
    assert 1.2 <= stats["interarrival_cv"] <= 1.8  # real 1.46
    assert 5.0 <= stats["fano_10s"] <= 20.0  # real 11.4
    assert 0.02 <= stats["same_ts_share"] <= 0.1  # real 0.046


def test_the_book_looks_like_the_real_one(stats):
    assert stats["spread_p50_bps"] < 0.002  # one cent at ~90k: real 0.0012 bps
    assert 0.5 <= stats["one_tick_spread_share"] <= 0.75  # real 0.60
    assert 0.07 <= stats["spread_mean_bps"] <= 0.16  # real 0.110
    assert 0.2 <= stats["spread_p90_bps"] <= 0.5  # real 0.346
    assert 0.55 <= stats["price_repeat_share"] <= 0.8  # real 0.69
    assert 0.28 <= stats["quote_change_share"] <= 0.45  # real 0.35


def test_realized_volatility_is_on_the_real_scale(stats):
    assert 1.8e-4 <= stats["rv60_p50"] <= 3.6e-4  # real 2.65e-4
    assert 4.0e-4 <= stats["fwd_rv_p90"] <= 9.0e-4  # real 6.0e-4 (was 4.6e-3 before)
    assert 0.03 <= stats["spike_share"] <= 0.2  # real 0.105 at the real P90
    assert stats["rv60_p99"] / stats["rv60_p50"] > 2.0  # a tail to learn: real 3.4


def test_spikes_come_in_spells(stats):
    assert stats["spike_acf_60s"] > 0.0  # real 0.51; clustered, not scattered
    assert stats["spike_spell_s"] > 10.0  # real 32 s


def test_without_regimes_there_are_hardly_any_spikes_at_the_real_threshold():
    """The spikes come from regime switching and clustered volatility, not from noise."""
    flat = RegimeParams(volatile_multiplier=1.0, logvol_noise_per_sqrt_s=0.0,
                        jump_rate_per_s=0.0)
    ticks = simulate_history(["BTC-USD"], seed=3, start_ts=START, duration_s=3600, params=flat)
    assert market_stats(ticks)["spike_share"] < 0.02


def test_the_simulator_refuses_no_products():
    with pytest.raises(ValueError):
        MarketSimulator([], seed=1, start_ts=START)


def test_the_spike_threshold_is_the_real_p90():
    assert REAL_SPIKE_THRESHOLD == pytest.approx(0.0006, rel=0.1)
