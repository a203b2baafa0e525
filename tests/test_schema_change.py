"""Schema evolution (issue 19, part 2): a batch with a new column or without a column the model
uses, under the policy's ``schema_change`` (retrain | refuse | ignore_new), and ``--exclude`` on
an existing root. Seeded small streams; exact outcomes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest
from conftest import make_stream, tree_snapshot
from typer.testing import CliRunner

from driftkeeper import Keeper
from driftkeeper.cli import app
from driftkeeper.exceptions import PolicyError, SchemaError
from driftkeeper.keeper import schema_change
from driftkeeper.keeper.store import SEQ
from driftkeeper.policy import Decision, load_policy

POLICY = """
name: schema-test
metric: rmse
rules: []
fallback: none
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 0.05}
"""


def small_lgbm():
    return lgb.LGBMRegressor(n_estimators=15, num_leaves=7, learning_rate=0.2, random_state=0, deterministic=True,
                             verbose=-1, n_jobs=1)


def policy(tmp_path, mode: str | None = None, extra: str = ""):
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY + (f"schema_change: {mode}\n" if mode else "") + extra)
    return p


def make_root(tmp_path, mode=None, model=None, n=4, rows=120, extra=""):
    batches = make_stream(n, rows, seed=3)
    keeper = Keeper.init(tmp_path / "root", model or small_lgbm(), batches[0], target="y", policy=policy(tmp_path, mode, extra),
                         time_column="date", id_column="row_id")
    return keeper, batches


def with_x5(df, seed=0):
    out = df.copy()
    out["x5"] = np.random.default_rng(seed).normal(size=len(out))
    return out


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- the policy key


def test_the_policy_key_is_validated_in_one_line_and_described_in_words(tmp_path):
    assert load_policy("default").spec.schema_change == "retrain"  # the default, not written in the file
    bad = tmp_path / "bad.yaml"
    bad.write_text("fallback: none\nschema_change: retrian\n")
    with pytest.raises(PolicyError, match=r"^.*bad\.yaml:2: schema_change: expected one of retrain, refuse, ignore_new, "
                                          r"got 'retrian' \(did you mean 'retrain'\?\)$"):
        load_policy(bad)
    for mode, words in (("retrain", "a batch with a new column retrains from scratch with it"),
                        ("refuse", "is refused (exit 2, nothing changed)"),
                        ("ignore_new", "new columns are dropped from the batch's features")):
        r = invoke("policy", "check", policy(tmp_path, mode))
        assert r.exit_code == 0 and f"schema changes ({mode}): " in r.output and words in r.output, r.output
        r = invoke("policy", "explain", policy(tmp_path, mode))
        assert r.exit_code == 0 and f"schema changes ({mode})" in r.output, r.output


# ----------------------------------------------------------------------------- retrain


def test_a_new_column_retrains_with_it_and_older_rows_read_it_as_missing(tmp_path):
    keeper, b = make_root(tmp_path)
    record = keeper.step(with_x5(b[1]), html=False)
    assert record.decision["action"] == "retrain" and record.decision["rule"] == "schema_change"
    assert record.decision["requested"] == "none"  # what the rules said
    assert record.decision["schema_change"]["added"] == ["x5"]
    assert record.decision_text.startswith("retrain (window: all data) — schema change: the batch adds column(s) ['x5']")
    assert record.training["action"] == "retrain" and record.training["batches"] == [0, 1]
    assert record.gate["passed"] is not None and "schema_change" not in record.gate  # an ordinary comparison
    v = keeper.registry.get(record.registered)
    assert v.data["features"] == ["x1", "x2", "x3", "x4", "cat", "x5"]
    assert v.data["schema_change"] == {"parent": 1, "added": ["x5"], "removed": []}
    bundle = keeper.registry.load(record.registered)
    assert list(bundle.adapter.schema_.names) == ["x1", "x2", "x3", "x4", "cat", "x5"]
    assert "x5" in bundle.monitor.reference_columns_
    stored = keeper.store.load(target="y")
    old, new = stored[stored[SEQ] == 0], stored[stored[SEQ] == 1]
    assert old["x5"].isna().all() and new["x5"].notna().all()  # the initial rows read x5 as missing
    if record.promoted:
        assert keeper.spec.features[-1] == "x5" and Keeper.open(keeper.root).spec.missing_ok == ["x5"]
        # the next batch carries x5 as a feature: an ordinary night
        nxt = keeper.step(with_x5(b[2], 1), html=False)
        assert nxt.decision["rule"] != "schema_change" and "schema_change" not in nxt.decision


def test_a_vanished_column_retrains_without_it_and_the_gate_verdict_is_not_applied(tmp_path):
    keeper, b = make_root(tmp_path)
    record = keeper.step(b[1].drop(columns=["x3"]), html=False)
    assert record.decision["rule"] == "schema_change" and record.decision["schema_change"]["removed"] == ["x3"]
    assert record.gate["schema_change"] is True and record.gate["passed"] is True
    assert record.gate["explanation"].startswith("gate not applied: column(s) ['x3'] left the features")
    assert isinstance(record.gate["champion"], float)  # the champion scored with x3 as missing, for the record
    assert record.promoted == record.registered == 2
    assert keeper.spec.features == ["x1", "x2", "x4", "cat"]
    assert Keeper.open(keeper.root).spec.features == ["x1", "x2", "x4", "cat"]  # keeper.json
    bundle = keeper.registry.load("champion")
    assert list(bundle.adapter.schema_.names) == ["x1", "x2", "x4", "cat"]
    assert "x3" not in bundle.monitor.reference_columns_  # the drift reference is refitted without it
    assert keeper.registry.get(2).data["schema_change"] == {"parent": 1, "added": [], "removed": ["x3"]}
    nxt = keeper.step(b[2].drop(columns=["x3"]), html=False)
    assert nxt.decision["rule"] != "schema_change"


def test_a_renamed_column_is_two_changes_with_a_warning(tmp_path):
    keeper, b = make_root(tmp_path)
    record = keeper.step(b[1].rename(columns={"x3": "x_3"}), html=False, dry_run=True)
    sc = record.decision["schema_change"]
    assert sc["added"] == ["x_3"] and sc["removed"] == ["x3"]
    assert any("column 'x3' vanished and 'x_3' is new" in w for w in record.warnings)


def test_a_new_column_without_labelled_values_waits(tmp_path):
    keeper, b = make_root(tmp_path)
    record = keeper.step(with_x5(b[1]).drop(columns=["y"]), html=False)
    assert record.decision["rule"] != "schema_change" and record.registered is None
    assert record.decision["schema_change"]["pending"] == ["x5"]
    assert any("no labelled row carries a value yet" in w for w in record.warnings)
    assert keeper.spec.features == ["x1", "x2", "x3", "x4", "cat"]
    # labelled rows with x5 arrive: the retrain happens (and trains on the stored x5 values too)
    record = keeper.step(with_x5(b[2], 1), html=False)
    assert record.decision["rule"] == "schema_change" and record.decision["schema_change"]["added"] == ["x5"]


def test_a_rollback_brings_back_the_features_of_the_version_it_restores(tmp_path):
    keeper, b = make_root(tmp_path, extra="")
    keeper.step(b[1].drop(columns=["x3"]), html=False)
    assert keeper.spec.features == ["x1", "x2", "x4", "cat"]
    keeper.rollback(to=1)
    reopened = Keeper.open(keeper.root)
    record = reopened.step(b[2], html=False)  # x3 is back, and so is the version that uses it
    assert "schema_change" not in record.decision and record.serving == 1
    assert reopened.spec.features == ["x1", "x2", "x3", "x4", "cat"]


# ----------------------------------------------------------------------------- refuse / ignore_new


@pytest.mark.parametrize("mutate, message", [
    (with_x5, r"batch does not match the training schema: unexpected column\(s\) \['x5'\] \(schema_change: refuse\); "
              r"set `schema_change: retrain` in the root's policy\.yaml .* or pass --exclude COL"),
    (lambda d: d.drop(columns=["x2"]), r"missing column\(s\) \['x2'\] \(schema_change: refuse\)"),
])
def test_refuse_names_the_columns_and_the_fix_and_changes_nothing(tmp_path, mutate, message):
    keeper, b = make_root(tmp_path, "refuse")
    before = tree_snapshot(keeper.root)
    with pytest.raises(SchemaError, match=message) as info:
        keeper.step(mutate(b[1]))
    assert "\n" not in str(info.value)
    assert tree_snapshot(keeper.root) == before


def test_ignore_new_leaves_new_columns_out_and_refuses_vanished_ones(tmp_path):
    keeper, b = make_root(tmp_path, "ignore_new")
    record = keeper.step(with_x5(b[1]), html=False)
    assert record.decision["rule"] == "fallback" and record.registered is None
    assert record.decision["schema_change"]["ignored"] == ["x5"]
    assert any("['x5'] are new and left out of the features" in w for w in record.warnings)
    assert "x5" in keeper.store.load(target="y").columns  # the store keeps the batch as it arrived
    assert keeper.spec.features == ["x1", "x2", "x3", "x4", "cat"]
    before = tree_snapshot(keeper.root)
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['x2'\] \(schema_change: ignore_new\)"):
        keeper.step(b[2].drop(columns=["x2"]))
    assert tree_snapshot(keeper.root) == before


# ----------------------------------------------------------------------------- dry run, CLI, --exclude


def test_dry_run_shows_the_schema_change_and_the_planned_retrain(tmp_path):
    keeper, b = make_root(tmp_path)
    path = tmp_path / "b1.csv"
    with_x5(b[1]).to_csv(path, index=False)
    before = tree_snapshot(keeper.root)
    r = invoke("run", keeper.root, "--batch", path, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "retrain (window: all data) — schema change: the batch adds column(s) ['x5']" in r.output
    assert "(the rules said: none — no rule fired (fallback))" in r.output
    assert "plan: retrain on" in r.output and "dry run: nothing was changed" in r.output
    assert tree_snapshot(keeper.root) == before


def test_exclude_on_an_existing_root_retrains_without_the_column_and_is_remembered(tmp_path):
    keeper, b = make_root(tmp_path)
    root = keeper.root
    paths = []
    for i in (1, 2, 3):
        paths.append(tmp_path / f"b{i}.csv")
        b[i].to_csv(paths[-1], index=False)
    before = tree_snapshot(root)
    r = invoke("run", root, "--batch", paths[0], "--exclude", "x9")  # not a column: refused, nothing changed
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "--exclude 'x9' is not a column of batch" in r.output
    assert tree_snapshot(root) == before
    r = invoke("run", root, "--batch", paths[0], "--exclude", "row_id")
    assert r.exit_code == 2 and "it is this root's id column" in r.output
    r = invoke("run", root, "--batch", paths[0], "--exclude", "x4", "--json", "--no-html")
    assert r.exit_code == 0, r.output
    record = json.loads(r.output)
    assert record["decision"]["rule"] == "schema_change" and record["decision"]["schema_change"]["excluded"] == ["x4"]
    assert record["promoted"] == 2
    config = json.loads((root / "keeper.json").read_text())
    assert config["exclude"] == ["x4"] and "x4" not in config["spec"]["features"] and "x4" in config["spec"]["exclude"]
    # later nights drop it silently: with the column ...
    r = invoke("run", root, "--batch", paths[1], "--json", "--no-html")
    assert r.exit_code == 0 and "schema_change" not in json.loads(r.output)["decision"], r.output
    # ... and without it
    b[3].drop(columns=["x4"]).to_csv(paths[2], index=False)
    r = invoke("run", root, "--batch", paths[2], "--json", "--no-html")
    assert r.exit_code == 0 and "schema_change" not in json.loads(r.output)["decision"], r.output


def test_exclude_a_new_column_that_is_an_id(tmp_path):
    keeper, b = make_root(tmp_path)
    record = keeper.step(b[1].assign(order_no=np.arange(len(b[1]))), exclude=["order_no"], html=False)
    assert record.decision["rule"] != "schema_change" and record.registered is None
    assert keeper.config["exclude"] == ["order_no"]
    assert keeper.step(b[2].assign(order_no=0), html=False).decision["rule"] != "schema_change"


# ----------------------------------------------------------------------------- adapters


def _river():
    from driftkeeper.adapters.river_prep import default_river_model

    return default_river_model("regression", None)


def _sklearn_pipeline():
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = make_column_transformer(
        (SimpleImputer(), make_column_selector(dtype_include="number")),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_include=["category", "object"])))
    return make_pipeline(prep, Ridge())


@pytest.mark.parametrize("build", [small_lgbm, _river, _sklearn_pipeline], ids=["lightgbm", "river", "sklearn"])
def test_every_adapter_retrains_on_a_changed_feature_set(tmp_path, build):
    keeper, b = make_root(tmp_path, model=build())
    added = keeper.step(with_x5(b[1]).assign(kind=np.where(b[1]["x1"] > 0, "p", "n")), html=False)
    assert added.decision["schema_change"]["added"] == ["x5", "kind"] and added.registered == 2
    assert added.training["action"] == "retrain"
    gone = keeper.step(with_x5(b[2]).drop(columns=["x3"]).assign(kind="p"), html=False)
    assert gone.promoted == gone.registered == 3
    bundle = keeper.registry.load("champion")
    feats = list(bundle.adapter.schema_.names)
    assert "x3" not in feats and "x5" in feats
    assert np.isfinite(keeper.predict(with_x5(b[3]).drop(columns=["x3"]).assign(kind="n"))).all()


# ----------------------------------------------------------------------------- review regressions


def refuse_every_gate(monkeypatch):
    import driftkeeper.policy as policy_pkg

    monkeypatch.setattr(policy_pkg, "gate_passes", lambda *a, **kw: (False, "refused by the test"))


def config_features(root):
    return json.loads((root / "keeper.json").read_text())["spec"]["features"]


@pytest.mark.slow
def test_a_night_killed_between_promotion_and_config_write_heals_on_the_next_night(tmp_path):
    from test_hardening_crash import run_killed_at

    keeper, b = make_root(tmp_path)
    root, paths = keeper.root, []
    for i, df in ((1, b[1].drop(columns=["x3"])), (2, b[2].drop(columns=["x3"]))):
        paths.append(tmp_path / f"b{i}.csv")
        df.to_csv(paths[-1], index=False)
    run_killed_at(root, paths[0], "registry:promote-after-commit", tmp_path)
    # the promotion committed, the config write did not: the two disagree
    assert Keeper.open(root).registry.get("champion").data["features"] == ["x1", "x2", "x4", "cat"]
    assert config_features(root) == ["x1", "x2", "x3", "x4", "cat"]
    # a refused batch does not repair keeper.json either: it changes nothing (but the killed
    # run's note on the lock, which any run taking the lock clears)
    def snapshot():
        return {k: v for k, v in tree_snapshot(root).items() if k != ".run.lock.info"}

    before = snapshot()
    r = invoke("run", root, "--batch", paths[0], "--exclude", "x9")
    assert r.exit_code == 2 and "--exclude 'x9' is not a column" in r.output, r.output
    assert snapshot() == before
    # Keeper.predict serves with the champion's own features meanwhile
    assert np.isfinite(Keeper.open(root).predict(b[2].drop(columns=["x3"]))).all()
    # the killed batch again, then the next one: ordinary nights, and keeper.json follows the champion
    for path in paths:
        r = invoke("run", root, "--batch", path, "--json", "--no-html")
        assert r.exit_code == 0, r.output
        record = json.loads(r.output)
        assert record["serving"] == 2 and "schema_change" not in record["decision"] and record["registered"] is None
    assert config_features(root) == ["x1", "x2", "x4", "cat"]


def test_a_manual_promotion_of_a_schema_change_challenger_moves_keeper_json_with_it(tmp_path, monkeypatch):
    keeper, b = make_root(tmp_path)
    with monkeypatch.context() as m:
        refuse_every_gate(m)
        record = keeper.step(with_x5(b[1]), html=False)
    assert record.decision["rule"] == "schema_change" and record.registered == 2 and record.promoted is None
    assert config_features(keeper.root) == ["x1", "x2", "x3", "x4", "cat"]
    r = invoke("promote", keeper.root, "2")
    assert r.exit_code == 0, r.output
    assert config_features(keeper.root) == ["x1", "x2", "x3", "x4", "cat", "x5"]
    reopened = Keeper.open(keeper.root)
    nxt = reopened.step(with_x5(b[2], 1), html=False)
    assert nxt.status == "completed" and nxt.serving == 2 and "schema_change" not in nxt.decision
    # promoting the champion again, or a version with the same features, leaves keeper.json alone
    mtime = (keeper.root / "keeper.json").stat().st_mtime_ns
    reopened.promote(2)
    assert (keeper.root / "keeper.json").stat().st_mtime_ns == mtime


def test_serving_follows_a_manual_rollback_at_once(tmp_path):
    keeper, b = make_root(tmp_path)
    stale = Keeper.open(keeper.root)  # opened before the schema change, never reopened
    keeper.step(b[1].drop(columns=["x3"]), html=False)
    assert config_features(keeper.root) == ["x1", "x2", "x4", "cat"]
    keeper.rollback(to=1)
    assert config_features(keeper.root) == ["x1", "x2", "x3", "x4", "cat"]
    v1 = keeper.registry.load(1)
    expected = v1.adapter.predict(v1.spec.features_frame(b[2]))
    np.testing.assert_array_equal(Keeper.open(keeper.root).predict(b[2]), expected)
    np.testing.assert_array_equal(stale.predict(b[2]), expected)
    np.testing.assert_array_equal(keeper.predict(b[2]), expected)


def _strict_pipeline(names=None):
    """A Ridge pipeline without imputers: it takes no missing values; ``names``: the numerical
    columns it scales, by name (None: by dtype)."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if names is not None:
        prep = make_column_transformer((StandardScaler(), names), (OneHotEncoder(handle_unknown="ignore"), ["cat"]),
                                       remainder="passthrough")
    else:
        prep = make_column_transformer((StandardScaler(), make_column_selector(dtype_include="number")),
                                       (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="category")))
    return make_pipeline(prep, Ridge())


