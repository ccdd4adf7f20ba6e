"""Honest training and evaluation, with no Django: split by time with a purge gap, fit the
label threshold, the baseline and the ML model on train only, and evaluate both on test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from predictions.features import FeatureFrame
from predictions.labels import forward_realized_vol, spike_labels
from predictions.scoring import BaselineScorer, MLScorer

BASELINE_FEATURE = "rv_60s"
MIN_TRAIN_ROWS = 500
MIN_TEST_ROWS = 200
MIN_POSITIVES = 10
REFERENCE_SAMPLE_ROWS = 2000


class NotEnoughData(ValueError):
    """The data cannot support an honest split; the text says how much is needed."""


@dataclass
class Split:
    train: np.ndarray  # row indices
    test: np.ndarray
    cut_ts: float
    purge_s: float


@dataclass
class TrainResult:
    model: Any
    ml_threshold: float
    baseline_params: dict[str, Any]
    label_threshold: float
    feature_names: list[str]
    metrics: dict[str, Any]
    train_span: tuple[float, float]
    test_span: tuple[float, float]
    reference_sample: list[list[float]] = field(default_factory=list)


def time_split(ts: np.ndarray, test_fraction: float, purge_s: float) -> Split:
    """Train is before the cut minus the purge gap, test after the cut: nothing overlaps."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test fraction must be between 0 and 1")
    start, end = float(np.min(ts)), float(np.max(ts))
    cut = start + (end - start) * (1.0 - test_fraction)
    train = np.flatnonzero(ts <= cut - purge_s)
    test = np.flatnonzero(ts > cut)
    return Split(train=train, test=test, cut_ts=cut, purge_s=purge_s)


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximizes F1 on the rows given (train only)."""
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (k + ys.sum())
    last_of_value = np.r_[ps[1:] != ps[:-1], True]  # only cut between distinct scores
    f1 = np.where(last_of_value, f1, -1.0)
    return float(ps[int(np.argmax(f1))])


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | None]:
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    both_classes = 0 < y.sum() < len(y)
    return {
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "brier": float(brier_score_loss(y, p)),
        "precision": tp / int(pred.sum()) if pred.any() else 0.0,
        "recall": tp / int(y.sum()) if y.any() else 0.0,
        "threshold": float(threshold),
    }


def fit_baseline(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
    bx, by = iso.X_thresholds_, iso.y_thresholds_
    threshold = best_f1_threshold(y, np.interp(x, bx, by))
    return {"feature": BASELINE_FEATURE, "x": bx.tolist(), "y": by.tolist(),
            "threshold": threshold}


def fit_ml(X: np.ndarray, y: np.ndarray, seed: int) -> Pipeline:
    model = Pipeline(
        [
            ("quantile", QuantileTransformer(n_quantiles=200, output_distribution="normal",
                                             subsample=100_000, random_state=seed)),
            ("logit", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )
    return model.fit(X, y)


def train(frame: FeatureFrame, *, horizon_s: float, percentile: float, test_fraction: float,
          seed: int = 0) -> TrainResult:
    fwd = forward_realized_vol(frame, horizon_s)
    labelled = ~np.isnan(fwd)
    ts, X, fwd = frame.ts[labelled], frame.X[labelled], fwd[labelled]
    if len(ts) < MIN_TRAIN_ROWS + MIN_TEST_ROWS:
        raise NotEnoughData(
            f"{len(ts)} labelled rows; an honest split needs at least "
            f"{MIN_TRAIN_ROWS + MIN_TEST_ROWS} (plus a {horizon_s:g} s purge gap)"
        )
    split = time_split(ts, test_fraction, purge_s=horizon_s)
    if len(split.train) < MIN_TRAIN_ROWS or len(split.test) < MIN_TEST_ROWS:
        raise NotEnoughData(
            f"split gives {len(split.train)} train / {len(split.test)} test rows; needs at "
            f"least {MIN_TRAIN_ROWS} / {MIN_TEST_ROWS}"
        )
    label_threshold = float(np.percentile(fwd[split.train], percentile))
    y = spike_labels(fwd, label_threshold)
    y_tr, y_te = y[split.train], y[split.test]
    if y_tr.sum() < MIN_POSITIVES:
        raise NotEnoughData(f"train has {int(y_tr.sum())} spikes; needs at least {MIN_POSITIVES}")

    bcol = frame.names.index(BASELINE_FEATURE)
    baseline_params = fit_baseline(X[split.train, bcol], y_tr)
    baseline = BaselineScorer.from_params(baseline_params, frame.names)
    model = fit_ml(X[split.train], y_tr, seed)
    p_train = MLScorer(model, 0.5).score(X[split.train])
    ml = MLScorer(model, best_f1_threshold(y_tr, p_train))

    X_te = X[split.test]
    metrics = {
        "n_rows": int(len(split.test)),
        "n_train_rows": int(len(split.train)),
        "prevalence": float(y_te.mean()),
        "train_prevalence": float(y_tr.mean()),
        "horizon_s": horizon_s,
        "percentile": percentile,
        "label_threshold": label_threshold,
        "ml": evaluate(y_te, ml.score(X_te), ml.threshold),
        "baseline": evaluate(y_te, baseline.score(X_te), baseline.threshold),
    }
    rng = np.random.default_rng(seed)
    take = rng.choice(split.train, size=min(REFERENCE_SAMPLE_ROWS, len(split.train)),
                      replace=False)
    return TrainResult(
        model=model,
        ml_threshold=ml.threshold,
        baseline_params=baseline_params,
        label_threshold=label_threshold,
        feature_names=list(frame.names),
        metrics=metrics,
        train_span=(float(ts[split.train].min()), float(ts[split.train].max())),
        test_span=(float(ts[split.test].min()), float(ts[split.test].max())),
        reference_sample=X[np.sort(take)].tolist(),
    )
