"""ROOT grows only by what the retention settings allow (versions, data window, run logs).

`benchmarks/root_growth.py` runs 100 nights and prints the sizes; this test runs 40 short
nights and asserts the bounds.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import pytest
from conftest import make_stream

from driftkeeper import Keeper, Registry

pytestmark = pytest.mark.slow

POLICY = """
name: size-test
metric: rmse
rules: []
fallback: retrain
retrain: {window: all}
guards: {min_rows: 10}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 1.0}
"""


def test_forty_nights_stay_within_retention(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY)
    batches = make_stream(41, rows=50, seed=51)
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, random_state=0, verbose=-1, n_jobs=1)
    keeper = Keeper.init(
        tmp_path / "root", model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id",
        retention={"versions": 4, "runs": 6, "data_rows": 400},
    )
    root = tmp_path / "root"
    for b in batches[1:]:
        rec = keeper.step(b, html=False)
        assert rec.action == "retrain"
    reg = Registry(root)
    versions = [p for p in (root / "versions").iterdir() if p.is_dir()]
    # the newest 4, plus the current champion and challenger if older
    assert 4 <= len(versions) <= 6
    assert len(reg.history()) == len(versions)
    assert reg.get("champion").version >= 2
    assert len(list((root / "runs").iterdir())) == 6
    state = json.loads((root / "state.json").read_text())
    assert len(state["runs"]) == 6
    stored = keeper.store.load(target="y")
    # 400 labelled rows for the 'all' window, rounded up to whole batches
    assert 400 <= len(stored) < 400 + 50
    assert verify_clean(reg)


def verify_clean(reg):
    problems = reg.verify()
    assert problems == [], problems
    return True
