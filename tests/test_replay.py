"""The replay reservoir: algorithm R over every row offered, rows copied only when they enter."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from driftkeeper.adapters._replay import Reservoir


class SequentialR:
    """Algorithm R one row at a time, with the reservoir's random draws (one per row past the
    fill, drawn in order): the definition the vectorised reservoir must match."""

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity, self.rng, self.n_seen = capacity, np.random.default_rng(seed), 0
        self.rows: list[tuple[dict, float]] = []

    def add(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if self.capacity == 0:
            self.n_seen += len(X)
            return
        records = X.to_dict("records")
        n_fill = min(self.capacity - len(self.rows), len(X))
        self.rows.extend(zip(records[:n_fill], y[:n_fill]))
        rest = np.arange(n_fill, len(X))
        draws = self.rng.integers(0, self.n_seen + rest + 1) if len(rest) else []
        for row, j in zip(rest, draws):
            if j < self.capacity:
                self.rows[j] = (records[row], y[row])
        self.n_seen += len(X)


def _batch(rng: np.random.Generator, n: int, start: int) -> tuple[pd.DataFrame, np.ndarray]:
    ids = np.arange(start, start + n)
    X = pd.DataFrame({"id": ids, "x": rng.normal(size=n),
                      "c": pd.Categorical(rng.choice(list("abc"), n), categories=list("abc"))},
                     index=rng.permutation(n) + 1000)  # an index the reservoir must not keep
    return X, ids.astype(float) * 10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=hst.integers(0, 40), sizes=hst.lists(hst.integers(0, 60), min_size=1, max_size=12),
       seed=hst.integers(0, 2**16), copy_at=hst.integers(0, 12))
def test_the_reservoir_holds_what_algorithm_r_keeps_row_by_row(capacity, sizes, seed, copy_at):
    rng = np.random.default_rng(seed)
    res, ref, start = Reservoir(capacity, seed), SequentialR(capacity, seed), 0
    for step, n in enumerate(sizes):
        X, y = _batch(rng, n, start)
        start += n
        if step == copy_at:
            before = None if res.X is None else (res.X.copy(), res.y.copy())
            original, res = res, copy.deepcopy(res)  # the copy goes on; the original must not move
        res.add(X, y)
        ref.add(X, y)
        assert res.n_seen == ref.n_seen == start
        assert len(res) == len(ref.rows) == min(capacity, start)
        if len(res):
            assert res.X["id"].tolist() == [r["id"] for r, _ in ref.rows]
            assert res.y.tolist() == [v for _, v in ref.rows]
            assert (res.X["id"].to_numpy() * 10 == res.y).all()  # each row keeps its own label
            assert list(res.X.index) == list(range(len(res)))
            assert res.X["c"].dtype == pd.CategoricalDtype(list("abc"))
        if step == copy_at and before is not None:
            pd.testing.assert_frame_equal(original.X, before[0])
            np.testing.assert_array_equal(original.y, before[1])


def test_a_copy_shares_the_rows_until_either_adds():
    rng = np.random.default_rng(0)
    res = Reservoir(50, 1)
    res.add(*_batch(rng, 80, 0))
    twin = copy.deepcopy(res)
    assert twin.X is res.X and twin.y is res.y  # no copy of thousands of rows per night
    assert twin.rng is not res.rng
    kept = res.X.copy()
    twin.add(*_batch(rng, 500, 80))
    assert twin.n_seen == 580 and res.n_seen == 80
    pd.testing.assert_frame_equal(res.X, kept)
    assert not twin.X["id"].equals(res.X["id"])
    # both draw the same numbers from here on, as two reservoirs with one history would
    X, y = _batch(rng, 30, 580)
    a, b = copy.deepcopy(twin), copy.deepcopy(twin)
    a.add(X, y)
    b.add(X, y)
    pd.testing.assert_frame_equal(a.X, b.X)


def test_rows_that_do_not_enter_are_not_copied():
    res = Reservoir(10, 0)
    rng = np.random.default_rng(2)
    res.add(*_batch(rng, 10, 0))
    res.n_seen = 10**12  # a row enters with probability 10 / 1e12
    frame = res.X
    res.add(*_batch(rng, 100, 10))
    assert res.X is frame
