"""Honest training and evaluation, with no Django.

1. Labels: forward realized volatility over (t, t+H]; the spike threshold is a percentile of
   the *train* part only.
2. Split by time: train, then a purge gap of H, then test. Nothing is shuffled.
3. Baseline: an isotonic (monotone, calibrated) map from 60 s realized volatility, on train.
4. Train is cut into time-contiguous blocks with a purge gap of H around each. Candidates
   (logistic regression, histogram gradient boosting) are compared walking forward: each
   later block validates a model fitted on the blocks before it; the best pooled PR-AUC wins.
5. Calibration: the kept model, refit on all of train, gets an isotonic map fitted on its
   out-of-fold scores over the same folds, which cover the whole of train, so calm and
   volatile sessions both shape the map (not just the last slice of train). The decision
   threshold maximizes F1 on those calibrated out-of-fold probabilities.
6. Both variants are evaluated on the test part, beside its prevalence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from predictions.core.features import FeatureFrame
from predictions.core.labels import forward_realized_vol, spike_labels
from predictions.core.scorers import BaselineScorer, MLScorer

BASELINE_FEATURE = "rv_60s"
REGIME_FEATURE = "rv_300s"  # calm vs volatile, for the calibration report
MIN_TRAIN_ROWS = 500
MIN_TEST_ROWS = 200
MIN_POSITIVES = 10
REFERENCE_SAMPLE_ROWS = 2000
CALIBRATION_FOLDS = 4

Progress = Callable[[str], None]


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
    algorithm: str
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


def purged_time_folds(ts: np.ndarray, k: int, purge_s: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """k time-contiguous test blocks that partition the rows; each fold trains on the rows
    more than `purge_s` away from its block on either side."""
    edges = np.quantile(ts, np.linspace(0.0, 1.0, k + 1))
    folds = []
    for j in range(k):
        lo, hi = edges[j], edges[j + 1]
        test = np.flatnonzero((ts >= lo) & ((ts < hi) if j < k - 1 else (ts <= hi)))
        train = np.flatnonzero((ts < lo - purge_s) | (ts > hi + purge_s))
        folds.append((train, test))
    return folds


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


def calibration_by_regime(y: np.ndarray, p: np.ndarray, regime: np.ndarray,
                          edges: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean predicted probability beside the observed spike rate, per volatility regime
    (terciles of `regime` on train): calibration must hold in calm and volatile markets."""
    out = {}
    bins = np.digitize(regime, edges)
    for b, name in enumerate(("calm", "normal", "volatile")):
        mask = bins == b
        if mask.any():
            out[name] = {"rows": int(mask.sum()), "mean_predicted": float(p[mask].mean()),
                         "observed_rate": float(y[mask].mean())}
    return out


