"""The trained model as plain numpy arrays, for fast scoring.

scikit-learn's per-call overhead, not the arithmetic, dominates small requests (a calibrated
gradient-boosting model costs ~2 ms for one row). At load time we read the fitted parameters
out of the calibrated model — the quantile transform and logistic coefficients, or every tree
of the gradient boosting model, plus the isotonic calibration map — into arrays, and score
with a handful of vectorized numpy operations. A plain logistic regression (what training
registers now: a log-volatility model with a logistic link) compiles to one matrix product
and the logistic function. The compiled scorer is checked against
scikit-learn on sample rows when it is built; if they ever disagree, serving falls back to
scikit-learn (see `compile_model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, ndtri

# np.interp's compiled core: the same function without its ~3 µs of Python checks per call,
# which add up at two calls per feature per request.
try:
    from numpy._core.multiarray import interp as _interp
except ImportError:  # another numpy layout
    _interp = np.interp

# QuantileTransformer's clipping bound (sklearn.preprocessing._data.BOUNDS_THRESHOLD).
_BOUNDS = 1e-7


class NotCompilable(Exception):
    """The model has a shape this module does not know; serve it with scikit-learn."""


@dataclass(frozen=True)
class IsotonicMap:
    x: np.ndarray
    y: np.ndarray

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return _interp(v, self.x, self.y)  # clips at both ends, as out_of_bounds="clip"


@dataclass(frozen=True)
class LogisticLink:
    def __call__(self, v: np.ndarray) -> np.ndarray:
        return expit(v)


@dataclass(frozen=True)
class Linear:
    coef: np.ndarray
    intercept: float

    def decision(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef + self.intercept


@dataclass(frozen=True)
class QuantileLogistic:
    quantiles: np.ndarray  # (n_quantiles, n_features)
    references: np.ndarray  # (n_quantiles,)
    coef: np.ndarray
    intercept: float
    # Derived once: contiguous per-feature quantiles, forwards and mirrored, so a call does
    # no copying; only the two interpolations stay per feature, the rest is whole-matrix.
    _q: np.ndarray = field(init=False, repr=False)
    _q_mirror: np.ndarray = field(init=False, repr=False)
    _r_mirror: np.ndarray = field(init=False, repr=False)
    _clip: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        q = np.ascontiguousarray(self.quantiles.T)
        object.__setattr__(self, "_q", q)
        object.__setattr__(self, "_q_mirror", np.ascontiguousarray(-q[:, ::-1]))
        object.__setattr__(self, "_r_mirror", np.ascontiguousarray(-self.references[::-1]))
        object.__setattr__(self, "_clip", ndtri(np.array([_BOUNDS - np.spacing(1),
                                                          1 - (_BOUNDS - np.spacing(1))])))

    def decision(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn's QuantileTransformer (normal output), term for term.
        r, q, q_mirror, r_mirror = self.references, self._q, self._q_mirror, self._r_mirror
        U = np.empty_like(X, dtype=np.float64)
        for j in range(X.shape[1]):
            col = X[:, j]
            U[:, j] = 0.5 * (_interp(col, q[j], r) - _interp(-col, q_mirror[j], r_mirror))
        U[X == self.quantiles[-1]] = 1.0
        U[X == self.quantiles[0]] = 0.0
        Z = np.clip(ndtri(U), self._clip[0], self._clip[1])
        return Z @ self.coef + self.intercept


@dataclass(frozen=True)
class Forest:
    """All trees of a binary gradient-boosting model, flattened into shared node arrays."""

    roots: np.ndarray  # (n_trees,) index of each tree's root node
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray  # global indices; leaves point to themselves
    right: np.ndarray
    value: np.ndarray
    depth: int
    baseline: float

    def decision(self, X: np.ndarray) -> np.ndarray:
        rows = np.arange(X.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X.shape[0], len(self.roots))).copy()
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            go_left = (x <= self.threshold[node]) | (np.isnan(x) & self.missing_left[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node].sum(axis=1) + self.baseline


@dataclass(frozen=True)
class CompiledModel:
    decision: Any  # Linear, QuantileLogistic or Forest
    calibration: Any  # IsotonicMap or LogisticLink

    def predict_proba1(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self.calibration(self.decision.decision(X)), 0.0, 1.0)


def _forest(hgb: Any) -> Forest:
    if getattr(hgb, "n_trees_per_iteration_", 1) != 1 or getattr(hgb, "is_categorical_", None) is not None:
        raise NotCompilable("only binary, numeric gradient boosting is compiled")
    parts, roots, offset, depth = [], [], 0, 0
    for (predictor,) in hgb._predictors:
        nodes = predictor.nodes
        roots.append(offset)
        parts.append((nodes, offset))
        depth = max(depth, int(nodes["depth"].max()))
        offset += len(nodes)
    size = offset
    feature = np.zeros(size, dtype=np.intp)
    threshold = np.zeros(size)
    missing_left = np.zeros(size, dtype=bool)
    left = np.zeros(size, dtype=np.intp)
    right = np.zeros(size, dtype=np.intp)
    value = np.zeros(size)
    for nodes, off in parts:
        idx = np.arange(off, off + len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        feature[idx] = nodes["feature_idx"]
        threshold[idx] = nodes["num_threshold"]
        missing_left[idx] = nodes["missing_go_to_left"].astype(bool)
        left[idx] = np.where(leaf, idx, nodes["left"] + off)
        right[idx] = np.where(leaf, idx, nodes["right"] + off)
        value[idx] = np.where(leaf, nodes["value"], 0.0)
    baseline = float(np.ravel(hgb._baseline_prediction)[0])
    return Forest(np.asarray(roots, dtype=np.intp), feature, threshold, missing_left, left,
                  right, value, depth, baseline)


def _quantile_logistic(pipeline: Any) -> QuantileLogistic:
    steps = dict(pipeline.steps)
    qt, lr = steps.get("quantile"), steps.get("logit")
    if qt is None or lr is None or qt.output_distribution != "normal" or lr.coef_.shape[0] != 1:
        raise NotCompilable("unknown pipeline")
    return QuantileLogistic(np.asarray(qt.quantiles_, dtype=np.float64),
                            np.asarray(qt.references_, dtype=np.float64),
                            lr.coef_[0].astype(np.float64), float(lr.intercept_[0]))


def compile_model(model: Any, check_rows: np.ndarray, atol: float = 1e-9) -> CompiledModel:
    """Compile a binary LogisticRegression, or a CalibratedClassifierCV (one calibrated
    classifier, isotonic), and prove it matches scikit-learn on `check_rows`; NotCompilable
    otherwise."""
    if type(model).__name__ == "LogisticRegression":
        if model.coef_.shape[0] != 1:
            raise NotCompilable("only a binary logistic regression is compiled")
        decision, calibration = (Linear(np.ascontiguousarray(model.coef_[0], dtype=np.float64),
                                        float(model.intercept_[0])), LogisticLink())
    else:
        decision, calibration = _calibrated(model)
    compiled = CompiledModel(decision, calibration)
    X = np.ascontiguousarray(check_rows, dtype=np.float64)
    expected = model.predict_proba(X)[:, 1]
    got = compiled.predict_proba1(X)
    if not np.allclose(got, expected, rtol=0.0, atol=atol):
        worst = float(np.max(np.abs(got - expected)))
        raise NotCompilable(f"compiled scores differ from scikit-learn by up to {worst:.3g}")
    return compiled


def _calibrated(model: Any) -> tuple[Any, IsotonicMap]:
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or model.method != "isotonic":
        raise NotCompilable("expected one isotonic-calibrated classifier (ensemble=False)")
    inner = calibrated[0]
    iso = inner.calibrators[0]
    calibration = IsotonicMap(np.asarray(iso.X_thresholds_, dtype=np.float64),
                              np.asarray(iso.y_thresholds_, dtype=np.float64))
    estimator = inner.estimator
    name = type(estimator).__name__
    if name == "HistGradientBoostingClassifier":
        return _forest(estimator), calibration
    if name == "Pipeline":
        return _quantile_logistic(estimator), calibration
    raise NotCompilable(f"no compiler for {name}")
