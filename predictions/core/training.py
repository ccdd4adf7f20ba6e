"""Honest training and evaluation, with no Django.

1. Sessions: a pause longer than the feature gap starts one (splits.session_ids).
2. Held-out part: the last `test_fraction` of the labelled rows, cut at a session boundary
   where one is near (splits.split_rows; rows and sessions on each side are reported, a split
   too small on either side is refused). It is walked forward in blocks of whole sessions:
   each block is predicted by models fitted only on the rows before it, less a purge gap of
   the horizon. Every threshold — the label's percentile threshold, the link's calibration,
   the decision threshold — is fitted on that fold's train rows only.
3. Model choice: the candidates (volmodels.CANDIDATES) are compared on the pooled walk-forward
   predictions: the best Brier among those whose PR-AUC is within 0.02 of the best.
4. Refit: the chosen model and the baseline are refit on *all* rows with the same procedure,
   and that is what is registered. The metrics say which numbers are held-out (walk-forward)
   and which are in-sample (the refit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predictions.core import volmodels
from predictions.core.drift_calibration import drift_calibration
from predictions.core.evaluation import regime_of, scores, variant_report
from predictions.core.features import FeatureFrame
from predictions.core.labels import forward_realized_vol, spike_labels
from predictions.core.scorers import BaselineScorer, MLScorer
from predictions.core.splits import (
    Fold,
    NotEnoughData,
    Split,
    session_ids,
    split_rows,
    walk_forward,
)

__all__ = ["NotEnoughData", "TrainResult", "train", "evaluate_model", "best_f1_threshold"]

BASELINE_FEATURE = "rv_60s"
MIN_TRAIN_ROWS = 500
MIN_TEST_ROWS = 200
MIN_POSITIVES = 10
REFERENCE_SAMPLE_ROWS = 2000
WALK_FORWARD_BLOCKS = 8
SELECTION_PR_AUC_SLACK = 0.02

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    model: Any
    algorithm: str
    ml_threshold: float
    baseline_params: dict[str, Any]
    label_threshold: float
    feature_names: list[str]
    metrics: dict[str, Any]
    train_span: tuple[float, float]  # the refit: every labelled row
    test_span: tuple[float, float]  # the held-out (walk-forward) part
    reference_sample: list[list[float]] = field(default_factory=list)


@dataclass
class Labelled:
    """The labelled rows of a frame, in time order."""

    ts: np.ndarray
    X: np.ndarray
    fwd: np.ndarray
    sessions: np.ndarray
    names: list[str]


@dataclass
class Fitted:
    """Both variants fitted on one train part, with the thresholds fitted there."""

    label_threshold: float
    model: Any
    ml_threshold: float
    baseline_params: dict[str, Any]
    regime_edges: np.ndarray


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


def labelled_rows(frame: FeatureFrame, horizon_s: float, gap_s: float) -> Labelled:
    """Rows whose forward horizon is observed, in time order, with their session ids (sessions
    are cut on every row, labelled or not, so a gap anywhere separates them)."""
    fwd = forward_realized_vol(frame, horizon_s)
    order = np.argsort(frame.ts, kind="stable")
    sessions = session_ids(frame.ts[order], gap_s)
    keep = order[~np.isnan(fwd[order])]
    kept_sessions = sessions[~np.isnan(fwd[order])]
    return Labelled(frame.ts[keep], frame.X[keep], fwd[keep], kept_sessions, list(frame.names))


def level_column(names: list[str]) -> int:
    """The regime measure: log_vol of the longest window."""
    cols = [i for i, n in enumerate(names) if n.startswith("log_vol_")]
    if not cols:
        raise ValueError("the features have no log_vol_<window>s column")
    return max(cols, key=lambda i: int(names[i].rsplit("_", 1)[1].rstrip("s")))


def fit_variants(data: Labelled, rows: np.ndarray, percentile: float, algorithm: str,
                 seed: int) -> Fitted:
    """The label threshold, the ML model and the baseline, all from `rows` alone."""
    fwd = data.fwd[rows]
    c = float(np.percentile(fwd, percentile))
    y = spike_labels(fwd, c)
    if y.sum() < MIN_POSITIVES:
        raise NotEnoughData(f"a train part has {int(y.sum())} spikes; needs at least "
                            f"{MIN_POSITIVES}")
    X = data.X[rows]
    model = volmodels.CANDIDATES[algorithm](X, fwd, y, c, data.names, seed)
    ml_p = MLScorer(model, 0.5).score(X)
    bcol = data.names.index(BASELINE_FEATURE)
    params = volmodels.baseline_params(X[:, bcol], fwd, y, c, BASELINE_FEATURE)
    base_p = BaselineScorer.from_params({**params, "threshold": 0.5}, data.names).score(X)
    params["threshold"] = best_f1_threshold(y, base_p)
    edges = np.quantile(X[:, level_column(data.names)], [1 / 3, 2 / 3])
    return Fitted(c, model, best_f1_threshold(y, ml_p), params, edges)


def _predict(data: Labelled, fitted: Fitted, rows: np.ndarray) -> dict[str, np.ndarray]:
    X = data.X[rows]
    return {"y": spike_labels(data.fwd[rows], fitted.label_threshold),
            "ml": MLScorer(fitted.model, fitted.ml_threshold).score(X),
            "ml_t": np.full(len(rows), fitted.ml_threshold),
            "baseline": BaselineScorer.from_params(fitted.baseline_params, data.names).score(X),
            "baseline_t": np.full(len(rows), fitted.baseline_params["threshold"]),
            "regime": regime_of(X[:, level_column(data.names)], fitted.regime_edges),
            "rv": X[:, data.names.index(BASELINE_FEATURE)], "row": rows}


def _pool(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _fold_row(data: Labelled, fold: Fold, fitted: Fitted, got: dict) -> dict[str, Any]:
    return {"train_rows": int(len(fold.train)),
            "train_sessions": int(len(np.unique(data.sessions[fold.train]))),
            "test_rows": int(len(fold.test)),
            "test_sessions": int(len(np.unique(data.sessions[fold.test]))),
            "test_start": float(data.ts[fold.test[0]]),
            "label_threshold": fitted.label_threshold,
            "prevalence": float(got["y"].mean()),
            "ml": scores(got["y"], got["ml"], got["ml_t"]),
            "baseline": scores(got["y"], got["baseline"], got["baseline_t"]),
            "rv_60s": scores(got["y"], got["rv"], None)}


def walk_forward_all(data: Labelled, folds: list[Fold], percentile: float, seed: int,
                     say: Progress) -> dict[str, tuple[dict, list]]:
    """Every candidate walked forward: pooled predictions and per-fold rows."""
    out = {}
    for name in volmodels.CANDIDATES:
        parts, rows = [], []
        for k, fold in enumerate(folds, 1):
            say(f"walk-forward {name}, fold {k}/{len(folds)}")
            fitted = fit_variants(data, fold.train, percentile, name, seed)
            got = _predict(data, fitted, fold.test)
            parts.append(got)
            rows.append(_fold_row(data, fold, fitted, got))
        out[name] = (_pool(parts), rows)
    return out


def choose(pooled: dict[str, dict[str, Any]]) -> str:
    """Ranking first, then calibration: the best Brier among candidates whose PR-AUC is within
    SELECTION_PR_AUC_SLACK of the best (ties go to the simplest, listed first)."""
    best = max((s["pr_auc"] or 0.0) for s in pooled.values())
    close = [n for n, s in pooled.items() if (s["pr_auc"] or 0.0) >= best - SELECTION_PR_AUC_SLACK]
    return min(close, key=lambda n: (pooled[n]["brier"], list(pooled).index(n)))


def held_out_split(data: Labelled, test_fraction: float, horizon_s: float
                   ) -> tuple[Split, list[Fold]]:
    """The held-out split (rows and sessions on each side) and its walk-forward folds."""
    split = split_rows(data.ts, data.sessions, test_fraction, horizon_s,
                       min_train=MIN_TRAIN_ROWS, min_test=MIN_TEST_ROWS)
    block_rows = max(MIN_TEST_ROWS, len(split.test) // WALK_FORWARD_BLOCKS)
    folds = walk_forward(data.ts, data.sessions, int(split.test[0]), block_rows, horizon_s,
                         min_train=MIN_TRAIN_ROWS)
    if not folds:
        raise NotEnoughData(f"no walk-forward fold has {MIN_TRAIN_ROWS} train rows; "
                            f"{split.describe()}")
    return split, folds


def train(frame: FeatureFrame, *, horizon_s: float, percentile: float, test_fraction: float,
          gap_s: float = 30.0, seed: int = 0, say: Progress = lambda _: None) -> TrainResult:
    data = labelled_rows(frame, horizon_s, gap_s)
    if len(data.ts) < MIN_TRAIN_ROWS + MIN_TEST_ROWS:
        raise NotEnoughData(f"{len(data.ts)} labelled rows; an honest split needs at least "
                            f"{MIN_TRAIN_ROWS + MIN_TEST_ROWS} (plus a {horizon_s:g} s purge gap)")
    split, folds = held_out_split(data, test_fraction, horizon_s)
    candidates = walk_forward_all(data, folds, percentile, seed, say)
    ys = candidates[next(iter(candidates))][0]["y"]
    if not ys.any():
        raise NotEnoughData(f"the held-out test period ({len(ys)} rows) has no spike at its "
                            "train thresholds, so PR-AUC and recall are undefined; use more "
                            "data or a larger --test-fraction")
    pooled = {n: scores(p["y"], p["ml"], p["ml_t"]) for n, (p, _) in candidates.items()}
    algorithm = choose(pooled)
    got, fold_rows = candidates[algorithm]
    say(f"refitting {algorithm} on all {len(data.ts)} rows")
    everything = np.arange(len(data.ts))
    refit = fit_variants(data, everything, percentile, algorithm, seed)
    metrics = held_out_metrics(data, got, fold_rows, split, pooled, algorithm)
    metrics.update(horizon_s=horizon_s, percentile=percentile,
                   label_threshold=refit.label_threshold, purge_s=horizon_s,
                   refit=refit_metrics(data, refit))
    rng = np.random.default_rng(seed)
    take = rng.choice(len(data.ts), size=min(REFERENCE_SAMPLE_ROWS, len(data.ts)), replace=False)
    tested = np.concatenate([f.test for f in folds])
    reference = data.X[np.sort(take)]
    metrics["drift_calibration"] = drift_calibration(data.X, data.ts, reference, list(data.names))
    return TrainResult(
        model=refit.model, algorithm=algorithm, ml_threshold=refit.ml_threshold,
        baseline_params=refit.baseline_params, label_threshold=refit.label_threshold,
        feature_names=list(data.names), metrics=metrics,
        train_span=(float(data.ts[0]), float(data.ts[-1])),
        test_span=(float(data.ts[tested].min()), float(data.ts[tested].max())),
        reference_sample=reference.tolist(),
    )


def held_out_metrics(data: Labelled, got: dict, fold_rows: list, split: Split,
                     pooled: dict, algorithm: str) -> dict[str, Any]:
    """The walk-forward numbers of the chosen model beside the baseline, pooled and per fold."""
    report = variant_report(got["y"], {"ml": (got["ml"], got["ml_t"]),
                                       "baseline": (got["baseline"], got["baseline_t"])},
                            got["regime"])
    return {
        "n_rows": int(len(got["y"])),
        "n_train_rows": int(len(split.train)),
        "split": {"train_rows": int(len(split.train)), "train_sessions": split.train_sessions,
                  "test_rows": int(len(split.test)), "test_sessions": split.test_sessions,
                  "purge_s": split.purge_s, "folds": len(fold_rows)},
        "algorithm": algorithm,
        "validation_pr_auc": {n: s["pr_auc"] for n, s in pooled.items()},
        "validation_brier": {n: s["brier"] for n, s in pooled.items()},
        "rv_60s_pr_auc": scores(got["y"], got["rv"], None)["pr_auc"],
        "folds": fold_rows,
        "metrics_source": {
            "held_out_walk_forward": ["ml", "baseline", "prevalence", "n_rows", "pr_curves",
                                      "reliability", "reliability_by_regime", "calibration",
                                      "folds", "validation_pr_auc", "validation_brier",
                                      "rv_60s_pr_auc"],
            "refit_in_sample": ["refit", "train_prevalence", "label_threshold"]},
        **report,
    }


def refit_metrics(data: Labelled, refit: Fitted) -> dict[str, Any]:
    """In-sample numbers of the registered (refit) model: not a held-out measure, but they
    show the refit kept the shape the walk-forward measured (and its thresholds)."""
    got = _predict(data, refit, np.arange(len(data.ts)))
    return {"rows": int(len(data.ts)), "sessions": int(len(np.unique(data.sessions))),
            "label_threshold": refit.label_threshold, "ml_threshold": refit.ml_threshold,
            "baseline_threshold": refit.baseline_params["threshold"],
            "prevalence": float(got["y"].mean()),
            "ml": scores(got["y"], got["ml"], got["ml_t"]),
            "baseline": scores(got["y"], got["baseline"], got["baseline_t"])}


def evaluate_model(frame: FeatureFrame, *, model: Any, ml_threshold: float,
                   baseline_params: dict[str, Any], label_threshold: float,
                   horizon_s: float, gap_s: float = 30.0) -> dict[str, Any]:
    """Score a trained version on new data under its own labelling rules (its horizon and the
    spike threshold fixed on its training data): ML beside the baseline and the raw rv_60s
    ranking on the same rows. Regimes are the terciles of this data's volatility level."""
    data = labelled_rows(frame, horizon_s, gap_s)
    if len(data.ts) < MIN_TEST_ROWS:
        raise NotEnoughData(f"{len(data.ts)} labelled rows; evaluation needs at least "
                            f"{MIN_TEST_ROWS}")
    level = data.X[:, level_column(data.names)]
    fitted = Fitted(label_threshold, model, ml_threshold, baseline_params,
                    np.quantile(level, [1 / 3, 2 / 3]))
    got = _predict(data, fitted, np.arange(len(data.ts)))
    report = variant_report(got["y"], {"ml": (got["ml"], got["ml_t"]),
                                       "baseline": (got["baseline"], got["baseline_t"])},
                            got["regime"])
    return {"n_rows": int(len(data.ts)), "sessions": int(len(np.unique(data.sessions))),
            "horizon_s": horizon_s, "label_threshold": label_threshold,
            "rv_60s_pr_auc": scores(got["y"], got["rv"], None)["pr_auc"], **report}
