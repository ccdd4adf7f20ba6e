"""A candidate beside the champion on the same matured rows: figures per variant and the paired
difference, candidate minus champion, with a block-bootstrap confidence interval.

Neighbouring ticks are not independent (volatility clusters for minutes to hours), so the
bootstrap resamples whole time blocks (an hour by default), never single rows, and draws the
same blocks for both variants: the interval is of the paired difference. Each resample needs
only per-block counts, so it costs the same for a thousand rows as for six million:

- per block and score bucket (BOOTSTRAP_BUCKETS equal buckets of [0, 1]), rows without and
  with a spike, for each variant: PR-AUC of a resample is the average precision of the
  weighted bucket counts (`score_buckets.average_precision`, many resamples at once);
- per block the Brier sum and the rows: Brier of a resample is a weighted ratio.

The point figures themselves come from `core.evaluation.scores` on the rows, unrounded. Pure:
no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from predictions.core.evaluation import pr_curve, reliability, scores

BOOTSTRAP_BUCKETS = 2000  # score resolution of a resample's PR-AUC (5e-4, as fine as the live rollups)
FIGURES = ("n", "prevalence", "pr_auc", "brier", "precision", "recall", "threshold")
COMPARED = ("pr_auc", "brier")  # the paired differences
_CHUNK = 128  # resamples computed at once (bounds the (resamples × buckets) arrays)


def variant_figures(y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray
                    ) -> dict[str, Any]:
    """n, prevalence, PR-AUC, Brier, and precision and recall at the variant's own threshold:
    `core.evaluation.scores` on the rows, restricted to the figures a backtest reports."""
    out = scores(y, p, threshold)
    return {key: out.get(key) for key in FIGURES}


@dataclass(frozen=True)
class BlockCounts:
    """One variant's additive counts per time block: what a block resample needs."""

    neg: np.ndarray  # (blocks, buckets) rows without a spike per score bucket
    pos: np.ndarray  # (blocks, buckets) rows with a spike
    brier_sum: np.ndarray  # (blocks,) Σ (p − y)²

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray, block: np.ndarray, blocks: int,
           buckets: int = BOOTSTRAP_BUCKETS) -> BlockCounts:
        """Counts of rows y (bool), scores p, each row's block index in [0, blocks)."""
        y = np.asarray(y, dtype=bool)
        p = np.asarray(p, dtype=np.float64)
        cell = np.asarray(block, dtype=np.int64) * buckets + \
            np.clip((p * buckets).astype(np.int64), 0, buckets - 1)
        size = blocks * buckets
        return cls(neg=np.bincount(cell[~y], minlength=size).reshape(blocks, buckets),
                   pos=np.bincount(cell[y], minlength=size).reshape(blocks, buckets),
                   brier_sum=np.bincount(block, weights=(p - y) ** 2, minlength=blocks))

    def nonempty(self) -> tuple[np.ndarray, np.ndarray]:
        """(neg, pos) as floats without the buckets no block uses (they add nothing to an
        average precision, and most are empty on a short window)."""
        keep = (self.neg.sum(axis=0) + self.pos.sum(axis=0)) > 0
        return self.neg[:, keep].astype(np.float64), self.pos[:, keep].astype(np.float64)

    @property
    def rows(self) -> np.ndarray:
        return self.neg.sum(axis=1) + self.pos.sum(axis=1)


