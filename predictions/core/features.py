"""The feature engine: one causal, time-windowed implementation for training and serving.

`FeatureEngine.update(tick)` is O(1) amortized per tick: each window keeps a deque of its
entries with running sums, and monotonic deques for the min and max return. Training runs the
same engine over a file (`batch_features`), so streaming and batch features agree by
construction; tests check it. A pause longer than `gap_s` in a product's ticks resets its
windows rather than bridging the gap with one huge return.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from predictions.core.ticks import Tick

PER_WINDOW = (
    "rv",  # realized volatility: sqrt of the sum of squared log mid returns
    "ret_mean",
    "ret_min",
    "ret_max",
    "n_ticks",
    "intensity",  # ticks per second over the part of the window the state has seen
    "spread_mean_bps",
    "spread_std_bps",
    "imbalance",  # mean (bid_qty - ask_qty) / (bid_qty + ask_qty); 0 without quantities
)


def feature_names(windows: Sequence[int]) -> list[str]:
    return [f"{name}_{w}s" for w in windows for name in PER_WINDOW]


class _Window:
    __slots__ = ("span", "entries", "n", "n_ret", "s_r", "s_r2", "s_sp", "s_sp2", "n_imb",
                 "s_imb", "mins", "maxs")

    def __init__(self, span: float) -> None:
        self.span = span
        # entry: (ts, has_ret, r, spread_bps, has_imb, imbalance)
        self.entries: deque[tuple[float, bool, float, float, bool, float]] = deque()
        self.mins: deque[tuple[float, float]] = deque()  # (ts, r), increasing r
        self.maxs: deque[tuple[float, float]] = deque()  # (ts, r), decreasing r
        self.n = self.n_ret = self.n_imb = 0
        self.s_r = self.s_r2 = self.s_sp = self.s_sp2 = self.s_imb = 0.0

    def push(self, entry: tuple[float, bool, float, float, bool, float]) -> None:
        ts, has_ret, r, sp, has_imb, imb = entry
        self.entries.append(entry)
        self.n += 1
        self.s_sp += sp
        self.s_sp2 += sp * sp
        if has_ret:
            self.n_ret += 1
            self.s_r += r
            self.s_r2 += r * r
            while self.mins and self.mins[-1][1] >= r:
                self.mins.pop()
            self.mins.append((ts, r))
            while self.maxs and self.maxs[-1][1] <= r:
                self.maxs.pop()
            self.maxs.append((ts, r))
        if has_imb:
            self.n_imb += 1
            self.s_imb += imb

    def evict(self, now: float) -> None:
        cutoff = now - self.span
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            ts, has_ret, r, sp, has_imb, imb = entries.popleft()
            self.n -= 1
            self.s_sp -= sp
            self.s_sp2 -= sp * sp
            if has_ret:
                self.n_ret -= 1
                self.s_r -= r
                self.s_r2 -= r * r
            if has_imb:
                self.n_imb -= 1
                self.s_imb -= imb
        while self.mins and self.mins[0][0] <= cutoff:
            self.mins.popleft()
        while self.maxs and self.maxs[0][0] <= cutoff:
            self.maxs.popleft()
        if self.n_ret == 0:  # clear rounding residue once the window holds no returns
            self.s_r = self.s_r2 = 0.0

    def values(self, seen_s: float) -> list[float]:
        n = self.n
        mean_sp = self.s_sp / n
        var_sp = max(self.s_sp2 / n - mean_sp * mean_sp, 0.0)
        n_ret = self.n_ret
        return [
            math.sqrt(max(self.s_r2, 0.0)),
            self.s_r / n_ret if n_ret else 0.0,
            self.mins[0][1] if self.mins else 0.0,
            self.maxs[0][1] if self.maxs else 0.0,
            float(n),
            n / max(min(self.span, seen_s), 1.0),
            mean_sp,
            math.sqrt(var_sp),
            self.s_imb / self.n_imb if self.n_imb else 0.0,
        ]


class ProductState:
    """The windows of one product, since its last reset."""

    __slots__ = ("windows", "last_ts", "last_mid", "since")

    def __init__(self, spans: Sequence[int]) -> None:
        self.windows = [_Window(float(s)) for s in spans]
        self.last_ts: float | None = None
        self.last_mid = 0.0
        self.since = 0.0


@dataclass(frozen=True)
class FeatureRow:
    product_id: str
    ts: float
    mid: float
    values: list[float]
    reset: bool  # this tick started fresh windows (first tick, or after a gap)


class FeatureEngine:
    """Per-product streaming features. Ticks older than a product's last tick are skipped."""

    def __init__(self, windows: Sequence[int], gap_s: float) -> None:
        self.spans = list(windows)
        self.gap_s = gap_s
        self.names = feature_names(self.spans)
        self.products: dict[str, ProductState] = {}
        self.skipped_out_of_order = 0

    def update(self, tick: Tick) -> FeatureRow | None:
        state = self.products.get(tick.product_id)
        if state is None:
            state = self.products[tick.product_id] = ProductState(self.spans)
        ts, mid = tick.ts, tick.mid
        if state.last_ts is not None and ts < state.last_ts:
            self.skipped_out_of_order += 1
            return None
        reset = state.last_ts is None or ts - state.last_ts > self.gap_s
        if reset:
            state.windows = [_Window(float(s)) for s in self.spans]
            state.since = ts
        entry = (
            ts,
            not reset,
            0.0 if reset else math.log(mid / state.last_mid),
            _spread_bps(tick),
            *_imbalance(tick),
        )
        state.last_ts, state.last_mid = ts, mid
        seen = ts - state.since
        values: list[float] = []
        for window in state.windows:
            window.push(entry)
            window.evict(ts)
            values.extend(window.values(seen))
        return FeatureRow(tick.product_id, ts, mid, values, reset)