def variant_report(y: np.ndarray, scored: dict[str, tuple[np.ndarray, float]],
                   regime: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """Metrics at each variant's threshold, and calibration by regime, on the same rows."""
    report: dict[str, Any] = {name: evaluate(y, p, t) for name, (p, t) in scored.items()}
    report["calibration"] = {name: calibration_by_regime(y, p, regime, edges)
                             for name, (p, _) in scored.items()}
    return report


def fit_baseline(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
    bx, by = iso.X_thresholds_, iso.y_thresholds_
    threshold = best_f1_threshold(y, np.interp(x, bx, by))
    return {"feature": BASELINE_FEATURE, "x": bx.tolist(), "y": by.tolist(),
            "threshold": threshold}


CANDIDATES: dict[str, Callable[[int], Any]] = {
    "logistic": lambda seed: Pipeline([
        ("quantile", QuantileTransformer(n_quantiles=200, output_distribution="normal",
                                         subsample=100_000, random_state=seed)),
        ("logit", LogisticRegression(C=0.5, max_iter=2000)),
    ]),
    "hist_gradient_boosting": lambda seed: HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=200,
        l2_regularization=1.0, random_state=seed),
}


def walk_forward_folds(folds: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """From time-ordered purged folds: validate each block on a model fitted on the blocks
    before it only (as in production, the model never sees the future)."""
    out = []
    for j in range(1, len(folds)):
        test = folds[j][1]
        train = np.intersect1d(folds[j][0], np.concatenate([f[1] for f in folds[:j]]))
        out.append((train, test))
    return out


def select_candidate(X: np.ndarray, y: np.ndarray, folds: list, seed: int, say: Progress
                     ) -> tuple[str, dict[str, float]]:
    """Walk forward through the purged time folds of train (every validation block is later
    than what its model was fitted on) and keep the candidate with the best pooled PR-AUC."""
    scores: dict[str, float] = {}
    steps = walk_forward_folds(folds)
    for name, make in CANDIDATES.items():
        say(f"validating {name} walking forward over {len(steps)} time blocks")
        ys, ps = [], []
        for train_idx, val_idx in steps:
            if len(np.unique(y[train_idx])) < 2:
                continue  # an early block without spikes cannot fit a classifier
            model = make(seed).fit(X[train_idx], y[train_idx])
            ys.append(y[val_idx])
            ps.append(model.predict_proba(X[val_idx])[:, 1])
        if not ys:
            scores[name] = 0.0
            continue
        y_val, p_val = np.concatenate(ys), np.concatenate(ps)
        scores[name] = float(average_precision_score(y_val, p_val)) if y_val.any() else 0.0
    # Ties (no usable validation) go to the first, simplest candidate.
    return max(scores, key=lambda n: (scores[n], -list(CANDIDATES).index(n))), scores


def fit_calibrated(name: str, X: np.ndarray, y: np.ndarray, folds: list, seed: int,
                   say: Progress) -> tuple[CalibratedClassifierCV, np.ndarray]:
    """The chosen model refit on all of train, with an isotonic map fitted on its out-of-fold
    scores over the purged folds (which cover all of train); also returns the calibrated
    out-of-fold probabilities."""
    say(f"calibrating {name} on {len(folds)} purged time folds")
    for j, (train_idx, _) in enumerate(folds):
        if len(np.unique(y[train_idx])) < 2:
            raise NotEnoughData(f"calibration fold {j + 1} of {len(folds)} trains on no spikes; "
                                "train needs spikes spread over more of its time span")
    model = CalibratedClassifierCV(CANDIDATES[name](seed), method="isotonic", cv=folds,
                                   ensemble=False).fit(X, y)
    oof = cross_val_predict(CANDIDATES[name](seed), X, y, cv=folds, method="decision_function")
    calibrator = model.calibrated_classifiers_[0].calibrators[0]
    return model, np.clip(calibrator.predict(oof), 0.0, 1.0)


def train(frame: FeatureFrame, *, horizon_s: float, percentile: float, test_fraction: float,
          seed: int = 0, say: Progress = lambda _: None) -> TrainResult:
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
    X_tr, y_tr, ts_tr = X[split.train], y[split.train], ts[split.train]
    if y_tr.sum() < MIN_POSITIVES:
        raise NotEnoughData(f"train has {int(y_tr.sum())} spikes; needs at least {MIN_POSITIVES}")

    say("fitting the baseline")
    bcol = frame.names.index(BASELINE_FEATURE)
    baseline_params = fit_baseline(X_tr[:, bcol], y_tr)
    baseline = BaselineScorer.from_params(baseline_params, frame.names)
    folds = purged_time_folds(ts_tr, CALIBRATION_FOLDS, horizon_s)
    algorithm, validation = select_candidate(X_tr, y_tr, folds, seed, say)
    model, oof_p = fit_calibrated(algorithm, X_tr, y_tr, folds, seed, say)
    ml = MLScorer(model, best_f1_threshold(y_tr, oof_p))

    say("evaluating on test")
    X_te, y_te = X[split.test], y[split.test]
    if not y_te.any():
        raise NotEnoughData(f"the test period ({len(y_te)} rows) has no spike, so PR-AUC and "
                            "recall are undefined; use more data or a larger --test-fraction")
    p_ml, p_base = ml.score(X_te), baseline.score(X_te)
    rcol = frame.names.index(REGIME_FEATURE)
    regime_edges = np.quantile(X_tr[:, rcol], [1 / 3, 2 / 3])
    metrics = {
        "n_rows": int(len(split.test)),
        "n_train_rows": int(len(split.train)),
        "prevalence": float(y_te.mean()),
        "train_prevalence": float(y_tr.mean()),
        "horizon_s": horizon_s,
        "percentile": percentile,
        "label_threshold": label_threshold,
        "purge_s": horizon_s,
        "algorithm": algorithm,
        "validation_pr_auc": validation,
        **variant_report(y_te, {"ml": (p_ml, ml.threshold),
                                "baseline": (p_base, baseline.threshold)},
                         X_te[:, rcol], regime_edges),
    }
    rng = np.random.default_rng(seed)
    take = rng.choice(len(split.train), size=min(REFERENCE_SAMPLE_ROWS, len(split.train)),
                      replace=False)
    return TrainResult(
        model=model,
        algorithm=algorithm,
        ml_threshold=ml.threshold,
        baseline_params=baseline_params,
        label_threshold=label_threshold,
        feature_names=list(frame.names),
        metrics=metrics,
        train_span=(float(ts_tr.min()), float(ts_tr.max())),
        test_span=(float(ts[split.test].min()), float(ts[split.test].max())),
        reference_sample=X_tr[np.sort(take)].tolist(),
    )


def evaluate_model(frame: FeatureFrame, *, model: Any, ml_threshold: float,
                   baseline_params: dict[str, Any], label_threshold: float,
                   horizon_s: float) -> dict[str, Any]:
    """Score a trained version on new data under its own labelling rules (its horizon and the
    spike threshold fixed on its training period): ML beside the baseline on the same rows."""
    fwd = forward_realized_vol(frame, horizon_s)
    labelled = ~np.isnan(fwd)
    if labelled.sum() < MIN_TEST_ROWS:
        raise NotEnoughData(f"{int(labelled.sum())} labelled rows; evaluation needs at least "
                            f"{MIN_TEST_ROWS}")
    X, y = frame.X[labelled], spike_labels(fwd[labelled], label_threshold)
    baseline = BaselineScorer.from_params(baseline_params, frame.names)
    ml = MLScorer(model, ml_threshold)
    p_ml, p_base = ml.score(X), baseline.score(X)
    rcol = frame.names.index(REGIME_FEATURE)
    edges = np.quantile(X[:, rcol], [1 / 3, 2 / 3])
    return {
        "n_rows": int(len(y)),
        "prevalence": float(y.mean()),
        "horizon_s": horizon_s,
        "label_threshold": label_threshold,
        **variant_report(y, {"ml": (p_ml, ml.threshold), "baseline": (p_base, baseline.threshold)},
                         X[:, rcol], edges),
    }
