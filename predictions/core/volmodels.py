"""The candidate models: probabilities of a volatility spike in absolute volatility terms.

What the real ticks showed (docs/model_quality.md): forward 60 s volatility follows the level
of recent volatility *across* sessions (regimes), while within one session the next minute is
barely predictable. Regimes shift between captures, so a model must rank and be calibrated in
absolute terms and extrapolate monotonically into calmer and wilder markets than it saw.

So the candidates are log-volatility models with a logistic link:

    P(forward vol >= c) = expit((mu(x) + a - log c) / s)

`mu(x)` is a linear forecast of log forward volatility; `s` is the scale of the logistic
distribution matching the spread of the train residuals (robustly, from their interquartile
range); `a` makes the mean probability on train equal the train spike rate (calibration in the
large). Slopes fitted freely on a dozen sessions flip sign (two train sessions can disagree),
so the structural candidates fix the slope of log volatility at 1 — volatility persists — and
fit only `a` and `s`; the learned candidates (`vol_level_ridge`, `logistic`) are kept in the
walk-forward comparison to show what freedom costs. Every model is served as a plain
scikit-learn LogisticRegression over all feature columns (zero weight on unused ones): smooth,
strictly monotone in the level, never exactly 0 or 1, and compiled by `compiled.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, Ridge

LOG_FLOOR = 1e-6  # as features.VOL_FLOOR: log of a volatility that may be 0
_LOGISTIC_IQR = 2.0 * math.log(3.0)  # interquartile range of the standard logistic


def log_vol(values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(values, 0.0) + LOG_FLOOR)


def link(mu: np.ndarray, fwd: np.ndarray, y: np.ndarray, label_threshold: float
         ) -> tuple[float, float]:
    """(a, s) of the logistic link on train: s from the residual spread, a by matching the
    train spike rate (bisection: the mean probability is monotone in a)."""
    resid = log_vol(fwd) - mu
    q1, q3 = np.percentile(resid, [25, 75])
    s = max(float(q3 - q1) / _LOGISTIC_IQR, 1e-3)
    z = mu - math.log(label_threshold + LOG_FLOOR)
    target = float(np.mean(y))
    lo, hi = -50.0, 50.0
    for _ in range(80):
        a = (lo + hi) / 2.0
        if np.mean(expit((z + a) / s)) < target:
            lo = a
        else:
            hi = a
    return (lo + hi) / 2.0, s


def as_logistic(weights: np.ndarray, intercept: float) -> LogisticRegression:
    """A fitted LogisticRegression with the given decision function (what serving loads)."""
    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_ = np.asarray(weights, dtype=np.float64).reshape(1, -1)
    model.intercept_ = np.array([float(intercept)])
    model.n_features_in_ = model.coef_.shape[1]
    model.n_iter_ = np.array([0], dtype=np.int32)
    return model


def structural(w: np.ndarray, X: np.ndarray, fwd: np.ndarray, y: np.ndarray,
               label_threshold: float) -> LogisticRegression:
    """mu = X @ w with w fixed in advance; only the link is fitted."""
    mu = X @ w
    a, s = link(mu, fwd, y, label_threshold)
    return as_logistic(w / s, (a - math.log(label_threshold + LOG_FLOOR)) / s)


def _columns(names: list[str], stat: str) -> list[int]:
    return [i for i, n in enumerate(names) if n.startswith(f"{stat}_") and n.endswith("s")]


def _window(name: str) -> int:
    return int(name.rsplit("_", 1)[1].rstrip("s"))


def level_weights(names: list[str], which: str) -> np.ndarray:
    """Weight 1 on log_vol of the longest window ("level"), or spread evenly over every
    log_vol window ("blend")."""
    cols = _columns(names, "log_vol")
    if not cols:
        raise ValueError("the features have no log_vol_<window>s column")
    w = np.zeros(len(names))
    if which == "level":
        w[max(cols, key=lambda i: _window(names[i]))] = 1.0
    else:
        w[cols] = 1.0 / len(cols)
    return w


def fit_level(X: np.ndarray, fwd: np.ndarray, y: np.ndarray, c: float, names: list[str],
              seed: int) -> LogisticRegression:
    return structural(level_weights(names, "level"), X, fwd, y, c)


def fit_blend(X: np.ndarray, fwd: np.ndarray, y: np.ndarray, c: float, names: list[str],
              seed: int) -> LogisticRegression:
    return structural(level_weights(names, "blend"), X, fwd, y, c)


def fit_level_ridge(X: np.ndarray, fwd: np.ndarray, y: np.ndarray, c: float, names: list[str],
                    seed: int) -> LogisticRegression:
    """The level plus a strongly shrunk ridge forecast of its residual from every feature."""
    w0 = level_weights(names, "level")
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    ridge = Ridge(alpha=float(len(X))).fit((X - mean) / std, log_vol(fwd) - X @ w0)
    w = w0 + ridge.coef_ / std
    offset = float(ridge.intercept_ - np.sum(ridge.coef_ * mean / std))
    a, s = link(X @ w + offset, fwd, y, c)
    return as_logistic(w / s, (offset + a - math.log(c + LOG_FLOOR)) / s)


def fit_logistic(X: np.ndarray, fwd: np.ndarray, y: np.ndarray, c: float, names: list[str],
                 seed: int) -> LogisticRegression:
    """A regularised logistic regression on standardised features, fitted on the labels."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    lr = LogisticRegression(C=0.1, max_iter=2000).fit((X - mean) / std, y)
    coef = lr.coef_[0] / std
    return as_logistic(coef, float(lr.intercept_[0] - np.sum(lr.coef_[0] * mean / std)))


Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, float, list[str], int], Any]
CANDIDATES: dict[str, Fit] = {
    "vol_level": fit_level,
    "vol_blend": fit_blend,
    "vol_level_ridge": fit_level_ridge,
    "logistic": fit_logistic,
}
DESCRIPTIONS = {
    "vol_level": "log-volatility level model (longest window, slope 1) with a logistic link",
    "vol_blend": "log-volatility blend of every window (slope 1) with a logistic link",
    "vol_level_ridge": "log-volatility level plus a shrunk ridge residual, logistic link",
    "logistic": "regularised logistic regression on standardised features",
}


def baseline_params(x: np.ndarray, fwd: np.ndarray, y: np.ndarray, label_threshold: float,
                    feature: str) -> dict[str, Any]:
    """The baseline variant: a strictly monotone logistic map of log(feature), so it ranks
    exactly as the raw feature does (isotonic steps tied rows and lost PR-AUC) and never
    plateaus at 0 or 1 outside the train range (isotonic clipping did)."""
    mu = log_vol(x)
    a, s = link(mu, fwd, y, label_threshold)
    return {"feature": feature, "kind": "log_logistic", "floor": LOG_FLOOR,
            "offset": float(a - math.log(label_threshold + LOG_FLOOR)), "scale": float(s)}
