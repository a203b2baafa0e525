"""``--model river``: a linear River pipeline that takes missing numbers and categories as they
come (TabularPrep: running-mean imputation, standardisation, one-hot encoding)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_stream
from typer.testing import CliRunner

from driftkeeper.adapters import make_adapter
from driftkeeper.adapters.river_prep import TabularPrep, default_river_model
from driftkeeper.cli import app
from driftkeeper.cli._run import build_model
from driftkeeper.table import TableSpec


def test_tabular_prep_imputes_standardises_and_encodes_the_same_one_row_or_many():
    prep = TabularPrep()
    rows = [{"x": 1.0, "k": "a"}, {"x": 3.0, "k": "b"}, {"x": float("nan"), "k": None}, {"x": None, "k": "a"}]
    for r in rows:
        prep.learn_one(r)
    assert (prep.counts["x"], prep.means["x"], prep._std("x")) == (2, 2.0, 1.0)
    assert prep.transform_one({"x": 4.0, "k": "a"}) == {"x": 2.0, "k_a": 1.0}
    assert prep.transform_one({"x": np.nan, "k": np.nan}) == {"x": 0.0}  # the mean; a missing category: no key
    assert prep.transform_one({"x": pd.NA, "k": "new"}) == {"x": 0.0, "k_new": 1.0}
    many = TabularPrep()
    many.learn_many(pd.DataFrame({"x": [1.0, 3.0, np.nan], "k": ["a", "b", None]}))
    assert (many.counts, many.means, many.m2) == (prep.counts, prep.means, prep.m2)
    frame = many.transform_many(pd.DataFrame({"x": [4.0, np.nan], "k": ["a", None]}, index=[7, 8]))
    assert frame.to_dict("index") == {7: {"x": 2.0, "k_a": 1.0}, 8: {"x": 0.0, "k_a": 0.0}}


@pytest.mark.parametrize("batch_size", [1, 16])
def test_the_default_river_model_predicts_through_gaps_and_new_categories(batch_size):
    first, night = make_stream(2, rows=100, seed=1)
    first.loc[::10, "x2"] = np.nan
    first.loc[::7, "cat"] = None
    spec = TableSpec.from_frame(first, target="y", time_column="date", id_column="row_id")
    adapter = make_adapter(default_river_model("regression"), batch_size=batch_size)
    adapter.fit(spec.features_frame(first), spec.target_values(first["y"]))
    X = spec.features_frame(night.assign(x3=np.nan, cat=["zz"] * 50 + [None] * 50))
    many = adapter.predict(X)  # River's mini-batch path
    one = np.array([adapter.model_.predict_one(x) for x in adapter._plain(X).to_dict("records")])
    assert not np.isnan(many).any() and np.abs(many - one).max() < 1e-12
    assert np.corrcoef(many, night["y"])[0, 1] > 0.8  # it learned


def test_a_classifier_is_a_logistic_regression_for_two_classes_and_one_per_class_for_more():
    from river import linear_model, multiclass

    assert isinstance(build_model("river", "classification", 2)["LogisticRegression"], linear_model.LogisticRegression)
    assert isinstance(build_model("river", "classification", 3)["OneVsRestClassifier"], multiclass.OneVsRestClassifier)
    assert isinstance(build_model("river", "classification")["OneVsRestClassifier"], multiclass.OneVsRestClassifier)
    assert isinstance(build_model("river", "regression")["TabularPrep"], TabularPrep)


def test_cli_river_runs_nights_with_missing_values_and_categories(tmp_path):
    batches = make_stream(3, rows=100, seed=2)
    batches[0].loc[::10, "x2"] = np.nan
    batches[1]["x3"] = np.nan  # a column missing on every row of a night
    paths = []
    for i, b in enumerate(batches):
        b.to_csv(tmp_path / f"b{i}.csv", index=False)
        paths.append(str(tmp_path / f"b{i}.csv"))
    root = str(tmp_path / "root")
    r = CliRunner().invoke(app, ["init", root, "--data", paths[0], "--target", "y", "--model", "river", "--policy", "always-update",
                                 "--time-column", "date", "--id-column", "row_id"])
    assert r.exit_code == 0, r.output
    for p in paths[1:]:
        r = CliRunner().invoke(app, ["run", root, "--batch", p, "--no-html", "--json"])
        assert r.exit_code == 0, r.output
        record = json.loads(r.stdout)
        assert record["status"] == "completed" and record["decision"]["action"] == "online_update"
        assert record["training"]["action"] == "online_update" and record["registered"] is not None


def test_the_decision_line_shows_only_the_update_parameters_the_model_takes(tmp_path):
    from driftkeeper import Keeper
    from driftkeeper.policy import Decision

    params = {"rounds": 40, "learning_rate": 0.1, "replay_fraction": 0.0, "mode": "correct", "relearn_batches": 5,
              "passes": 1, "early_stopping_rounds": 3, "l2_regularization": 1.0}
    d = Decision(action="online_update", params=params, rule="fallback", requested="update")
    assert str(d).startswith("online_update (rounds: 40, learning_rate: 0.1, replay_fraction: 0, mode: correct, ")  # all, unknown model
    assert d.text(("rounds", "replay_fraction"), online=True) == (
        "online_update (replay_fraction: 0, passes: 1) [ignored by this model: rounds, learning_rate, mode, relearn_batches, "
        "early_stopping_rounds, l2_regularization] — no rule fired (fallback)")
    warm = Decision(action="warm_start", params=params, rule="fallback", requested="update")
    assert warm.text(("rounds", "replay_fraction")) == (
        "warm_start (rounds: 40, replay_fraction: 0, relearn_batches: 5) [ignored by this model: learning_rate, mode, passes, "
        "early_stopping_rounds, l2_regularization] — no rule fired (fallback)")
    retrain = Decision(action="retrain", params={"window": "all"}, rule="fallback", requested="retrain")
    assert retrain.text(()) == "retrain (window: all data) — no rule fired (fallback)"
    # in a night: the default policy on River
    first, night = make_stream(2, rows=120, seed=3)
    keeper = Keeper.init(tmp_path / "root", build_model("river", "regression"), first, target="y", time_column="date", id_column="row_id")
    record = keeper.step(night, dry_run=True, html=False)
    assert record.decision_text.startswith(
        "online_update (replay_fraction: 0, passes: 1) [ignored by this model: rounds, learning_rate, mode, relearn_batches, "
        "relearn_rows, early_stopping_rounds, l2_regularization] — ")
    assert record.decision["params"]["mode"] == "correct"  # the decision itself keeps what the policy resolved
