"""Data-quality policy signals in a keeper: a night decides on them and its record shows them; a
policy naming a column the table does not have is refused at init and at night."""

from __future__ import annotations

import shutil

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream, tree_snapshot
from typer.testing import CliRunner

from driftkeeper import Keeper
from driftkeeper.cli import app
from driftkeeper.exceptions import PolicyError


def with_alley(batches: list[pd.DataFrame]) -> list[pd.DataFrame]:
    rng = np.random.default_rng(0)
    for d in batches:
        d["Alley"] = np.where(rng.uniform(size=len(d)) < 0.2, rng.choice(["Grvl", "Pave"], size=len(d)), None)
    return batches


KEEPER_POLICY = """
name: quality
rules:
  - name: alley-gone
    when: 'missing_share:Alley >= 0.99'
    action: retrain
  - name: findings
    when: quality_issues >= 1
    action: none
fallback: none
gate: {enabled: false}
"""


@pytest.fixture(scope="module")
def quality_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("quality")
    (base / "quality.yaml").write_text(KEEPER_POLICY)
    batches = with_alley(make_stream(3, rows=100, seed=12))
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1, random_state=0)
    Keeper.init(base / "root", model, batches[0], target="y", policy=base / "quality.yaml", time_column="date", id_column="row_id")
    return base, batches


def test_a_night_without_the_column_retrains_on_missing_share_and_the_record_shows_it(quality_root, tmp_path):
    base, batches = quality_root
    keeper = Keeper.open(shutil.copytree(base / "root", tmp_path / "root"))
    record = keeper.step(batches[1].assign(Alley=None), html=False)
    assert (record.decision["action"], record.decision["rule"]) == ("retrain", "alley-gone")
    assert record.decision["signals"]["missing_share:Alley"] == 1.0 and record.decision["signals"]["quality_issues"] == 1
    assert record.drift["quality_issues"] == 1 and record.promoted == 2
    assert record.summary().splitlines()[:2] == [
        "retrain (window: all data) — rule 'alley-gone' fired: missing_share:Alley 1 >= 0.99",
        ("data quality: 1 finding: Alley: entirely missing in the current batch (100 rows; 80.6% missing in the reference); "
         "drift not computed"),
    ]
    again = keeper.step(batches[2], html=False)  # Alley is back: no finding, no rule
    assert (again.decision["rule"], again.drift["quality_issues"], again.decision["signals"]["missing_share:Alley"]) == (
        "fallback", 0, 0.8)


def test_init_refuses_a_policy_naming_a_column_the_data_does_not_have(quality_root, tmp_path):
    _, batches = quality_root
    bad = tmp_path / "bad.yaml"
    bad.write_text(KEEPER_POLICY.replace("missing_share:Alley", "missing_share:Aley"))
    with pytest.raises(PolicyError, match=r"bad\.yaml:5: rules\[0\]\.when\.all\[0\]: missing_share:Aley: column 'Aley' is not a "
                                          r"feature column of the initial data \(did you mean 'Alley'\?\)"):
        Keeper.init(tmp_path / "new", lgb.LGBMRegressor(), batches[0], target="y", policy=bad, time_column="date", id_column="row_id")
    assert not (tmp_path / "new").exists()


def test_a_night_under_an_edited_policy_naming_an_unknown_column_is_refused_and_changes_nothing(quality_root, tmp_path):
    base, batches = quality_root
    root = shutil.copytree(base / "root", tmp_path / "root")
    (root / "policy.yaml").write_text(KEEPER_POLICY.replace("missing_share:Alley", "new_categories:x1"))
    batches[1].to_csv(tmp_path / "b.csv", index=False)
    before = tree_snapshot(root)
    r = CliRunner().invoke(app, ["run", str(root), "--batch", str(tmp_path / "b.csv"), "--no-html"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert r.output.startswith("error: ") and r.output.rstrip().endswith(
        "policy.yaml:5: rules[0].when.all[0]: new_categories:x1: new_categories needs a categorical column, "
        "and 'x1' is numerical; use missing_share:x1 or column_score:x1")
    assert tree_snapshot(root) == before
