"""Drift statistics and their direction, without Evidently (the web path reads them too)."""

from __future__ import annotations

# Methods whose value is a p-value (drift when below the threshold); the others are distances.
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z", "t_test", "mannw", "anderson",
                             "cramer_von_mises", "fisher_exact", "g_test", "epps_singleton"})


def is_drifted(method: str, score: float, threshold: float) -> bool:
    return score < threshold if method in P_VALUE_METHODS else score >= threshold
