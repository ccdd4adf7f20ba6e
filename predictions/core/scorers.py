"""Scorers for both variants, and the safe artifact format of the ML model.

The baseline is a calibrated, strictly monotone map from recent realized volatility to a
probability (a logistic function of its log, fitted on train), kept as plain JSON; versions
trained before it keep their isotonic breakpoints and are still served. Every score is
clipped to [ε, 1-ε]: no variant ever claims certainty.
The ML model is a scikit-learn pipeline saved with skops and loaded only with the types
listed in TRUSTED_TYPES, after its sha256 has been checked. Nothing here uses pickle.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.special import expit

from predictions.core.evaluation import clip_probability

log = logging.getLogger(__name__)

BASELINE = "baseline"
ML = "ml"
VARIANTS = (ML, BASELINE)

# Every type an artifact may contain; anything else is refused at load time.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.QuantileTransformer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn.utils._bunch.Bunch",
        "numpy.dtype",
    }
)


class ArtifactError(Exception):
    """An ML artifact that must not be loaded (tampered, corrupt, or with unknown types)."""


class Scorer(Protocol):
    variant: str
    threshold: float

    def score(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class BaselineScorer:
    """P(spike) = expit((log(x + floor) + offset) / scale) of one volatility feature, fitted on
    train ("log_logistic"); or, for older versions, an isotonic map kept as breakpoints."""

    feature_index: int
    threshold: float
    kind: str = "log_logistic"
    floor: float = 1e-6
    offset: float = 0.0
    scale: float = 1.0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    variant: str = BASELINE

    @classmethod
    def from_params(cls, params: dict[str, Any], feature_names: list[str]) -> BaselineScorer:
        index = feature_names.index(params["feature"])
        if params.get("kind", "isotonic") == "isotonic":
            return cls(feature_index=index, threshold=float(params["threshold"]),
                       kind="isotonic", x=np.asarray(params["x"], dtype=np.float64),
                       y=np.asarray(params["y"], dtype=np.float64))
        return cls(feature_index=index, threshold=float(params["threshold"]),
                   floor=float(params["floor"]), offset=float(params["offset"]),
                   scale=float(params["scale"]))

    def score(self, X: np.ndarray) -> np.ndarray:
        v = X[:, self.feature_index]
        if self.kind == "isotonic":
            return clip_probability(np.interp(v, self.x, self.y))
        z = (np.log(np.maximum(v, 0.0) + self.floor) + self.offset) / self.scale
        return clip_probability(expit(z))


@dataclass(frozen=True)
class MLScorer:
    """The ML variant: scikit-learn's predict_proba, or the model compiled to numpy arrays
    (predictions.core.compiled) for the batch sizes where that is faster."""

    model: Any  # a fitted scikit-learn classifier with predict_proba
    threshold: float
    variant: str = ML
    compiled: Any = None
    compiled_max_rows: int = 0

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.compiled is not None and len(X) <= self.compiled_max_rows:
            return clip_probability(self.compiled.predict_proba1(X))
        return clip_probability(np.ascontiguousarray(self.model.predict_proba(X)[:, 1]))


def ml_scorer(model: Any, threshold: float, check_rows: np.ndarray) -> MLScorer:
    """An ML scorer that uses the compiled model where it is faster, once it has been proven
    equal to scikit-learn on `check_rows` (else scikit-learn alone)."""
    from predictions.core.compiled import Forest, NotCompilable, compile_model

    try:
        compiled = compile_model(model, check_rows)
    except NotCompilable as exc:
        log.warning("serving the ML model with scikit-learn: %s", exc)
        return MLScorer(model, threshold)
    # A forest walk costs per row and tree; past ~100 rows scikit-learn's loop is faster.
    max_rows = 64 if isinstance(compiled.decision, Forest) else 1_000_000
    return MLScorer(model, threshold, compiled=compiled, compiled_max_rows=max_rows)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_model(model: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(model)


def load_model(data: bytes, expected_sha256: str) -> Any:
    """Load an artifact only if its hash matches and every type in it is trusted."""
    import skops.io as sio

    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise ArtifactError(f"sha256 mismatch: stored {expected_sha256[:12]}…, got {actual[:12]}…")
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a corrupt file fails here, in many ways
        raise ArtifactError(f"artifact is unreadable: {exc}") from exc
    unknown = untrusted - TRUSTED_TYPES
    if unknown:
        raise ArtifactError(f"artifact contains untrusted types: {sorted(unknown)}")
    try:
        return sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise ArtifactError(f"artifact failed to load: {exc}") from exc
