"""Roots written by an earlier release open, serve and keep running with this one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from driftkeeper import Keeper

DATA = Path(__file__).parent / "data"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(DATA / "root-v0.1", root)
    return root


def test_v01_root_serves_the_same_predictions(tmp_path):
    root = _copy(tmp_path)
    expected = json.loads((DATA / "root-v0.1-expected.json").read_text())
    keeper = Keeper.open(root)
    assert keeper.registry.get("champion").version == expected["champion"]
    batch = pd.read_csv(DATA / "root-v0.1-next-batch.csv")
    np.testing.assert_allclose(keeper.predict(batch), expected["predictions"], rtol=0, atol=1e-12)
    assert keeper.registry.verify() == []


def test_v01_root_runs_another_night(tmp_path):
    root = _copy(tmp_path)
    keeper = Keeper.open(root)
    record = keeper.step(pd.read_csv(DATA / "root-v0.1-next-batch.csv"), html=False)
    assert record.status == "completed"
    assert record.decision["action"] in ("warm_start", "retrain", "none")
    assert len(list((root / "runs").iterdir())) == 4  # three 0.1 nights and this one
    # every stored version still loads (rollback targets included)
    for v in keeper.history():
        keeper.registry.load(v.version)
