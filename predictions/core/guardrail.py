"""The promotion rule: serve the ML variant only when it beat the baseline on held-out data.

Pure: it reads a version's metrics (the walk-forward, held-out numbers that training
records) and says yes or no with the reason, so the train command, the services and the admin
apply one rule and print the same words.
"""

from __future__ import annotations

from typing import Any


def ml_beats_baseline(metrics: dict[str, Any]) -> tuple[bool, str]:
    """(True, why) when ML's held-out PR-AUC is higher and its Brier lower than the
    baseline's on the same rows; (False, why not) otherwise, including when a number is
    missing (a held-out part without spikes has no PR-AUC)."""
    ml, base = metrics.get("ml") or {}, metrics.get("baseline") or {}
    needed = (ml.get("pr_auc"), base.get("pr_auc"), ml.get("brier"), base.get("brier"))
    if any(v is None for v in needed):
        return False, "held-out PR-AUC or Brier is missing, so ML cannot be shown to beat " \
                      "the baseline"
    ml_pr, base_pr, ml_brier, base_brier = (float(v) for v in needed)
    where = f"on {metrics.get('n_rows', '?')} held-out rows, prevalence " \
            f"{float(metrics.get('prevalence') or 0.0):.3f}"
    numbers = (f"PR-AUC ml {ml_pr:.4f} vs baseline {base_pr:.4f}, Brier ml {ml_brier:.4f} vs "
               f"baseline {base_brier:.4f} {where}")
    if ml_pr > base_pr and ml_brier < base_brier:
        return True, f"ML beats the baseline: {numbers}"
    lost = [name for name, bad in (("PR-AUC", ml_pr <= base_pr), ("Brier", ml_brier >= base_brier))
            if bad]
    return False, f"ML does not beat the baseline on {' and '.join(lost)}: {numbers}"
