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


def backtest_refuses_ml(*, rows: int, spikes: int, figures: dict[str, Any],
                        intervals: dict[str, Any], min_rows: int, min_spikes: int
                        ) -> tuple[bool | None, str]:
    """What a backtest on live history says about serving the candidate's ML variant:

    - (None, why) when it is not enough evidence (fewer than `min_rows` matured rows or
      `min_spikes` spikes): the walk-forward guardrail decides alone;
    - (True, why) when the candidate is worse than the champion beyond the interval: its
      PR-AUC interval (candidate − champion) lies wholly below 0, or its Brier interval wholly
      above 0;
    - (False, why) otherwise (then the walk-forward guardrail decides).
    """
    if rows < min_rows or spikes < min_spikes:
        return None, (f"backtest on {rows} matured rows and {spikes} spikes is not enough "
                      f"evidence (needs {min_rows} rows and {min_spikes} spikes)")
    cand, champ = figures.get("candidate") or {}, figures.get("champion") or {}
    pr, brier = intervals.get("pr_auc") or {}, intervals.get("brier") or {}

    def quoted(name: str, key: str, iv: dict) -> str:
        return (f"{name} candidate {_f(cand.get(key))} vs champion {_f(champ.get(key))}, "
                f"difference {_f(iv.get('diff'))} [95 % {_f(iv.get('low'))}, "
                f"{_f(iv.get('high'))}]")

    worse = []
    if pr.get("high") is not None and pr["high"] < 0:
        worse.append(quoted("PR-AUC", "pr_auc", pr))
    if brier.get("low") is not None and brier["low"] > 0:
        worse.append(quoted("Brier", "brier", brier))
    where = f"on {rows} matured rows of live history ({spikes} spikes)"
    if worse:
        return True, f"the candidate is worse than the champion {where}: {'; '.join(worse)}"
    return False, (f"the backtest {where} does not show the candidate worse than the "
                   f"champion: {quoted('PR-AUC', 'pr_auc', pr)}; {quoted('Brier', 'brier', brier)}")


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"