def test_a_retrain_the_new_features_cannot_train_is_refused_before_anything_is_written(tmp_path):
    keeper, b = make_root(tmp_path, model=_strict_pipeline(["x1", "x2", "x3", "x4"]))
    keeper.step(b[1].drop(columns=["y"]), html=False)  # labels for it arrive with the next batch
    before = tree_snapshot(keeper.root)
    batch = b[2].assign(kind=np.where(b[2]["x1"] > 0, "p", "n"))
    message = (r"^retraining with the new features failed \(the batch adds column\(s\) \['kind'\]: .*\): ValueError: "
               r"could not convert string to float: 'p'; nothing was changed; a pipeline must select its columns by dtype")
    for dry_run in (True, False):
        with pytest.raises(SchemaError, match=message):
            keeper.step(batch, labels=b[1][["row_id", "y"]], html=False, dry_run=dry_run)
        assert tree_snapshot(keeper.root) == before
    # without the new column the same night goes through
    record = keeper.step(b[2], labels=b[1][["row_id", "y"]], html=False)
    assert record.status == "completed" and "schema_change" not in record.decision


def test_a_vanished_column_leaves_a_model_that_cannot_take_missing_values(tmp_path):
    keeper, b = make_root(tmp_path, model=_strict_pipeline())
    record = keeper.step(b[1].drop(columns=["x3"]), html=False)
    assert record.status == "completed" and record.decision["rule"] == "schema_change"
    assert record.champion_metric is None and record.estimated_metric is None  # they need its prediction
    assert ("the serving model cannot predict without column(s) ['x3'] (Ridge cannot predict on missing values): its "
            "prediction drift, metric and estimate are left out tonight") in record.warnings
    assert not any("impute" in w for w in record.warnings)
    assert record.gate["champion"] is None and record.gate["explanation"].endswith(
        "promoted (the champion cannot be scored without them (Ridge cannot predict on missing values))")
    assert record.promoted == record.registered == 2
    assert config_features(keeper.root) == ["x1", "x2", "x4", "cat"]
    nxt = keeper.step(b[2].drop(columns=["x3"]), html=False)
    assert nxt.status == "completed" and "schema_change" not in nxt.decision and isinstance(nxt.champion_metric["value"], float)