def _spread_bps(tick: Tick) -> float:
    if tick.best_bid is None or tick.best_ask is None:
        return 0.0
    mid = (tick.best_bid + tick.best_ask) / 2.0
    return (tick.best_ask - tick.best_bid) / mid * 1e4


def _imbalance(tick: Tick) -> tuple[bool, float]:
    if tick.bid_qty is None or tick.ask_qty is None:
        return False, 0.0
    total = tick.bid_qty + tick.ask_qty
    if total <= 0:
        return False, 0.0
    return True, (tick.bid_qty - tick.ask_qty) / total


@dataclass
class FeatureFrame:
    """Batch output: one row per accepted tick, in input order."""

    names: list[str]
    product_id: np.ndarray  # object
    ts: np.ndarray
    mid: np.ndarray
    reset: np.ndarray  # bool
    X: np.ndarray  # (n, len(names))


def order_ticks(ticks: Iterable[Tick]) -> list[Tick]:
    """Time order (then sequence), duplicates dropped: how a file becomes a clean stream."""
    seen: set[tuple] = set()
    out: list[Tick] = []
    for t in sorted(ticks, key=lambda t: (t.ts, t.sequence if t.sequence is not None else -1)):
        key = (t.product_id, t.ts, t.sequence, t.price, t.best_bid, t.best_ask)
        if key in seen:
            continue
        seen.add(key)
        out.append(t)
    return out


def batch_features(ticks: Iterable[Tick], windows: Sequence[int], gap_s: float) -> FeatureFrame:
    """Run the streaming engine over ordered ticks and collect the rows."""
    engine = FeatureEngine(windows, gap_s)
    rows = [row for row in map(engine.update, ticks) if row is not None]
    n = len(rows)
    X = np.empty((n, len(engine.names)), dtype=np.float64)
    for i, row in enumerate(rows):
        X[i] = row.values
    return FeatureFrame(
        names=engine.names,
        product_id=np.array([r.product_id for r in rows], dtype=object),
        ts=np.array([r.ts for r in rows], dtype=np.float64),
        mid=np.array([r.mid for r in rows], dtype=np.float64),
        reset=np.array([r.reset for r in rows], dtype=bool),
        X=X,
    )
