"""A seedable market simulator calibrated to real BTC-USD ticker data (docs/simulator.md).

Per product, a latent "efficient" log price moves with a two-regime (calm / volatile) Markov
switch times a mean-reverting log-volatility (so volatility clusters), Student-t returns (fat
tails) and rare jumps. What the feed shows is built on top of it the way an exchange ticker
looks, because that is what the features and labels see:

* a tick is a trade; trades arrive in bursts (a taker order fills several makers at once),
  at a rate that rises with volatility and wanders on its own (`burst_*`);
* the quote sits on the product's price grid and is refreshed only at some trades
  (`quote_refresh_prob`), so the mid moves in lumps and the trade price often repeats;
* the spread is one price tick most of the time and opens, in spells, to ~0.2 bps (2 $ on BTC)
  placed off-centre around the efficient price, which is where much of the short-horizon
  realized volatility of the mid comes from (as in the real feed).

Activity leads volatility, as in real order flow: when a volatile spell begins, trading picks
up some tens of seconds before prices start to move (`activity_lead_s`), so measures of
activity carry information that recent realized volatility does not yet show. Spreads do not
widen with volatility (`spread_elasticity` 0): on the real sessions they do not either.
Products are merged in time order. Pure Python + numpy, no Django; random numbers are drawn
in blocks (`_Draws`) for speed, so one seed always gives the same stream.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from predictions.core.ticks import Tick

START_PRICES = {"BTC-USD": 90_000.0, "ETH-USD": 3_000.0, "SOL-USD": 150.0}
PRICE_TICKS = {"BTC-USD": 0.01, "ETH-USD": 0.01, "SOL-USD": 0.01}  # quote increments, USD


@dataclass
class RegimeParams:
    """Defaults calibrated against real BTC-USD (bench/simulator_vs_real.py); the spread and
    volatility are relative (bps, log price), so other products reuse them."""

    vol_per_sqrt_s: float = 0.0000255  # calm volatility of the efficient log price per sqrt(s)
    volatile_multiplier: float = 2.4
    mean_calm_s: float = 300.0  # mean time spent in each regime
    mean_volatile_s: float = 75.0
    logvol_reversion_per_s: float = 1 / 300.0  # pull of log-vol back to its regime level
    logvol_noise_per_sqrt_s: float = 0.035
    base_rate_per_s: float = 2.5  # trade bursts per second in the calm regime
    rate_elasticity: float = 0.55  # arrival rate ∝ (activity) ** elasticity
    burst_extra_mean: float = 0.35  # extra trades per burst (geometric), same instant or nearly
    burst_reversion_per_s: float = 1 / 30.0  # the arrival rate's own log-OU wander
    burst_noise_per_sqrt_s: float = 0.08
    quote_refresh_prob: float = 0.36  # chance a trade comes with a new quote
    wide_open_prob: float = 0.15  # chance a quote refresh opens the spread (calm)
    wide_close_prob: float = 0.30  # chance a quote refresh closes an open spread
    wide_spread_bps: float = 0.22  # median width of an open spread
    wide_spread_sigma: float = 0.8  # lognormal spread of that width
    spread_elasticity: float = 0.0  # open-spread width and odds ∝ activity ** elasticity;
    # 0 because real BTC-USD spreads do not rise before spikes (docs/simulator.md)
    side_flip_prob: float = 0.02  # chance a trade is on the other side than the last one
    jump_rate_per_s: float = 1 / 1800.0
    jump_scale: float = 0.0003
    student_df: float = 4.0
    activity_lead_s: tuple[float, float] = (10.0, 40.0)  # activity rises this long before vol


class _Draws:
    """Standard normals, uniforms and Student-t draws in blocks: numpy's per-call overhead,
    not the arithmetic, dominated the per-tick cost. Deterministic for a given generator."""

    BLOCK = 4096

    def __init__(self, rng: np.random.Generator, df: float) -> None:
        self.rng, self.df = rng, df
        self._n: list[float] = []
        self._u: list[float] = []
        self._t: list[float] = []

    def normal(self) -> float:
        if not self._n:
            self._n = self.rng.standard_normal(self.BLOCK).tolist()
        return self._n.pop()

    def uniform(self) -> float:
        if not self._u:
            self._u = self.rng.random(self.BLOCK).tolist()
        return self._u.pop()

    def student_t(self) -> float:
        if not self._t:
            self._t = self.rng.standard_t(self.df, self.BLOCK).tolist()
        return self._t.pop()

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.uniform())


class ProductPath:
    """One product's ticks; `next_tick()` advances to its next trade."""

    def __init__(self, product_id: str, start_ts: float, rng: np.random.Generator,
                 params: RegimeParams) -> None:
        self.product_id = product_id
        self.p = params
        self.draw = _Draws(rng, params.student_df)
        self.ts = start_ts
        self.log_mid = math.log(START_PRICES.get(product_id, 100.0))
        self.price_tick = PRICE_TICKS.get(product_id, 0.01)
        self.volatile = False
        self.pending_until: float | None = None  # a volatile spell announced by activity
        self.logvol = 0.0  # deviation of log-vol from its regime level
        self.lograte = 0.0  # the arrival rate's own wander
        self.burst_left = 0  # trades still to come in the current burst
        self.wide = False
        self.bid = self.ask = 0.0
        self.buy = True
        self.volume_24h = float(rng.uniform(5_000, 20_000))
        self.sequence = 0
        self._t_scale = 1.0 / math.sqrt(params.student_df / (params.student_df - 2.0))
        self._refresh_quote(1.0)

    def vol(self) -> float:
        level = self.p.vol_per_sqrt_s * (self.p.volatile_multiplier if self.volatile else 1.0)
        return level * math.exp(self.logvol)

    def activity(self) -> float:
        """Activity relative to calm: follows volatility, and leads it into a volatile spell."""
        ratio = self.vol() / self.p.vol_per_sqrt_s
        if self.pending_until is not None:
            ratio *= self.p.volatile_multiplier
        return ratio

    def next_tick(self) -> Tick:
        p, d = self.p, self.draw
        if self.burst_left > 0:  # the rest of a burst: a few milliseconds apart at most
            self.burst_left -= 1
            dt = d.exponential(0.02) if d.uniform() < 0.85 else 0.0
        else:
            rate = p.base_rate_per_s * self.activity() ** p.rate_elasticity * math.exp(
                self.lograte)
            dt = d.exponential(1.0 / rate)
            self.burst_left = self._burst_size()
        self._evolve_state(dt)
        ret = self.vol() * math.sqrt(dt) * d.student_t() * self._t_scale
        if d.uniform() < p.jump_rate_per_s * dt:
            ret += p.jump_scale * d.normal()
        self.log_mid += ret
        self.ts += dt
        activity = self.activity()
        if d.uniform() < p.quote_refresh_prob:
            self._refresh_quote(activity)
        return self._trade()

    def _burst_size(self) -> int:
        """Extra trades in a burst: geometric with mean `burst_extra_mean`."""
        q = self.p.burst_extra_mean / (1.0 + self.p.burst_extra_mean)
        n = 0
        while self.draw.uniform() < q:
            n += 1
        return n

    def _evolve_state(self, dt: float) -> None:
        p, d = self.p, self.draw
        if self.pending_until is not None:
            if self.ts + dt >= self.pending_until:
                self.volatile, self.pending_until = True, None
        elif dt > 0.0:
            mean_stay = p.mean_volatile_s if self.volatile else p.mean_calm_s
            if d.uniform() < 1.0 - math.exp(-dt / mean_stay):
                if self.volatile:
                    self.volatile = False
                else:
                    lo, hi = p.activity_lead_s
                    self.pending_until = self.ts + dt + lo + (hi - lo) * d.uniform()
        if dt > 0.0:
            root = math.sqrt(dt)
            self.logvol = (self.logvol * math.exp(-p.logvol_reversion_per_s * dt)
                           + p.logvol_noise_per_sqrt_s * root * d.normal())
            self.lograte = (self.lograte * math.exp(-p.burst_reversion_per_s * dt)
                            + p.burst_noise_per_sqrt_s * root * d.normal())

    def _refresh_quote(self, activity: float) -> None:
        """A new top of book on the price grid around the efficient price. An open spread
        sits off-centre (one side was just taken out), so its mid is a noisy price."""
        p, d, step = self.p, self.draw, self.price_tick
        mid = math.exp(self.log_mid)
        scale = activity**p.spread_elasticity
        if self.wide:
            self.wide = d.uniform() >= p.wide_close_prob
        else:
            self.wide = d.uniform() < min(0.9, p.wide_open_prob * scale)
        if not self.wide:
            self.bid = math.floor(mid / step) * step
            self.ask = self.bid + step
            return
        width = mid * p.wide_spread_bps * 1e-4 * scale * math.exp(
            p.wide_spread_sigma * d.normal())
        ticks = max(2, round(width / step))
        self.bid = math.floor((mid - d.uniform() * ticks * step) / step) * step
        self.ask = self.bid + ticks * step

    def _trade(self) -> Tick:
        d = self.draw
        if d.uniform() < self.p.side_flip_prob:
            self.buy = not self.buy
        bid, ask = round(self.bid, 6), round(self.ask, 6)
        self.volume_24h = max(1.0, self.volume_24h + 2.0 * d.normal())
        self.sequence += 1
        return Tick(
            product_id=self.product_id,
            ts=self.ts,
            price=ask if self.buy else bid,
            best_bid=bid,
            best_ask=ask,
            bid_qty=round(d.exponential(1.5) + 0.001, 6),
            ask_qty=round(d.exponential(1.5) + 0.001, 6),
            volume_24h=round(self.volume_24h, 4),
            sequence=self.sequence,
        )