def test_a_new_column_the_gate_refuses_twice_is_left_out(tmp_path, monkeypatch):
    keeper, b = make_root(tmp_path, n=6)
    refuse_every_gate(monkeypatch)
    for i, version in ((1, 2), (2, 3)):
        record = keeper.step(with_x5(b[i], i), html=False)
        assert record.decision["rule"] == "schema_change" and record.registered == version and record.promoted is None
        assert record.needs_attention == ([] if i == 1 else ["the gate refused 2 candidates in a row"])
    record = keeper.step(with_x5(b[3], 3), html=False)
    assert record.decision["rule"] == "fallback" and record.registered is None and record.training is None
    assert record.decision["schema_change"] == {"mode": "retrain", "retrain": False, "given_up": ["x5"]}
    assert ("column(s) ['x5'] are new, and the gate refused the retrains that made them features (v0002, v0003): they "
            "are left out of the features while v0001 serves (as under schema_change: ignore_new); the data store keeps "
            "them") in record.warnings
    assert record.needs_attention == ["new column(s) ['x5'] did not improve the model in 2 retrains: pass --exclude "
                                      "COL to leave them out for good, or promote v0003 to use them"]
    # another new column still gets its retrain, without the one given up
    record = keeper.step(with_x5(b[4], 4).assign(x6=b[4]["x1"] * 2), html=False)
    assert record.decision["schema_change"]["added"] == ["x6"] and record.decision["schema_change"]["given_up"] == ["x5"]
    assert keeper.registry.get(record.registered).data["features"] == ["x1", "x2", "x3", "x4", "cat", "x6"]


