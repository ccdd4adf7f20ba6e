"""How far windows of the training history itself lie from the reference sample, so a drift
report judges a feature against the variation its own process shows over the same span.

Why (measured, docs/drift.md): the features are strongly autocorrelated (volatility regimes
last minutes, log-volatility reverts over about 5 minutes), so a window of 15 minutes never
looks like a reference drawn across 8 hours. With Evidently's fixed Wasserstein threshold
(0.1 standard deviations) every 15-minute window of the simulator, fresh or warm, reported
dataset drift against a model trained on that same simulator. The calibration: for each span
in SPANS_S, cut the training rows into consecutive windows of that span, take
its normed Wasserstein distance to the reference per feature, exactly as Evidently computes
it, and keep the QUANTILE of those distances. A feature drifts when its distance is beyond
both the method's threshold and what the training history showed over that span.
Plain numpy and scipy, no Django.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

SPANS_S = (300, 900, 3600, 4 * 3600)
QUANTILE = 0.95
WINDOW_ROWS = 5000  # a drift report's default current window (ServiceConfig.drift_window_rows)
MIN_WINDOW_ROWS = 200  # settings.DRIFT_MIN_ROWS: a window this small is not judged
MIN_WINDOWS = 4  # fewer windows of a span than this make no quantile


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's `wasserstein` statistic: the distance in reference standard deviations."""
    norm = max(float(np.std(reference)), 0.001)
    return float(wasserstein_distance(reference, current) / norm)


def _windows(ts: np.ndarray, span: float) -> list[np.ndarray]:
    """Row indices of each consecutive window of `span` seconds; of a larger window, its
    newest WINDOW_ROWS rows (a report's current rows are the newest of their window)."""
    out = []
    start, end = float(ts[0]), float(ts[-1])
    while start + span <= end:
        lo, hi = np.searchsorted(ts, [start, start + span])
        if hi - lo >= MIN_WINDOW_ROWS:
            idx = np.arange(lo, hi)
            if len(idx) > WINDOW_ROWS:
                idx = idx[-WINDOW_ROWS:]  # a report takes the newest rows of its window
            out.append(idx)
        start += span
    return out


def drift_calibration(X: np.ndarray, ts: np.ndarray, reference: np.ndarray,
                      names: list[str]) -> dict:
    """{"method", "quantile", "spans": {span seconds (str): {feature: distance}}} for every
    span with at least MIN_WINDOWS windows in the rows (`ts` ascending)."""
    spans: dict[str, dict[str, float]] = {}
    for span in SPANS_S:
        windows = _windows(ts, span)
        if len(windows) < MIN_WINDOWS:
            continue
        spans[str(span)] = {
            name: float(np.quantile([normed_wasserstein(reference[:, j], X[idx, j])
                                     for idx in windows], QUANTILE))
            for j, name in enumerate(names)}
    return {"method": "wasserstein", "quantile": QUANTILE, "spans": spans}


def calibrated_thresholds(calibration: dict | None, *, method: str, span_s: float
                          ) -> dict[str, float]:
    """Per-feature distances a window of `span_s` seconds shows without drift: those of the
    shortest calibrated span at least as long (or the longest), for the calibrated method
    only; {} when there is nothing to go by."""
    if not calibration or calibration.get("method") != method or not calibration.get("spans"):
        return {}
    spans = sorted(calibration["spans"], key=float)
    chosen = next((s for s in spans if float(s) >= span_s), spans[-1])
    return dict(calibration["spans"][chosen])
