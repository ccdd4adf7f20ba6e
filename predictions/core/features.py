"""The feature engine: one causal, time-windowed implementation for training and serving.

`FeatureEngine.update(tick)` is O(1) amortized per tick: each window keeps a deque of its
entries with running sums, and monotonic deques for the min and max log mid. Training runs the
same engine over a file (`batch_features`), so streaming and batch features agree by
construction; tests check it. A pause longer than `gap_s` in a product's ticks resets its
windows rather than bridging the gap with one huge return.

Why these features (docs/model_quality.md has the walk-forward study on real BTC-USD ticks):
Advanced Trade sends a ticker per trade, so prices repeat, quotes move between trades and
arrivals are bursty. Forward 60 s volatility is predicted mostly by the *level* of recent
volatility, best measured over the longest window and per unit of time actually seen (a
window that a reset cut short holds less time, not less volatility): `log_vol`. Activity
(ticks and trade-price moves per second) and the range carry the same level signal with
other noise. Mean/min/max returns, tick counts, mid-move counts, spread mean and dispersion
and order-book imbalance (always 0 in the ticker channel, which has no quantities) ranked at
or near chance or flipped sign between sessions, and were dropped. `rv` stays raw (the
baseline and the drift monitor read `rv_60s`); models read its fixed form, `log_vol`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from predictions.core.ticks import Tick

PER_WINDOW = (
    "rv",  # realized volatility: sqrt of the sum of squared log mid returns (the label's unit)
    "log_vol",  # log of rv rescaled to one minute of the time the window has seen
    "range",  # log(max mid / min mid) over the window
    "intensity",  # ticks per second over the part of the window the state has seen
    "trade_moves",  # last-trade price changes per second: trade activity without repeats
)
VOL_UNIT_S = 60.0  # log_vol is volatility per minute
VOL_FLOOR = 1e-6  # keeps log_vol finite in a window without a mid move
MIN_SEEN_S = 1.0  # rates are per second over at least this much time
# The feature definitions' version, stored on every prediction row: change it with any change
# of what a feature means, so a backtest never scores rows of another definition.
FEATURE_SET_VERSION = "f1"


def feature_names(windows: Sequence[int]) -> list[str]:
    return [f"{name}_{w}s" for w in windows for name in PER_WINDOW]


# entry: (ts, squared return, mid moved, trade price moved, log mid)
Entry = tuple[float, float, bool, bool, float]


class _Window:
    __slots__ = ("span", "entries", "n", "n_mid", "n_trade", "s_r2", "lows", "highs")

    def __init__(self, span: float) -> None:
        self.span = span
        self.entries: deque[Entry] = deque()
        self.lows: deque[tuple[float, float]] = deque()  # (ts, log mid), increasing log mid
        self.highs: deque[tuple[float, float]] = deque()  # (ts, log mid), decreasing log mid
        self.n = self.n_mid = self.n_trade = 0
        self.s_r2 = 0.0

    def push(self, entry: Entry) -> None:
        ts, r2, mid_moved, trade_moved, lm = entry
        self.entries.append(entry)
        self.n += 1
        self.n_mid += mid_moved
        self.n_trade += trade_moved
        self.s_r2 += r2
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= lm:
            lows.pop()
        lows.append((ts, lm))
        while highs and highs[-1][1] <= lm:
            highs.pop()
        highs.append((ts, lm))

    def evict(self, now: float) -> None:
        cutoff = now - self.span
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            _, r2, mid_moved, trade_moved, _ = entries.popleft()
            self.n -= 1
            self.n_mid -= mid_moved
            self.n_trade -= trade_moved
            self.s_r2 -= r2
        while self.lows[0][0] <= cutoff:  # the newest entry is never evicted: never empty
            self.lows.popleft()
        while self.highs[0][0] <= cutoff:
            self.highs.popleft()
        if self.n_mid == 0:  # clear rounding residue once the window holds no mid move
            self.s_r2 = 0.0

    def values(self, seen_s: float) -> list[float]:
        n = self.n
        s_r2 = max(self.s_r2, 0.0)
        seen = max(min(self.span, seen_s), MIN_SEEN_S)
        return [
            math.sqrt(s_r2),
            math.log(math.sqrt(s_r2 * VOL_UNIT_S / seen) + VOL_FLOOR),
            self.highs[0][1] - self.lows[0][1],
            n / seen,
            self.n_trade / seen,
        ]


class ProductState:
    """The windows of one product, since its last reset."""

    __slots__ = ("windows", "last_ts", "last_mid", "last_price", "since")

    def __init__(self, spans: Sequence[int]) -> None:
        self.windows = [_Window(float(s)) for s in spans]
        self.last_ts: float | None = None
        self.last_mid = 0.0
        self.last_price = 0.0
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
        lm = math.log(mid)
        if reset:
            entry = (ts, 0.0, False, False, lm)
        else:
            r = lm - math.log(state.last_mid)
            entry = (ts, r * r, mid != state.last_mid, tick.price != state.last_price, lm)
        state.last_ts, state.last_mid, state.last_price = ts, mid, tick.price
        seen = ts - state.since
        values: list[float] = []
        for window in state.windows:
            window.push(entry)
            window.evict(ts)
            values.extend(window.values(seen))
        return FeatureRow(tick.product_id, ts, mid, values, reset)


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