def test_a_new_column_waits_for_the_budget_a_vanished_one_does_not(tmp_path):
    keeper, b = make_root(tmp_path, extra="budget: 0.1\n")
    pol = keeper.policy()
    obs = SimpleNamespace(ledger=SimpleNamespace(left_s=lambda: -2.5), costs={"retrain_cost_s": 2.0})
    ruled = Decision(action="none", params={}, rule="fallback", requested="none")
    change = schema_change.detect(keeper.spec, with_x5(b[1]), mode="retrain", policy=pol)
    assert schema_change.override(ruled, change, pol, obs) is ruled
    assert change.retrain is False and change.deferred == ["x5"] and change.to_dict()["deferred"] == ["x5"]
    assert change.warnings == ["column(s) ['x5'] are new, but training CPU spent is 2.5 s past the budget's "
                               "allowance: the retrain that makes them features waits for the budget (the champion "
                               "serves without them)"]
    short = SimpleNamespace(ledger=SimpleNamespace(left_s=lambda: 1.5), costs={"retrain_cost_s": 2.0})
    change = schema_change.detect(keeper.spec, with_x5(b[1]), mode="retrain", policy=pol)
    assert schema_change.override(ruled, change, pol, short) is ruled  # 1.5 s left of a 2 s retrain: it waits
    assert "the budget's allowance has 1.5 s left, less than the retrain's forecast 2 s" in change.warnings[0]
    within = SimpleNamespace(ledger=SimpleNamespace(left_s=lambda: 2.5), costs={"retrain_cost_s": 2.0})
    change = schema_change.detect(keeper.spec, with_x5(b[1]), mode="retrain", policy=pol)
    assert schema_change.override(ruled, change, pol, within).rule == "schema_change"
    change = schema_change.detect(keeper.spec, b[1].drop(columns=["x3"]), mode="retrain", policy=pol)
    assert schema_change.override(ruled, change, pol, obs).rule == "schema_change"


