"""One place for the numbers a model is judged by, offline (train, evaluate, bench) and live.

PR-AUC always travels with its prevalence (a random ranking scores the prevalence); Brier
and per-bin reliability say whether a probability means what it says. The decision threshold
may differ per row (each walk-forward fold has its own), so `scores` takes an array too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

PROB_EPS = 1e-4  # no probability is ever exactly 0 or 1
RELIABILITY_BINS = 10
CURVE_POINTS = 60
REGIMES = ("calm", "normal", "volatile")


def clip_probability(p: np.ndarray) -> np.ndarray:
    """Probabilities in [ε, 1-ε]: a model never claims certainty from 60 s of ticks."""
    return np.clip(p, PROB_EPS, 1.0 - PROB_EPS)


def scores(y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray | None
           ) -> dict[str, Any]:
    """PR-AUC (None without both classes), ROC-AUC, Brier, and precision/recall at the
    threshold, beside the rows and their prevalence. Without a threshold (a raw ranking such
    as rv_60s, not a probability) only the ranking metrics are given."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    both = 0 < int(y.sum()) < len(y)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "prevalence": float(y.mean()) if len(y) else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
    }
    if threshold is None:
        return out
    flagged = p >= threshold
    tp = int(np.sum(flagged & y))
    return {**out,
            "brier": float(np.mean((p - y) ** 2)) if len(y) else None,
            "precision": tp / int(flagged.sum()) if flagged.any() else 0.0,
            "recall": tp / int(y.sum()) if y.any() else 0.0,
            "threshold": float(np.median(threshold))}


def pr_curve(y: np.ndarray, p: np.ndarray, points: int = CURVE_POINTS) -> dict[str, list]:
    """The precision-recall curve, downsampled to at most `points` points (for pictures)."""
    y = np.asarray(y).astype(bool)
    if not y.any() or y.all():
        return {"recall": [], "precision": []}
    precision, recall, _ = precision_recall_curve(y, p)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(points, len(recall))).astype(int))
    return {"recall": [round(float(v), 5) for v in recall[keep]],
            "precision": [round(float(v), 5) for v in precision[keep]]}


def reliability(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Mean predicted probability beside the observed spike rate, in equal-width bins of p
    (empty bins are left out)."""
    y = np.asarray(y, dtype=np.float64)
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append({"p_mean": round(float(p[mask].mean()), 5),
                        "freq": round(float(y[mask].mean()), 5), "n": int(mask.sum())})
    return out


def regime_of(level: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0 calm, 1 normal, 2 volatile: where `level` falls among the (train) tercile edges."""
    return np.digitize(level, edges)


def by_regime(y: np.ndarray, p: np.ndarray, regime: np.ndarray) -> dict[str, dict[str, Any]]:
    """Rows, mean predicted, observed rate, Brier and reliability bins per regime."""
    out = {}
    for code, name in enumerate(REGIMES):
        mask = regime == code
        if mask.any():
            out[name] = {"rows": int(mask.sum()), "mean_predicted": float(p[mask].mean()),
                         "observed_rate": float(np.mean(y[mask])),
                         "brier": float(np.mean((p[mask] - y[mask]) ** 2)),
                         "bins": reliability(y[mask], p[mask])}
    return out


def variant_report(y: np.ndarray, scored: dict[str, tuple[np.ndarray, Any]],
                   regime: np.ndarray) -> dict[str, Any]:
    """Everything the model card and the pictures need, for every variant on the same rows."""
    report: dict[str, Any] = {name: scores(y, p, t) for name, (p, t) in scored.items()}
    report["prevalence"] = float(np.mean(y))
    report["pr_curves"] = {name: pr_curve(y, p) for name, (p, _) in scored.items()}
    report["reliability"] = {name: reliability(y, p) for name, (p, _) in scored.items()}
    per_regime = {name: by_regime(y, p, regime) for name, (p, _) in scored.items()}
    report["calibration"] = {name: {r: {k: v for k, v in d.items() if k != "bins"}
                                    for r, d in regimes.items()}
                             for name, regimes in per_regime.items()}
    report["reliability_by_regime"] = {
        r: {name: per_regime[name][r]["bins"] for name in scored if r in per_regime[name]}
        for r in REGIMES if any(r in per_regime[name] for name in scored)}
    return report
