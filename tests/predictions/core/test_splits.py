"""Honest splits: sessions by gaps, rows in time order with a purge gap, refusal in one line,
and walk-forward folds that only train on the past."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.core.splits import NotEnoughData, session_ids, split_rows, walk_forward


def sessions_of(lengths: list[int], gap_s: float = 500.0, step_s: float = 1.0) -> np.ndarray:
    """Timestamps of back-to-back sessions of `lengths` ticks, `gap_s` apart."""
    out, t = [], 0.0
    for n in lengths:
        out.append(t + np.arange(n) * step_s)
        t = out[-1][-1] + gap_s
    return np.concatenate(out)


def test_a_gap_longer_than_the_feature_gap_starts_a_session():
    ts = np.array([0.0, 1.0, 31.5, 40.0, 69.0, 100.0])  # gaps 30.5 and 31 > 30; 29 is not
    assert session_ids(ts, 30.0).tolist() == [0, 0, 1, 1, 1, 2]
    assert session_ids(np.array([]), 30.0).size == 0


def test_the_split_counts_rows_not_wall_clock_and_purges_the_horizon():
    # five tiny early sessions and one long late one: a wall-clock cut would train on the
    # tiny ones only; a row cut puts most of the long session in train
    ts = sessions_of([30, 30, 30, 30, 30, 5000], gap_s=86_400.0)
    sid = session_ids(ts, 30.0)
    split = split_rows(ts, sid, 0.3, 60.0, min_train=500, min_test=200)
    assert len(split.train) + len(split.test) + 60 >= len(ts) - 1
    assert abs(len(split.test) - 0.3 * len(ts)) < 2
    assert ts[split.test].min() - ts[split.train].max() >= 60.0
    assert split.train_sessions == 6 and split.test_sessions == 1
    assert "rows in 6 session(s)" in split.describe()


def test_the_cut_moves_to_a_nearby_session_boundary():
    ts = sessions_of([700, 300])
    split = split_rows(ts, session_ids(ts, 30.0), 0.32, 60.0, min_train=100, min_test=100)
    assert len(split.test) == 300 and split.test_sessions == 1 and split.train_sessions == 1
    assert len(split.train) == 700  # the session gap is longer than the purge: nothing lost


def test_a_split_that_leaves_too_little_on_a_side_is_refused_in_one_line():
    ts = sessions_of([400, 150])
    with pytest.raises(NotEnoughData) as err:
        split_rows(ts, session_ids(ts, 30.0), 0.27, 60.0, min_train=500, min_test=200)
    message = str(err.value)
    assert "\n" not in message and "needs at least 500 train and 200 test rows" in message
    assert "session(s)" in message


def test_walk_forward_folds_train_only_on_rows_a_purge_gap_before_their_block():
    ts = sessions_of([2000, 300, 300, 4000, 200])
    sid = session_ids(ts, 30.0)
    folds = walk_forward(ts, sid, first_test=2000, block_rows=500, purge_s=60.0, min_train=500)
    tested = np.concatenate([f.test for f in folds])
    assert tested.tolist() == list(range(2000, len(ts)))  # every later row exactly once
    for fold in folds:
        assert ts[fold.train].max() <= ts[fold.test].min() - 60.0
        assert len(fold.test) >= 500
        assert len(fold.train) > 0 and fold.train.max() < fold.test.min()
    # the two short sessions form one block; the long one is cut into row blocks
    assert set(sid[folds[0].test]) == {1, 2}
    assert all(set(sid[f.test]) == {3} for f in folds[1:-1])


def test_walk_forward_purges_inside_a_session_cut_into_blocks():
    ts = np.arange(6000.0)
    folds = walk_forward(ts, np.zeros(6000, dtype=np.int64), 3000, 1000, 60.0, min_train=500)
    assert len(folds) == 3
    for fold in folds:
        assert fold.test[0] - fold.train[-1] == 61  # 60 s of rows purged before the block