def average_precision_many(neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Average precision of each row of bucket counts (scores ascending by bucket), as
    `score_buckets.average_precision` gives for one; NaN without both classes."""
    neg, pos = neg[:, ::-1], pos[:, ::-1]
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    total, seen = tp[:, -1], tp[:, -1] + fp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        ap = np.sum(pos * precision, axis=1) / total
    return np.where((total > 0) & (total < seen), ap, np.nan)


@dataclass(frozen=True)
class Interval:
    """A paired difference (candidate − champion) and its bootstrap interval."""

    diff: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"diff": self.diff, "low": self.low, "high": self.high}

    @property
    def spans_zero(self) -> bool:
        """No interval, or one containing 0: no evidence of a difference either way."""
        return self.low is None or self.high is None or self.low <= 0.0 <= self.high


def _percentiles(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """The central `level` percentile interval of the finite resamples (None when fewer
    than half of them are defined: a difference without support)."""
    finite = values[np.isfinite(values)]
    if len(finite) < max(len(values) // 2, 1):
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap(candidate: BlockCounts, champion: BlockCounts, *, resamples: int,
                     seed: int, level: float = 0.95) -> dict[str, tuple[float | None, ...]]:
    """(low, high) of the paired PR-AUC and Brier differences, candidate − champion, over
    `resamples` block resamples (each draws as many blocks as there are, with replacement,
    the same draw for both variants). Seeded: the same inputs give the same interval."""
    blocks = candidate.neg.shape[0]
    if blocks == 0 or resamples <= 0:
        return {name: (None, None) for name in COMPARED}
    rng = np.random.default_rng(seed)
    rows = candidate.rows.astype(np.float64)
    dense = [v.nonempty() for v in (candidate, champion)]
    diffs = {name: np.empty(resamples) for name in COMPARED}
    for start in range(0, resamples, _CHUNK):
        weights = rng.multinomial(blocks, np.full(blocks, 1.0 / blocks),
                                  size=min(_CHUNK, resamples - start)).astype(np.float64)
        stop = start + len(weights)
        ap = [average_precision_many(weights @ neg, weights @ pos) for neg, pos in dense]
        diffs["pr_auc"][start:stop] = ap[0] - ap[1]
        n = weights @ rows
        with np.errstate(divide="ignore", invalid="ignore"):
            diffs["brier"][start:stop] = (weights @ candidate.brier_sum
                                          - weights @ champion.brier_sum) / n
    return {name: _percentiles(values, level) for name, values in diffs.items()}


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(a) - float(b)


@dataclass(frozen=True)
class Rows:
    """The matured rows of a backtest as columns: labels, each row's time block, and per
    variant its scores and thresholds."""

    y: np.ndarray  # bool
    block: np.ndarray  # any integer id of the row's time block (e.g. its hour, epoch s)
    variants: dict[str, tuple[np.ndarray, np.ndarray | float]]  # name → (scores, thresholds)

    def subset(self, mask: np.ndarray) -> Rows:
        def part(t):
            return t[mask] if isinstance(t, np.ndarray) and t.ndim else t
        return Rows(y=self.y[mask], block=self.block[mask],
                    variants={k: (p[mask], part(t)) for k, (p, t) in self.variants.items()})


def compare(rows: Rows, *, candidate: str, champion: str, resamples: int, seed: int,
            level: float = 0.95, buckets: int = BOOTSTRAP_BUCKETS) -> dict[str, Any]:
    """Figures of every variant on the rows, and the paired intervals of candidate −
    champion: {"figures": {variant: {...}}, "intervals": {"pr_auc": {...}, "brier": {...}},
    "blocks": number of time blocks}."""
    figures = {name: variant_figures(rows.y, p, t) for name, (p, t) in rows.variants.items()}
    _, block_index = np.unique(rows.block, return_inverse=True)
    blocks = int(block_index.max()) + 1 if len(block_index) else 0
    counts = [BlockCounts.of(rows.y, rows.variants[v][0], block_index, blocks, buckets)
              for v in (candidate, champion)]
    bounds = paired_bootstrap(*counts, resamples=resamples, seed=seed, level=level)
    intervals = {name: Interval(_difference(figures[candidate][name], figures[champion][name]),
                                *bounds[name]).as_dict()
                 for name in COMPARED}
    return {"figures": figures, "intervals": intervals, "blocks": blocks}


def curves(rows: Rows, names: tuple[str, ...]) -> dict[str, Any]:
    """PR curves and reliability bins of the named variants on the rows (the pictures)."""
    return {"pr_curves": {n: pr_curve(rows.y, rows.variants[n][0]) for n in names},
            "reliability": {n: reliability(rows.y, rows.variants[n][0]) for n in names},
            "prevalence": float(np.mean(rows.y)) if len(rows.y) else None}


NOT_ENOUGH = "Not enough evidence"


# Fewer blocks than this and a block bootstrap has almost nothing to draw from (2 blocks give 3
# distinct resamples): the interval is then the point estimate in disguise, and no verdict or
# rollback rests on it.
MIN_BLOCKS = 6


def live_verdict(intervals: dict[str, Interval], *, rows: int, min_rows: int,
                 blocks: int) -> str:
    """What the live difference (ML − baseline) supports: "Not enough evidence" with too few
    rows or blocks, or when both intervals hold zero; otherwise which variant each separated
    metric favours (PR-AUC higher is better, Brier lower)."""
    if rows < min_rows:
        return f"{NOT_ENOUGH} ({rows} matured rows, fewer than {min_rows})"
    if blocks < MIN_BLOCKS:
        return (f"{NOT_ENOUGH} ({blocks} time block{'s' if blocks != 1 else ''}, fewer than "
                f"{MIN_BLOCKS} to resample)")
    said = []
    pr, brier = intervals["pr_auc"], intervals["brier"]
    if not pr.spans_zero:
        said.append(f"PR-AUC {'ML' if pr.low > 0 else 'baseline'} better")
    if not brier.spans_zero:
        said.append(f"Brier {'ML' if brier.high < 0 else 'baseline'} better")
    return "; ".join(said) if said else f"{NOT_ENOUGH} (both intervals hold zero)"
