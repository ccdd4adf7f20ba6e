"""The scorers a process serves with, loaded once per model version and verified first.

`active_scorers()` answers: given the current configuration, which scorer serves, which one
shadows, and did the ML artifact fail its checks (then the baseline serves and says so).
`rows_score()` answers one predict request: the variant it names (staff only) or the
configured one, falling back to the baseline, with a reason, when the ML artifact is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from predictions.config import ActiveConfig, current_config
from predictions.core.scorers import (
    BASELINE,
    ML,
    ArtifactError,
    BaselineScorer,
    MLScorer,
    Scorer,
    load_model,
    ml_scorer,
)

if TYPE_CHECKING:
    from predictions.models import ModelVersion

log = logging.getLogger(__name__)

# A refused ML artifact is re-read after this long, so a repaired row serves again without a
# restart (a good artifact is loaded once per process: rows are never edited in place).
REFUSED_RETRY_SECONDS = 30.0


class NoModelVersion(Exception):
    """No model version is promoted yet: nothing can be scored."""


class VariantForbidden(Exception):
    """A caller without staff rights named the variant to score with."""


@dataclass(frozen=True)
class LoadedVersion:
    id: int
    name: str
    sha256: str
    feature_names: list[str]
    baseline: BaselineScorer
    ml: MLScorer | None
    ml_error: str | None  # why the ML artifact was refused, if it was
    retry_at: float = 0.0  # a refused artifact is checked again after this (monotonic) time


@dataclass(frozen=True)
class Serving:
    config: ActiveConfig
    version: LoadedVersion
    served: Scorer
    shadow: Scorer | None
    degraded: bool  # the ML variant was asked for but its artifact was refused


@dataclass(frozen=True)
class Scored:
    scores: np.ndarray
    labels: np.ndarray  # scores at or above the threshold
    threshold: float
    variant: str
    version_name: str
    fallback_reason: str | None  # set when the baseline answers because ML was refused


@dataclass(frozen=True)
class ServedVersion:
    variant: str  # what a request without a named variant is scored with
    threshold: float | None
    model_version: ModelVersion | None
    config_version: int


_lock = threading.Lock()
_loaded: dict[int, LoadedVersion] = {}


def _usable(hit: LoadedVersion | None) -> bool:
    """A loaded version serves until a refused artifact is due for another look."""
    return hit is not None and (hit.ml is not None or time.monotonic() < hit.retry_at)


def load_version(version_id: int) -> LoadedVersion:
    """Load (once per process) a model version's scorers, refusing a bad ML artifact."""
    hit = _loaded.get(version_id)
    if _usable(hit):
        return hit
    from monitoring import metrics
    from predictions.models import ModelVersion

    with _lock:
        hit = _loaded.get(version_id)
        if _usable(hit):
            return hit
        row = ModelVersion.objects.get(pk=version_id)
        baseline = BaselineScorer.from_params(row.baseline_params, row.feature_names)
        ml: MLScorer | None = None
        error: str | None = None
        try:
            model = load_model(bytes(row.artifact), row.sha256)
            ml = ml_scorer(model, row.threshold, np.asarray(row.reference_sample[:500]))
        except ArtifactError as exc:
            error = str(exc)
            metrics.MODEL_LOAD_FAILURES.labels(model_version=row.name).inc()
            log.error("refusing ML artifact of model version %s: %s", row.name, error)
        loaded = LoadedVersion(row.id, row.name, row.sha256, list(row.feature_names),
                               baseline, ml, error,
                               retry_at=time.monotonic() + REFUSED_RETRY_SECONDS)
        _loaded[version_id] = loaded
        return loaded


def active_scorers() -> Serving:
    config = current_config()
    if config.model_version_id is None:
        raise NoModelVersion("no model version is promoted; run `manage.py train --activate`")
    version = load_version(config.model_version_id)
    if version.ml is None:
        return Serving(config, version, version.baseline, None,
                       degraded=config.active_variant == ML)
    if config.active_variant == BASELINE:
        return Serving(config, version, version.baseline, version.ml, degraded=False)
    return Serving(config, version, version.ml, version.baseline, degraded=False)


def forget_loaded() -> None:
    with _lock:
        _loaded.clear()


def _fallback_reason(version: LoadedVersion) -> str | None:
    return f"ml artifact refused: {version.ml_error}" if version.ml_error else None


def variant_choose(*, serving: Serving, variant: str | None,
                   is_staff: bool) -> tuple[Scorer, str | None]:
    """The scorer for one request, and why the baseline stands in for ML (or None).

    Without a named variant the configuration decides. Only staff may name one (to compare the
    variants on the same rows); a named ML whose artifact is refused is answered by the
    baseline too, saying so, rather than refused.
    """
    version = serving.version
    if variant is None:
        return serving.served, _fallback_reason(version) if serving.degraded else None
    if not is_staff:
        raise VariantForbidden("only staff may choose the variant")
    if variant == BASELINE:
        return version.baseline, None
    if version.ml is None:
        return version.baseline, _fallback_reason(version)
    return version.ml, None


def rows_score(*, serving: Serving, X: np.ndarray, variant: str | None,
               is_staff: bool) -> Scored:
    """Score validated feature rows with the scorer `variant_choose` picks."""
    scorer, fallback = variant_choose(serving=serving, variant=variant, is_staff=is_staff)
    scores = scorer.score(X)
    return Scored(scores=scores, labels=scores >= scorer.threshold, threshold=scorer.threshold,
                  variant=scorer.variant, version_name=serving.version.name,
                  fallback_reason=fallback)


def served_version() -> ServedVersion:
    """The variant, model version and threshold being served, read from the row itself (not
    this process's cached configuration), so an operator sees a change at once."""
    from predictions import selectors

    config = selectors.service_config_get()
    mv = config.active_model_version
    variant, threshold = config.active_variant, None
    if mv is not None:
        loaded = load_version(mv.id)
        if loaded.ml is None:
            variant = BASELINE
        threshold = loaded.baseline.threshold if variant == BASELINE else mv.threshold
    return ServedVersion(variant=variant, threshold=threshold, model_version=mv,
                         config_version=config.version)
