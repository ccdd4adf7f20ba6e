"""How close the live rollups' PR-AUC is to the exact one, on the real BTC-USD sessions.

The live figures come from counts per score bucket (scores rounded down to 0.001,
predictions/core/score_buckets.py): everything but PR-AUC is exact, and PR-AUC is that of the
rounded scores. This walks forward over the captured sessions exactly as training does
(bench/model_quality.py's procedure), takes each fold's held-out ML and baseline scores, and
prints per fold and pooled: rows, prevalence, exact PR-AUC, PR-AUC from the rollup counts,
and the difference; Brier, precision and recall from the counts are checked equal to the
exact ones. Skips with a message when the third-party data is not there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import table  # noqa: E402
from bench.model_quality import DATA, labelled, walk  # noqa: E402
from predictions.core.evaluation import scores  # noqa: E402
from predictions.core.score_buckets import Counts  # noqa: E402
from predictions.core.tickfiles import read_ticks  # noqa: E402


def compare(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> tuple[float, float, float]:
    """(exact PR-AUC, rollup PR-AUC, largest difference of Brier/precision/recall)."""
    exact = scores(y, p, t)
    rolled = Counts.of(y, p, t).figures(0)
    others = max(abs(exact[k] - rolled[k]) for k in ("brier", "precision", "recall"))
    return exact["pr_auc"], rolled["pr_auc"], others


def main() -> int:
    if not DATA.exists():
        print(f"live_rollups_accuracy: skipped, the real ticks are not at {DATA} "
              "(third-party data, never in the repository; set VOLSITE_REAL_TICKS)")
        return 0
    data = labelled(read_ticks([str(DATA)]).ticks)
    _, _, got, fold_rows = walk(data)
    parts, at = [], 0
    for k, fold in enumerate(fold_rows, 1):
        parts.append((str(k), slice(at, at + fold["test_rows"])))
        at += fold["test_rows"]
    parts.append(("pooled", slice(0, len(got["y"]))))
    rows, worst, worst_other = [], 0.0, 0.0
    for name, part in parts:
        y = got["y"][part].astype(bool)
        line = [name, f"{len(y):,}", f"{y.mean():.3f}"]
        for variant in ("ml", "baseline"):
            exact, rolled, other = compare(y, got[variant][part], got[f"{variant}_t"][part])
            if exact is None:
                line += ["n/a", "n/a", "—"]
                continue
            worst = max(worst, abs(rolled - exact))
            worst_other = max(worst_other, other)
            line += [f"{exact:.4f}", f"{rolled:.4f}", f"{rolled - exact:+.4f}"]
        rows.append(line)
    print(table("Live rollups vs exact, walked forward over the real sessions (held-out)",
                ["fold", "rows", "prev", "PR ml exact", "PR ml rollup", "diff",
                 "PR base exact", "PR base rollup", "diff"], rows))
    print(f"largest PR-AUC difference: {worst:.4f}; largest Brier/precision/recall "
          f"difference: {worst_other:.1e} (exact up to float rounding)")
    return 0 if worst <= 0.005 and worst_other < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