def test_exclude_with_an_already_processed_batch_is_refused_in_one_line(tmp_path):
    keeper, b = make_root(tmp_path)
    path = tmp_path / "b1.csv"
    b[1].to_csv(path, index=False)
    assert invoke("run", keeper.root, "--batch", path, "--no-html").exit_code == 0
    before = tree_snapshot(keeper.root)
    r = invoke("run", keeper.root, "--batch", path, "--exclude", "x4")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert (f"batch {str(path)!r} was already processed (by " in r.output
            and "), so --exclude ['x4'] would not apply; pass --exclude with the next new batch" in r.output)
    assert tree_snapshot(keeper.root) == before
    r = invoke("run", keeper.root, "--batch", path, "--json")  # without --exclude: the usual no-op
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "already_processed"


def test_the_dry_run_of_a_vanished_column_says_the_gate_is_not_applied(tmp_path):
    keeper, b = make_root(tmp_path)
    path = tmp_path / "b1.csv"
    b[1].drop(columns=["x3"]).to_csv(path, index=False)
    before = tree_snapshot(keeper.root)
    r = invoke("run", keeper.root, "--batch", path, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "features after it: ['x1', 'x2', 'x4', 'cat']; promoted whatever the gate says (the rules said:" in r.output
    r = invoke("run", keeper.root, "--batch", path, "--dry-run", "--json")
    assert json.loads(r.output)["plan"]["outcome"] == ("the candidate would be registered and promoted whatever the "
                                                       "gate says: column(s) ['x3'] leave the features, and the "
                                                       "champion uses them")
    assert tree_snapshot(keeper.root) == before
