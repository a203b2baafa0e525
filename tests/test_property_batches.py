"""Property: whatever batch arrives against a root, a night either runs or is refused with a
driftkeeper error (one line, the CLI's exit 2), and a refused night changes nothing stored.

Batches are generated against one fixed root: column dtypes (float, int, nullable Int64, text,
bool), NaN/inf placed anywhere, columns dropped, added or reordered, 0 to 50 rows.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream, tree_snapshot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from driftkeeper import Keeper
from driftkeeper.exceptions import DriftkeeperError

FEATURES = ["x1", "x2", "x3", "x4", "cat"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "root"
    batches = make_stream(2, rows=100, seed=21)
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1)
    keeper = Keeper.init(path, model, batches[0], target="y", policy="default", time_column="date", id_column="row_id")
    keeper.step(batches[1], html=False)
    return path


def _column(draw, name: str, n: int) -> pd.Series:
    kind = draw(st.sampled_from(["float", "int", "Int64", "text", "bool", "numeric-text"]))
    values = draw(st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=n, max_size=n))
    s = pd.Series(values, dtype="float64", name=name)
    if kind == "int":
        s = s.fillna(0).clip(-1e6, 1e6).astype("int64")
    elif kind == "Int64":
        s = s.where(np.isfinite(s)).round().astype("Int64")
    elif kind == "text":
        s = pd.Series(draw(st.lists(st.sampled_from(["a", "b", "c", "zz", "", "ünï"]), min_size=n, max_size=n)), name=name, dtype=object)
    elif kind == "bool":
        s = s.fillna(0) > 0
    elif kind == "numeric-text":
        s = s.astype(str)
    return s


@st.composite
def batches(draw):
    n = draw(st.integers(0, 50))
    base = make_stream(3, rows=max(n, 1), seed=draw(st.integers(0, 5)))[2].iloc[:n].reset_index(drop=True)
    df = base.copy()
    for name in draw(st.lists(st.sampled_from(FEATURES), unique=True, max_size=2)):
        df[name] = _column(draw, name, n)
    if draw(st.booleans()):
        df = df.drop(columns=[draw(st.sampled_from(list(df.columns)))])
    if draw(st.booleans()):
        df["extra"] = 1.0
    if draw(st.booleans()):
        df = df[draw(st.permutations(list(df.columns)))]
    return df


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=batches())
def test_a_night_runs_or_is_refused_cleanly(root, batch):
    before = tree_snapshot(root)
    keeper = Keeper.open(root)
    try:
        record = keeper.step(batch, dry_run=True, html=False)
    except DriftkeeperError as exc:
        message = str(exc)
        assert message and "\n" not in message and exc.exit_code == 2, message
        event(f"refused: {type(exc).__name__}")
    else:
        assert record.status in ("dry_run", "already_processed")
        event(f"ran: {record.status}")
    assert tree_snapshot(root) == before
