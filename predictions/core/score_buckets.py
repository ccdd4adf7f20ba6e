"""Live performance from counts instead of rows.

A window's PR-AUC, Brier, precision and recall need only, per variant: how many matured rows
fell in each score bucket split by realized label, how many were flagged at their threshold
(and how many of those were spikes), and the sum of squared errors. Those counts add up, so a
per-minute and per-hour rollup of them answers any window by summing a few hundred rows,
whatever the table holds.

Scores are rounded down to SCORE_BUCKETS equal buckets of [0, 1]. Everything but PR-AUC is
exact; PR-AUC is exactly the average precision of the rounded scores (ties inside a bucket
enter together, as sklearn treats equal scores). On the real BTC-USD sessions, walked forward,
rounding to 0.001 moved PR-AUC by at most 0.0005 (docs/performance.md, bench/volume.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

SCORE_BUCKETS = 1000
# One stored bucket: its index, and its rows without and with a realized spike.
BUCKET_DTYPE = np.dtype([("bucket", "<u2"), ("neg", "<u4"), ("pos", "<u4")])


NO_LABELS = "no matured labels yet"


class LiveFigures(TypedDict):
    """One variant's live figures over a window (None where undefined)."""

    n: int
    prevalence: float | None
    precision: float | None
    recall: float | None
    pr_auc: float | None
    brier: float | None
    enough: bool
    missing: str | None  # why a figure is missing or unreliable, for the reader; None if none


def bucket_of(p: np.ndarray) -> np.ndarray:
    """The bucket of each score: floor(p · SCORE_BUCKETS), the top score in the last one."""
    p = np.asarray(p, dtype=np.float64)
    return np.clip((p * SCORE_BUCKETS).astype(np.int64), 0, SCORE_BUCKETS - 1)


def bucket_score(p: np.ndarray) -> np.ndarray:
    """A score as the rollups see it: the lower edge of its bucket (for exact comparisons)."""
    return bucket_of(p) / SCORE_BUCKETS


def pack(neg: np.ndarray, pos: np.ndarray) -> bytes:
    """Dense per-bucket counts as bytes: only the non-empty buckets, (index, neg, pos)."""
    nonzero = np.flatnonzero((neg > 0) | (pos > 0))
    out = np.empty(len(nonzero), dtype=BUCKET_DTYPE)
    out["bucket"], out["neg"], out["pos"] = nonzero, neg[nonzero], pos[nonzero]
    return out.tobytes()


def unpack(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The dense (neg, pos) sums of any number of packed blobs."""
    joined = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=BUCKET_DTYPE)
    neg = np.bincount(joined["bucket"], weights=joined["neg"], minlength=SCORE_BUCKETS)
    pos = np.bincount(joined["bucket"], weights=joined["pos"], minlength=SCORE_BUCKETS)
    return neg.astype(np.int64), pos.astype(np.int64)


@dataclass
class Counts:
    """The additive counts of one variant over some rows."""

    neg: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BUCKETS, np.int64))
    pos: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BUCKETS, np.int64))
    flagged: int = 0
    flagged_positives: int = 0
    brier_sum: float = 0.0

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray, threshold: np.ndarray | float) -> Counts:
        """Counts of labelled rows: y (bool), scores p, each row's decision threshold."""
        y = np.asarray(y, dtype=bool)
        p = np.asarray(p, dtype=np.float64)
        buckets = bucket_of(p)
        flagged = p >= np.asarray(threshold, dtype=np.float64)
        return cls(neg=np.bincount(buckets[~y], minlength=SCORE_BUCKETS),
                   pos=np.bincount(buckets[y], minlength=SCORE_BUCKETS),
                   flagged=int(flagged.sum()), flagged_positives=int((flagged & y).sum()),
                   brier_sum=float(np.sum((p - y) ** 2)))

    def __iadd__(self, other: Counts) -> Counts:
        self.neg = self.neg + other.neg
        self.pos = self.pos + other.pos
        self.flagged += other.flagged
        self.flagged_positives += other.flagged_positives
        self.brier_sum += other.brier_sum
        return self

    @property
    def rows(self) -> int:
        return int(self.neg.sum() + self.pos.sum())

    @property
    def positives(self) -> int:
        return int(self.pos.sum())

    def figures(self, min_rows: int) -> LiveFigures:
        """n, prevalence, precision and recall at each row's threshold, PR-AUC and Brier, as
        `core.evaluation.scores` defines them; `enough` when n ≥ min_rows, and `missing`
        saying why a figure is absent or unreliable."""
        n, positives = self.rows, self.positives
        if n == 0:
            return LiveFigures(n=0, prevalence=None, precision=None, recall=None, pr_auc=None,
                               brier=None, enough=False, missing=NO_LABELS)
        if n < min_rows:
            missing = f"too few rows (n < {min_rows})"
        elif positives in (0, n):
            missing = "one class only: PR-AUC needs spikes and calm rows"
        else:
            missing = None
        return LiveFigures(
            n=n, prevalence=positives / n,
            precision=self.flagged_positives / self.flagged if self.flagged else 0.0,
            recall=self.flagged_positives / positives if positives else 0.0,
            pr_auc=average_precision(self.neg, self.pos), brier=self.brier_sum / n,
            enough=n >= min_rows, missing=missing)


def average_precision(neg: np.ndarray, pos: np.ndarray) -> float | None:
    """Average precision of bucketed scores: Σ (R_k − R_k−1) · P_k over the non-empty buckets
    from the highest down (None without both classes, as `evaluation.scores`)."""
    neg, pos = np.asarray(neg)[::-1], np.asarray(pos)[::-1]
    keep = (neg + pos) > 0
    tp, fp = np.cumsum(pos[keep]), np.cumsum(neg[keep])
    total = int(tp[-1]) if len(tp) else 0
    if total == 0 or total == int(tp[-1] + fp[-1]):
        return None
    precision = tp / (tp + fp)
    recall_steps = np.diff(np.concatenate([[0], tp])) / total
    return float(np.sum(recall_steps * precision))
