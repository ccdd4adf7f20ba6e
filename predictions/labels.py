"""Forward realized-volatility labels, computed per product from a feature frame.

The label of tick t looks at log mid returns over (t, t+H]. A tick whose horizon is not fully
observed (the product's stream ends or has a gap before t+H) gets no label (NaN) and is
dropped from training and evaluation.
"""

from __future__ import annotations

import numpy as np

from predictions.features import FeatureFrame


def forward_realized_vol(frame: FeatureFrame, horizon_s: float) -> np.ndarray:
    """sqrt(sum r^2) over (t, t+H] within the tick's own segment; NaN where not observable."""
    out = np.full(len(frame.ts), np.nan)
    segment = np.cumsum(frame.reset)  # a new segment starts at each reset
    for pid in np.unique(frame.product_id):
        for seg in np.unique(segment[frame.product_id == pid]):
            idx = np.flatnonzero((frame.product_id == pid) & (segment == seg))
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
