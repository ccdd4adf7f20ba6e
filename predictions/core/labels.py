"""Forward realized-volatility labels, computed per product from a feature frame.

The label of tick t looks at log mid returns over (t, t+H]. A tick whose horizon is not fully
observed (the product's stream ends or has a gap before t+H) gets no label (NaN) and is
dropped from training and evaluation.
"""

from __future__ import annotations

import numpy as np

from predictions.core.features import FeatureFrame


def forward_realized_vol(frame: FeatureFrame, horizon_s: float) -> np.ndarray:
    """sqrt(sum r^2) over (t, t+H] within the tick's own segment; NaN where not observable."""
    out = np.full(len(frame.ts), np.nan)
    for pid in np.unique(frame.product_id):
        rows = np.flatnonzero(frame.product_id == pid)
        # A new segment starts at each of this product's resets (not another product's).
        segment = np.cumsum(frame.reset[rows])
        for seg in np.unique(segment):
            idx = rows[segment == seg]
            out[idx] = _segment_forward_rv(frame.ts[idx], frame.mid[idx], horizon_s)
    return out


def _segment_forward_rv(ts: np.ndarray, mid: np.ndarray, horizon_s: float) -> np.ndarray:
    r2 = np.zeros(len(ts))
    r2[1:] = np.diff(np.log(mid)) ** 2
    cum = np.cumsum(r2)
    end = np.searchsorted(ts, ts + horizon_s, side="right") - 1
    fwd = np.sqrt(np.maximum(cum[end] - cum, 0.0))
    fwd[ts + horizon_s > ts[-1]] = np.nan  # horizon runs past the segment: unobserved
    return fwd


def spike_labels(fwd_rv: np.ndarray, threshold: float) -> np.ndarray:
    return (fwd_rv >= threshold).astype(np.int8)


def live_forward_rv(ts: np.ndarray, mid: np.ndarray, horizon_s: float, gap_s: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Forward realized vol of one product's ticks as they stand now, and which are decided.

    The same definition as training (within a gap-free segment, NaN where the horizon runs
    past the segment's end). A NaN in a segment that a gap has closed is decided: the label
    is unobservable. A NaN in the last segment is not decided yet: later ticks may come.
    """
    fwd = np.full(len(ts), np.nan)
    decided = np.zeros(len(ts), dtype=bool)
    if len(ts) == 0:
        return fwd, decided
    segment = np.r_[0, np.cumsum(np.diff(ts) > gap_s)]
    last = segment[-1]
    for seg in np.unique(segment):
        idx = np.flatnonzero(segment == seg)
        fwd[idx] = _segment_forward_rv(ts[idx], mid[idx], horizon_s)
        decided[idx] = True if seg != last else ~np.isnan(fwd[idx])
    return fwd, decided
