"""A seedable market simulator with the stylised facts of crypto tick data.

Per product: a two-regime (calm / volatile) Markov switch times a mean-reverting log-volatility
(so volatility clusters), Student-t returns (fat tails) with rare jumps, tick arrivals whose rate
rises with volatility, and a bid/ask spread that widens with it. Activity leads volatility, as
in real order flow: when a volatile spell begins, quoting activity and spreads pick up some
tens of seconds before prices start to move (`activity_lead_s`), so measures of activity carry
information that recent realized volatility does not yet show. Products are merged in time
order. Pure Python + numpy, no Django.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from predictions.core.ticks import Tick

START_PRICES = {"BTC-USD": 60_000.0, "ETH-USD": 3_000.0, "SOL-USD": 150.0}


@dataclass
class RegimeParams:
    vol_per_sqrt_s: float = 0.00012  # calm volatility of log price per sqrt(second)
    volatile_multiplier: float = 3.0
    mean_calm_s: float = 900.0  # mean time spent in each regime
    mean_volatile_s: float = 180.0
    logvol_reversion_per_s: float = 1 / 120.0  # pull of log-vol back to its regime level
    logvol_noise_per_sqrt_s: float = 0.06
    base_rate_per_s: float = 2.0  # tick arrivals in the calm regime
    rate_elasticity: float = 0.8  # arrival rate ∝ (vol / calm vol) ** elasticity
    base_spread_bps: float = 0.8
    spread_elasticity: float = 0.9
    jump_rate_per_s: float = 1 / 1800.0
    jump_scale: float = 0.0015
    student_df: float = 4.0
    activity_lead_s: tuple[float, float] = (10.0, 40.0)  # activity rises this long before vol


class ProductPath:
    """One product's price path; `next_tick()` advances to its next tick."""

    def __init__(self, product_id: str, start_ts: float, rng: np.random.Generator,
                 params: RegimeParams) -> None:
        self.product_id = product_id
        self.p = params
        self.rng = rng
        self.ts = start_ts
        self.log_mid = math.log(START_PRICES.get(product_id, 100.0))
        self.volatile = False
        self.pending_until: float | None = None  # a volatile spell announced by activity
        self.logvol = 0.0  # deviation of log-vol from its regime level
        self.volume_24h = float(rng.uniform(5_000, 20_000))
        self.sequence = 0
        t_var = params.student_df / (params.student_df - 2.0)
        self._t_scale = 1.0 / math.sqrt(t_var)

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
        p, rng = self.p, self.rng
        rate = p.base_rate_per_s * self.activity() ** p.rate_elasticity
        dt = float(rng.exponential(1.0 / rate))
        self._evolve_state(dt)
        sigma = self.vol()
        ret = sigma * math.sqrt(dt) * float(rng.standard_t(p.student_df)) * self._t_scale
        if rng.random() < p.jump_rate_per_s * dt:
            ret += float(rng.normal(0.0, p.jump_scale))
        self.log_mid += ret
        self.ts += dt
        return self._quote(self.activity())

    def _evolve_state(self, dt: float) -> None:
        p, rng = self.p, self.rng
        if self.pending_until is not None:
            if self.ts + dt >= self.pending_until:
                self.volatile, self.pending_until = True, None
        else:
            mean_stay = p.mean_volatile_s if self.volatile else p.mean_calm_s
            if rng.random() < 1.0 - math.exp(-dt / mean_stay):
                if self.volatile:
                    self.volatile = False
                else:
                    self.pending_until = self.ts + dt + float(rng.uniform(*p.activity_lead_s))
        decay = math.exp(-p.logvol_reversion_per_s * dt)
        self.logvol = self.logvol * decay + p.logvol_noise_per_sqrt_s * math.sqrt(dt) * float(
            rng.standard_normal()
        )

    def _quote(self, activity: float) -> Tick:
        p, rng = self.p, self.rng
        mid = math.exp(self.log_mid)
        spread_bps = p.base_spread_bps * activity**p.spread_elasticity * float(
            rng.lognormal(0.0, 0.25)
        )
        half = mid * spread_bps / 2e4
        bid, ask = round(mid - half, 6), round(mid + half, 6)
        price = bid if rng.random() < 0.5 else ask
        self.volume_24h = max(1.0, self.volume_24h + float(rng.normal(0.0, 2.0)))
        self.sequence += 1
        return Tick(
            product_id=self.product_id,
            ts=self.ts,
            price=price,
            best_bid=bid,
            best_ask=ask,
            bid_qty=round(float(rng.exponential(1.5)) + 0.001, 6),
            ask_qty=round(float(rng.exponential(1.5)) + 0.001, 6),
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
                     progress: Callable[[float], None] | None = None) -> list[Tick]:
    """All ticks of `duration_s` seconds of simulated history; `progress` gets the simulated
    seconds done, every 5,000 ticks."""
    end = start_ts + duration_s
    out: list[Tick] = []
    for tick in MarketSimulator(products, seed=seed, start_ts=start_ts).ticks():
        if tick.ts > end:
            break
        out.append(tick)
        if progress is not None and len(out) % 5000 == 0:
            progress(tick.ts - start_ts)
    return out
