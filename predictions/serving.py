"""The scorers a process serves with, loaded once per model version and verified first.

`active_scorers()` answers: given the current configuration, which scorer serves, which one
shadows, and did the ML artifact fail its checks (then the baseline serves and says so).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

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

log = logging.getLogger(__name__)

# A refused ML artifact is re-read after this long, so a repaired row serves again without a
# restart (a good artifact is loaded once per process: rows are never edited in place).
REFUSED_RETRY_SECONDS = 30.0


class NoModelVersion(Exception):
    """No model version is promoted yet: nothing can be scored."""


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
