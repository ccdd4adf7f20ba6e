"""Honest splits of tick data: by sessions and rows in time order, never by wall-clock span.

Captures come in sessions (a recorder runs for minutes or hours, then stops for days). Cutting
the wall-clock span in two puts whatever happens to lie before the cut in train, however small
(five one-minute November sessions once became all of train). Here a pause longer than the
feature gap starts a new session, splits count rows, and every train part ends a purge gap
(at least the label horizon) before its test part begins, so no train label looks into test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class NotEnoughData(ValueError):
    """The data cannot support an honest split; the text says how much is needed."""


@dataclass
class Split:
    train: np.ndarray  # row indices
    test: np.ndarray
    purge_s: float
    train_sessions: int
    test_sessions: int

    def describe(self) -> str:
        return (f"train {len(self.train)} rows in {self.train_sessions} session(s), test "
                f"{len(self.test)} rows in {self.test_sessions} session(s), purge gap "
                f"{self.purge_s:g} s")


def session_ids(ts: np.ndarray, gap_s: float) -> np.ndarray:
    """0, 1, 2, … per row of time-ordered `ts`: a pause longer than `gap_s` starts a session."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.r_[0, np.cumsum(np.diff(ts) > gap_s)].astype(np.int64)


def _purged_train(ts: np.ndarray, before: np.ndarray, test_start: float,
                  purge_s: float) -> np.ndarray:
    """Rows of `before` whose label horizon (t, t + purge] ends before the test part starts."""
    return before[ts[before] < test_start - purge_s]


def split_rows(ts: np.ndarray, sessions: np.ndarray, test_fraction: float, purge_s: float,
               *, min_train: int, min_test: int) -> Split:
    """Train is the first (1 - test_fraction) of the rows, less a purge gap; test the rest.

    The cut moves to the nearest session boundary when one lies within a tenth of the test
    part, so a session is rarely cut in two. Refuses (NotEnoughData, one line) a split that
    leaves fewer than `min_train` / `min_test` rows on a side.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test fraction must be between 0 and 1")
    n = len(ts)
    cut = int(round(n * (1.0 - test_fraction)))
    starts = np.flatnonzero(np.r_[True, np.diff(sessions) != 0])
    if len(starts) > 1:
        nearest = starts[np.argmin(np.abs(starts - cut))]
        if nearest > 0 and abs(nearest - cut) <= 0.1 * (n - cut):
            cut = int(nearest)
    order = np.arange(n)
    test = order[cut:]
    train = _purged_train(ts, order[:cut], ts[cut] if cut < n else np.inf, purge_s)
    split = Split(train, test, purge_s, _count(sessions, train), _count(sessions, test))
    if len(train) < min_train or len(test) < min_test:
        raise NotEnoughData(f"the split gives {split.describe()}; needs at least {min_train} "
                            f"train and {min_test} test rows")
    return split


def _count(sessions: np.ndarray, rows: np.ndarray) -> int:
    return int(len(np.unique(sessions[rows])))


def session_blocks(sessions: np.ndarray, first: int, block_rows: int) -> list[np.ndarray]:
    """Rows from `first` on, cut into blocks of whole sessions of at least `block_rows`
    (a session longer than two blocks is cut into row blocks); a short tail joins the last."""
    blocks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    rows = np.arange(first, len(sessions))
    for sid in np.unique(sessions[rows]):
        idx = rows[sessions[rows] == sid]
        pieces = np.array_split(idx, len(idx) // block_rows) if len(idx) >= 2 * block_rows \
            else [idx]
        for piece in pieces:
            pending.append(piece)
            if sum(map(len, pending)) >= block_rows:
                blocks.append(np.concatenate(pending))
                pending = []
    if pending:
        if blocks:
            blocks[-1] = np.concatenate([blocks[-1], *pending])
        else:
            blocks.append(np.concatenate(pending))
    return blocks


@dataclass
class Fold:
    train: np.ndarray
    test: np.ndarray


def walk_forward(ts: np.ndarray, sessions: np.ndarray, first_test: int, block_rows: int,
                 purge_s: float, *, min_train: int) -> list[Fold]:
    """Expanding-window folds over time-ordered rows: each test block (from row `first_test`
    on, in blocks of whole sessions) is predicted by a model fitted on every row before it
    that ends a purge gap earlier — as in production, where the model never sees the future."""
    folds = []
    for block in session_blocks(sessions, first_test, block_rows):
        train = _purged_train(ts, np.arange(block[0]), ts[block[0]], purge_s)
        if len(train) >= min_train:
            folds.append(Fold(train, block))
    return folds