class MarketSimulator:
    """Merges several products' paths into one time-ordered tick stream."""

    def __init__(self, products: list[str], *, seed: int, start_ts: float,
                 params: RegimeParams | None = None) -> None:
        if not products:
            raise ValueError("the simulator needs at least one product")
        root = np.random.default_rng(seed)
        self.paths = [
            ProductPath(pid, start_ts, np.random.default_rng(root.integers(2**63)),
                        params or RegimeParams())
            for pid in products
        ]

    def ticks(self) -> Iterator[Tick]:
        heap: list[tuple[float, int, Tick]] = []
        for i, path in enumerate(self.paths):
            tick = path.next_tick()
            heapq.heappush(heap, (tick.ts, i, tick))
        while True:
            _, i, tick = heapq.heappop(heap)
            yield tick
            nxt = self.paths[i].next_tick()
            heapq.heappush(heap, (nxt.ts, i, nxt))


def simulate_history(products: list[str], *, seed: int, start_ts: float, duration_s: float,
                     progress: Callable[[float], None] | None = None,
                     params: RegimeParams | None = None) -> list[Tick]:
    """All ticks of `duration_s` seconds of simulated history; `progress` gets the simulated
    seconds done, every 5,000 ticks."""
    end = start_ts + duration_s
    out: list[Tick] = []
    for tick in MarketSimulator(products, seed=seed, start_ts=start_ts, params=params).ticks():
        if tick.ts > end:
            break
        out.append(tick)
        if progress is not None and len(out) % 5000 == 0:
            progress(tick.ts - start_ts)
    return out
