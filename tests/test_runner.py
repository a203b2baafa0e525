"""The nightly runner and the Keeper API, end to end on seeded synthetic streams."""

from __future__ import annotations

import json
import re
import threading

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream, tree_snapshot
from sklearn.linear_model import SGDRegressor

from driftkeeper import Keeper
from driftkeeper.exceptions import ConfigError, LockError, SchemaError


def small_lgbm(**kw):
    return lgb.LGBMRegressor(n_estimators=20, num_leaves=7, learning_rate=0.2, random_state=0, deterministic=True, verbose=-1, n_jobs=1, **kw)


# A policy whose decision on seeded data is known exactly: retrain on a performance drop,
# update on feature drift, else nothing. No cooldown so each trigger shows.
POLICY = """
name: test-policy
metric: rmse
monitor: {drift_share: 0.5}
rules:
  - name: perf
    when: performance_drop >= 0.5
    action: retrain
  - name: drift
    when: drift_share >= 0.3
    action: update
    rounds: 5
fallback: none
guards: {min_rows: 50}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 0.05}
"""


def drift_policy(tmp_path, *edits: tuple[str, str]):
    """POLICY with the performance rule out of reach (only the drift rule updates), plus ``edits``."""
    text = POLICY.replace("performance_drop >= 0.5", "performance_drop >= 5")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def scheduled_retrain_policy(tmp_path, every: int):
    """Update every batch, retrain every ``every`` batches, gate off (every candidate is promoted)."""
    return drift_policy(
        tmp_path,
        ("rules:\n", f"rules:\n  - name: every-{every}\n    when: batches_since_retrain >= {every}\n    action: retrain\n"),
        ("fallback: none", "fallback: update"),
        ("{enabled: true,", "{enabled: false,"),
    )


@pytest.fixture
def policy_file(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY)
    return p


def init_keeper(tmp_path, policy, batches, model=None, **kw):
    kw.setdefault("time_column", "date")
    kw.setdefault("id_column", "row_id")
    return Keeper.init(tmp_path / "root", model or small_lgbm(), batches[0], target="y", policy=policy, **kw)


def test_init_registers_and_promotes_version_1(tmp_path, policy_file):
    batches = make_stream(2)
    keeper = init_keeper(tmp_path, policy_file, batches)
    v = keeper.registry.get("champion")
    assert v.version == 1 and v.action == "initial"
    assert v.metrics["train_rows"] == 960 and v.metrics["holdout_rows"] == 240
    assert v.metrics["rmse"] > 0
    assert keeper.spec.features == ["x1", "x2", "x3", "x4", "cat"]  # id, time and target are not features
    # Reopen from disk and predict
    again = Keeper.open(tmp_path / "root")
    assert again.predict(batches[1]).shape == (300,)


def test_stable_batch_changes_nothing_but_the_run_log(tmp_path, policy_file):
    batches = make_stream(3, seed=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    rec = keeper.step(batches[1], html=False)
    assert rec.status == "completed"
    assert rec.action == "none" and rec.decision["rule"] == "fallback"
    assert rec.registered is None and rec.serving == 1
    assert len(keeper.history()) == 1
    stored = json.loads((tmp_path / "root" / "runs" / rec.run_id / "record.json").read_text())
    assert stored["decision"]["action"] == "none"
    assert stored["drift"]["drift_share"] < 0.3  # below the policy's drift rule
    # cost-aware signal: 300 new labelled rows against the 960 version 1 trained on
    assert rec.decision["signals"]["data_growth"] == 300 / 960
    assert keeper.state()["rows_since_retrain"] == 300 and keeper.state()["rows_at_retrain"] == 960


def test_concept_change_triggers_retrain_which_the_gate_promotes(tmp_path, policy_file):
    batches = make_stream(4, seed=2, change_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    rec = keeper.step(batches[1], html=False)
    # features unchanged: no column drifted, yet performance collapsed
    assert rec.drift["n_drifted"] == 0
    assert rec.action == "retrain" and rec.decision["rule"] == "perf"
    assert rec.champion_metric["value"] > 2 * rec.champion_metric["at_promotion"]
    assert rec.registered == 2 and rec.promoted == 2 and rec.serving == 2
    assert rec.gate["passed"] and rec.gate["candidate"] < rec.gate["champion"]
    # the holdout (newest 20% of the new batch) is not in the training rows
    assert rec.training["holdout_rows"] == 60
    assert rec.training["rows"] == 1200 + 240
    v2 = keeper.registry.get(2)
    assert v2.parent == 1 and v2.action == "retrain"
    assert v2.decision["rule"] == "perf"


def test_feature_drift_triggers_update_that_grows_trees(tmp_path):
    policy_file = drift_policy(tmp_path)
    batches = make_stream(3, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    trees_before = keeper.champion().n_trees
    rec = keeper.step(batches[1], html=False)
    drifted = {c["name"] for c in rec.drift["columns"] if c["drifted"]}
    assert drifted == {"x1", "x2"}
    assert rec.action == "warm_start" and rec.decision["rule"] == "drift"
    assert rec.registered == 2
    cand = keeper.registry.load(2).adapter
    # 5 rounds on the batch, then (gate passed) round(5 * 60 / 300) = 1 on the 60 holdout rows
    assert rec.training["holdout_learned"] == 60 and rec.training["holdout_rounds"] == 1
    assert cand.n_trees == trees_before + 5 + 1


def test_same_batch_twice_is_idempotent(tmp_path, policy_file):
    batches = make_stream(3, seed=4, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    keeper.step(batches[1], html=False)
    before = tree_snapshot(tmp_path / "root")
    rec = keeper.step(batches[1], html=False)
    assert rec.status == "already_processed" and rec.exit_code == 0
    assert "already processed" in rec.summary()
    assert tree_snapshot(tmp_path / "root") == {k: v for k, v in before.items()}


def test_dry_run_touches_nothing(tmp_path, policy_file):
    batches = make_stream(3, seed=5, change_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    before = tree_snapshot(tmp_path / "root")
    rec = keeper.step(batches[1], dry_run=True)
    assert rec.status == "dry_run" and rec.action == "retrain"
    after = tree_snapshot(tmp_path / "root")
    after.pop(".run.lock.info", None)
    before.pop(".run.lock.info", None)
    assert after == before


def test_late_labels_feed_performance_signals(tmp_path, policy_file):
    batches = make_stream(3, seed=6, change_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    unlabelled = batches[1].drop(columns=["y"])
    rec = keeper.step(unlabelled, html=False)
    assert rec.action == "none"
    # no labels tonight: the performance signals are the serving version's estimate
    assert rec.decision["signals_from"]["performance_drop"] == "estimate"
    est = rec.estimated_metric  # its optimistic end: clear of its sampling error and its fit error
    assert rec.decision["signals"]["metric"] == pytest.approx(est["value"] - 1.2816 * (est["std_error"] ** 2 + est["fit_error"] ** 2) ** 0.5, rel=1e-12)
    labels = batches[1][["row_id", "y"]]
    rec2 = keeper.step(batches[2], labels=labels, html=False)
    assert rec2.labels == {"rows": 300}
    assert rec2.champion_metric["rows"] == 600  # tonight's batch + the late labels
    assert rec2.action == "retrain"


def test_labels_for_unknown_ids_are_refused_and_nothing_changes(tmp_path, policy_file):
    batches = make_stream(3, seed=7)
    keeper = init_keeper(tmp_path, policy_file, batches)
    before = tree_snapshot(tmp_path / "root")
    labels = pd.DataFrame({"row_id": [999999], "y": [1.0]})
    with pytest.raises(SchemaError, match=r"labels file 'labels' has 1 id\(s\) never seen in a processed batch, e.g. 999999"):
        keeper.step(batches[1], labels=labels)
    assert tree_snapshot(tmp_path / "root") == before


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns=["x2"]), r"missing column\(s\) \['x2'\]"),
        (lambda d: d.assign(extra=1.0), r"unexpected column\(s\) \['extra'\]"),
        (lambda d: d.rename(columns={"x3": "x_3"}), r"missing column\(s\) \['x3'\] \(did you mean 'x_3'\?\)"),
        (lambda d: d.assign(x1=d["x1"].astype(str)), r"column 'x1' in batch should be numeric but arrived as object"),
        (lambda d: d.assign(x1=d["x1"].where(d.index > 0, float("inf"))), r"column 'x1' in batch contains 1 infinite"),
        (lambda d: d.assign(y=d["y"].where(d.index > 1)), r"target 'y' in batch has 2 missing value"),
        (lambda d: d.iloc[:0], r"batch has no rows"),
        (lambda d: d.assign(row_id=1), r"id column 'row_id' in batch has 299 duplicate id"),
    ],
)
def test_bad_batches_are_refused_before_anything_is_written(tmp_path, policy_file, mutate, message):
    # under the default schema_change: retrain, other columns retrain instead (tests/test_schema_change.py)
    policy_file.write_text(POLICY + "schema_change: refuse\n")
    batches = make_stream(2, seed=8)
    keeper = init_keeper(tmp_path, policy_file, batches)
    before = tree_snapshot(tmp_path / "root")
    with pytest.raises(SchemaError, match=message):
        keeper.step(mutate(batches[1]))
    assert tree_snapshot(tmp_path / "root") == before


def test_batch_from_the_past_is_refused(tmp_path, policy_file):
    batches = make_stream(3, seed=9)
    keeper = init_keeper(tmp_path, policy_file, batches)
    keeper.step(batches[2], html=False)
    with pytest.raises(SchemaError, match=r"before the last processed batch .* batches must arrive in time order"):
        keeper.step(batches[1], html=False)


def test_second_run_fails_fast_with_lock_holder(tmp_path, policy_file):
    from filelock import FileLock

    batches = make_stream(2, seed=10)
    keeper = init_keeper(tmp_path, policy_file, batches)
    holder = FileLock(str(tmp_path / "root" / ".run.lock"))
    (tmp_path / "root" / ".run.lock.info").write_text(json.dumps({"pid": 4242, "host": "h", "started": "2024-01-01T00:00:00+00:00"}))
    acquired = threading.Event()
    release = threading.Event()

    def hold():
        with holder:
            acquired.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    acquired.wait(5)
    try:
        with pytest.raises(LockError, match=r"another run holds the lock .*pid 4242 on h, started 2024-01-01"):
            keeper.step(batches[1])
    finally:
        release.set()
        t.join()
    assert LockError.exit_code == 3


def test_init_refuses_non_empty_root_and_open_refuses_missing(tmp_path, policy_file):
    batches = make_stream(1)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"is not empty; init needs a missing or empty folder"):
        init_keeper(tmp_path, policy_file, batches)
    with pytest.raises(ConfigError, match=r"nowhere does not exist; create it with 'driftkeeper init'"):
        Keeper.open(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"is not an initialised driftkeeper root \(no keeper.json\)"):
        Keeper.open(tmp_path / "root")


def test_sklearn_model_without_update_retrains_instead(tmp_path):
    from sklearn.linear_model import Ridge

    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY.replace("performance_drop >= 0.5", "performance_drop >= 50"))
    batches = make_stream(3, seed=11, shift_at=1)
    keeper = Keeper.init(
        tmp_path / "root", Ridge(), batches[0].drop(columns=["cat"]), target="y", policy=pol, time_column="date", id_column="row_id"
    )
    rec = keeper.step(batches[1].drop(columns=["cat"]), html=False)
    assert rec.action == "retrain"
    assert any(g["guard"] == "update_unsupported" for g in rec.decision["guards"])


def test_partial_fit_model_updates_online(tmp_path, policy_file):
    batches = make_stream(3, seed=12, shift_at=1)
    keeper = Keeper.init(
        tmp_path / "root",
        SGDRegressor(random_state=0),
        batches[0].drop(columns=["cat"]),
        target="y",
        policy=policy_file,
        time_column="date",
        id_column="row_id",
    )
    rec = keeper.step(batches[1].drop(columns=["cat"]), html=False)
    assert rec.action == "online_update"


def test_classification_stream(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY.replace("metric: rmse", "metric: log_loss"))
    batches = make_stream(3, seed=13, change_at=1, task="classification")
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, random_state=0, deterministic=True, verbose=-1, n_jobs=1)
    keeper = Keeper.init(tmp_path / "root", model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id")
    assert keeper.spec.task == "classification" and keeper.spec.classes == ["no", "yes"]
    rec = keeper.step(batches[1], html=False)
    assert rec.champion_metric["metric"] == "log_loss"
    assert rec.action == "retrain"
    assert rec.promoted == 2


def test_performance_baseline_is_the_champions_first_served_batches(tmp_path, policy_file):
    batches = make_stream(5, seed=14)
    keeper = init_keeper(tmp_path, policy_file, batches)
    at_promotion = keeper.registry.get("champion").metrics["rmse"]
    values = []
    for b in batches[1:5]:
        rec = keeper.step(b, html=False)
        assert rec.action == "none"
        expected = float(np.mean(values[:3])) if values else at_promotion
        assert rec.champion_metric["baseline"] == pytest.approx(expected)
        assert rec.decision["signals"]["performance_drop"] == pytest.approx((rec.champion_metric["value"] - expected) / expected)
        values.append(rec.champion_metric["value"])
    assert keeper.state()["baseline"] == pytest.approx(values[:3])  # frozen after three batches
    assert keeper.state()["previous_metric"] == pytest.approx(values[-1])


def test_drop_since_retrain_keeps_its_baseline_across_updates_until_a_retrain(tmp_path):
    policy_file = scheduled_retrain_policy(tmp_path, every=4)
    batches = make_stream(6, seed=14)
    keeper = init_keeper(tmp_path, policy_file, batches)
    at_retrain = keeper.registry.get("champion").metrics["rmse"]
    values = []
    for i, b in enumerate(batches[1:5], start=1):
        rec = keeper.step(b, html=False)
        assert rec.promoted is not None and rec.action == ("retrain" if i == 4 else "warm_start")
        ref = float(np.mean(values[:3])) if values else at_retrain
        assert rec.decision["signals"]["drop_since_retrain"] == pytest.approx((rec.champion_metric["value"] - ref) / ref)
        # performance_drop starts again with every promoted model: each champion here is fresh,
        # so its baseline is its holdout value at promotion
        assert rec.champion_metric["baseline"] == pytest.approx(rec.champion_metric["at_promotion"])
        values.append(rec.champion_metric["value"])
        if i < 4:
            assert keeper.state()["retrain_baseline"] == pytest.approx(values[:3])  # updates do not reset it
    assert keeper.state()["retrain_baseline"] == []  # the retrain at batch 4 does
    rec = keeper.step(batches[5], html=False)
    at_retrain = keeper.registry.get(rec.serving).metrics["rmse"]
    assert rec.decision["signals"]["drop_since_retrain"] == pytest.approx((rec.champion_metric["value"] - at_retrain) / at_retrain)


def test_gate_with_confidence_records_the_paired_test(tmp_path):
    policy_file = drift_policy(tmp_path, ("margin: 0.05}", "margin: 0.05, confidence: 0.9}"))
    batches = make_stream(3, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "warm_start" and rec.gate["confidence"] == 0.9 and rec.gate["rows"] == 60
    assert re.search(r"with 90% confidence \(paired t = -?[0-9.]+ (<=|>) [0-9.]+, 60 rows\)$", rec.gate["explanation"])
    assert rec.gate["passed"] == rec.gate["explanation"].startswith("gate passed")


@pytest.mark.parametrize("fallback, confidence, margin", [("retrain", 0.9, 0.0), ("update", None, 0.05)])
def test_gate_uses_the_settings_of_the_candidates_action(tmp_path, fallback, confidence, margin):
    policy_file = drift_policy(
        tmp_path, ("fallback: none", f"fallback: {fallback}"),
        ("margin: 0.05}", "margin: 0.05, retrain: {margin: 0.0, confidence: 0.9}}"),
    )
    batches = make_stream(2, seed=3)
    keeper = init_keeper(tmp_path, policy_file, batches)
    rec = keeper.step(batches[1], html=False)
    assert rec.action == ("retrain" if fallback == "retrain" else "warm_start")
    assert rec.gate["confidence"] == confidence and rec.gate["margin"] == margin
    assert ("confidence" in rec.gate["explanation"]) == (confidence is not None)


def test_update_relearn_batches_adds_the_newest_learned_batches_in_time_order(tmp_path):
    policy_file = drift_policy(tmp_path, ("    rounds: 5\n", "    rounds: 5\n    relearn_batches: 1\n"))
    batches = make_stream(4, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    first = keeper.step(batches[1], html=False)
    # nothing learned since init: the newest learned "batch" is the initial data (seq 0), of
    # which only the newest relearn_batches x 300 (this batch's rows) go in again
    assert first.action == "warm_start" and first.training["relearned_batches"] == [0]
    assert first.training["relearned_rows_capped"] == 300
    assert first.training["rows"] == 300 + 240 and first.promoted == 2
    # relearned rows are trained on but not offered to the replay reservoir a second time:
    # 960 rows at init + 240 new + the 60 holdout rows learned after the gate
    assert keeper.registry.load(2).adapter.replay_.n_seen == 960 + 240 + 60
    assert pd.Timestamp(first.training["time_min"]).tz_localize(None) > pd.to_datetime(batches[0]["date"]).sort_values().iloc[899]
    second = keeper.step(batches[2], html=False)
    assert second.action == "warm_start" and second.training["relearned_batches"] == [1]
    assert second.training["rows"] == 300 + 240  # batch 1 (holdout included: it was learned) + new rows
    assert second.training["batches"] == [1, 2]


def test_correct_mode_update_replaces_its_correction_and_relearns_the_holdout_next_batch(tmp_path):
    policy_file = drift_policy(tmp_path, ("    rounds: 5\n", "    rounds: 5\n    mode: correct\n    relearn_batches: 1\n"))
    batches = make_stream(4, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    base_trees = keeper.champion().n_trees
    first = keeper.step(batches[1], html=False)
    assert first.action == "warm_start" and first.promoted == 2
    assert first.training["holdout_learned"] == 0  # not fed as an extra update: the next one relearns it
    v2 = keeper.registry.load(2).adapter
    # the policy's mode goes with each update: the registered model's own settings stay as they were
    assert v2.get_params()["update_mode"] == "continue" and v2.update_relearns_window
    assert len(v2.corrections_) == 1 and v2.n_trees == base_trees + 5
    second = keeper.step(batches[2], html=False)
    assert second.action == "warm_start" and second.training["relearned_batches"] == [1]
    assert second.training["rows"] == 300 + 240  # batch 1 with its 60 holdout rows, + the new rows
    latest = keeper.registry.load(second.registered).adapter
    assert len(latest.corrections_) == 1 and latest.n_trees == base_trees + 5  # replaced, not added


def test_random_holdout_is_seeded_by_the_batch_and_leaves_the_newest_rows_to_the_candidate(tmp_path):
    policy_file = drift_policy(tmp_path, ("holdout: {fraction: 0.2}", "holdout: {fraction: 0.2, pick: random}"))
    batches = make_stream(3, seed=3, shift_at=1)
    runs = []
    for name in ("a", "b"):
        keeper = init_keeper(tmp_path / name, policy_file, batches)
        runs.append(keeper.step(batches[1], html=False))
    rec = runs[0]
    assert rec.action == "warm_start" and rec.gate["rows"] == 60 and rec.training["rows"] == 240
    newest = pd.to_datetime(batches[1]["date"]).sort_values()
    # trained on rows from across the batch, the newest ones included (a newest-rows holdout
    # would stop training at the 240th row)
    assert pd.Timestamp(rec.training["time_max"]).tz_localize(None) > newest.iloc[239]
    assert runs[1].gate == rec.gate  # same rows held out on a rerun


def test_online_learner_takes_passes_and_does_not_relearn(tmp_path):
    policy_file = drift_policy(tmp_path, ("    rounds: 5\n", "    rounds: 20\n    passes: 3\n    relearn_batches: 2\n"))
    batches = [b.drop(columns=["cat"]) for b in make_stream(3, seed=12, shift_at=1)]
    keeper = init_keeper(tmp_path, policy_file, batches, model=SGDRegressor(random_state=0))
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "online_update"
    assert rec.training["relearn_skipped"] == "online learner" and "relearned_batches" not in rec.training
    assert rec.training["rows"] == 240  # the new rows only
    assert rec.training["params"]["rounds"] == 3  # passes, not the 20 boosting rounds
    assert rec.promoted == 2 and rec.training["holdout_rounds"] == 3  # the holdout, too, in 3 passes


def test_early_stopping_picks_the_round_count_on_held_out_rows_the_gate_does_not_judge_on(tmp_path, monkeypatch):
    from driftkeeper.keeper import apply

    judged, evaluate_rows = [], apply.evaluate_rows
    def spy(metric, model, X, y):
        if isinstance(model, apply._CrossFitted):
            judged.append((X, y))
        return evaluate_rows(metric, model, X, y)
    monkeypatch.setattr(apply, "evaluate_rows", spy)
    edit = ("    rounds: 5\n", "    rounds: 200\n    learning_rate: 0.5\n    mode: correct\n    early_stopping_rounds: 3\n")
    batches = make_stream(3, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path / "a", drift_policy(tmp_path, edit), batches)
    base_trees = keeper.champion().n_trees
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "warm_start" and rec.training["params"]["early_stopping_rounds"] == 3
    assert "eval_set" not in rec.training["params"]  # the record stays JSON
    kept = rec.training["rounds_kept"]
    assert 1 <= kept < 200 and keeper.registry.load(rec.registered).adapter.n_trees == base_trees + kept
    # all 60 held-out rows judge the candidate, each predicted at the round count the other
    # half picked (cross-fitted): none is judged on rows that chose its round count
    assert "stop_rows" not in rec.training and rec.training["params"]["crossfit"] is True
    assert rec.gate["rows"] == 60 and rec.training["rows"] == 240
    (Xh, yh), = judged
    served = keeper.registry.load(rec.registered).adapter
    honest = float(np.sqrt(np.mean((served.last_eval_output_ - np.asarray(yh)) ** 2)))
    in_sample = float(np.sqrt(np.mean((served.predict(Xh) - np.asarray(yh)) ** 2)))
    assert rec.gate["candidate"] == pytest.approx(honest, rel=1e-12) and honest != pytest.approx(in_sample, rel=1e-6)
    # without a holdout (gate off) there is nothing to stop on: every round is trained
    off = drift_policy(tmp_path, edit, ("gate: {enabled: true", "gate: {enabled: false"))
    keeper = init_keeper(tmp_path / "b", off, batches)
    rec = keeper.step(batches[1], html=False)
    assert rec.training["early_stopping_skipped"] == "gate off: no held-out rows" and "rounds_kept" not in rec.training
    assert keeper.registry.load(rec.registered).adapter.n_trees == base_trees + 200


def test_early_stopping_and_l2_are_noted_as_ignored_by_a_model_without_them(tmp_path):
    policy_file = drift_policy(tmp_path, ("    rounds: 5\n", "    rounds: 5\n    early_stopping_rounds: 3\n    l2_regularization: 1\n"))
    batches = [b.drop(columns=["cat"]) for b in make_stream(3, seed=12, shift_at=1)]
    keeper = init_keeper(tmp_path, policy_file, batches, model=SGDRegressor(random_state=0))
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "online_update"
    assert rec.training["ignored_params"] == ["early_stopping_rounds", "l2_regularization", "mode"]
    assert rec.promoted == 2


def test_previous_metric_since_retrain_survives_updates_and_is_reset_by_a_retrain(tmp_path):
    policy_file = scheduled_retrain_policy(tmp_path, every=3)
    batches = make_stream(5, seed=14)
    keeper = init_keeper(tmp_path, policy_file, batches)
    first = keeper.step(batches[1], html=False)
    assert first.action == "warm_start" and first.decision["signals"]["sustained_drop_since_retrain"] is None
    second = keeper.step(batches[2], html=False)  # a promoted update came between: still known
    sig = second.decision["signals"]
    prev = first.champion_metric["value"]
    assert keeper.state()["previous_metric_since_retrain"] == pytest.approx(second.champion_metric["value"])
    ref = first.champion_metric["value"]  # the level after the (initial) retrain: the first served batch
    assert sig["sustained_drop_since_retrain"] == pytest.approx(min(sig["drop_since_retrain"], (prev - ref) / ref))
    third = keeper.step(batches[3], html=False)
    assert third.action == "retrain" and third.promoted is not None
    assert keeper.state()["previous_metric_since_retrain"] is None  # a retrain starts a new level
    fourth = keeper.step(batches[4], html=False)
    assert fourth.decision["signals"]["sustained_drop_since_retrain"] is None


def test_l2_regularization_reaches_the_update_and_the_holdout_rounds_after_it(tmp_path):
    policy_file = drift_policy(tmp_path, ("    rounds: 5\n", "    rounds: 5\n    l2_regularization: 2.5\n"))
    batches = make_stream(3, seed=3, shift_at=1)
    keeper = init_keeper(tmp_path, policy_file, batches)
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "warm_start" and rec.training["params"]["l2_regularization"] == 2.5
    assert rec.promoted == 2 and rec.training["holdout_learned"] == 60
    booster = keeper.registry.load(2).adapter.booster_  # continue mode: the holdout rounds trained last
    assert booster.params["lambda_l2"] == 2.5


def test_late_labels_of_a_batch_older_than_the_last_training_are_new_to_the_next_update(tmp_path):
    """What a model learned is the rows labelled by the night it trained: labels that arrive for
    an old batch after a training are new rows for the next update (not "already learned" because
    their batch is older), and the row index keeps the night each label arrived."""
    from driftkeeper.keeper.store import LABELLED_AT, SEQ, DataStore

    policy_file = drift_policy(tmp_path, ("fallback: none", "fallback: update"), ("{enabled: true,", "{enabled: false,"))
    batches = make_stream(4, seed=8)
    keeper = init_keeper(tmp_path, policy_file, batches)
    first = keeper.step(batches[1].drop(columns=["y"]), html=False)
    assert first.action == "none"  # nothing labelled yet: the min_rows guard holds the update
    second = keeper.step(batches[2].drop(columns=["y"]), labels=batches[1][["row_id", "y"]], html=False)
    assert second.action == "warm_start" and second.training["batches"] == [1] and second.training["rows"] == 300
    # batch 2 (seq 2) is no newer than the model trained on night 2, but its labels are
    third = keeper.step(batches[3].drop(columns=["y"]), labels=batches[2][["row_id", "y"]], html=False)
    assert third.action == "warm_start" and not third.training.get("skipped")
    assert third.training["batches"] == [2] and third.training["rows"] == 300
    index = keeper.store.index(keeper.spec)
    at = index.groupby(SEQ)[LABELLED_AT].unique().map(list).to_dict()
    assert at == {0: [0], 1: [2], 2: [3], 3: [-1]}
    keeper.store.forget_index()  # rebuilt from the partitions, the same nights
    rebuilt = DataStore(keeper.root).index(keeper.spec)
    assert rebuilt.groupby(SEQ)[LABELLED_AT].unique().map(list).to_dict() == at


def test_a_refused_retrain_measures_the_level_again_and_clears_the_debt(tmp_path):
    """A refused retrain measured that a retrain on tonight's rows does not beat the serving
    model: the level ``drop_since_retrain`` compares with starts again from the serving model's
    metric that night, and the debt owed against the old level goes. The data growth counts
    from the refusal, against the rows the serving model's retrain learned."""
    policy_file = drift_policy(
        tmp_path,
        ("rules:\n", "rules:\n  - name: grown\n    when: data_growth >= 0.5\n    action: retrain\n"),
        ("margin: 0.05}", "margin: -0.99}"),  # every candidate must be 100x better: all refused
    )
    batches = make_stream(6, seed=5)
    keeper = init_keeper(tmp_path, policy_file, batches)  # version 1 trains on 960 of 1,200 rows
    recs, states = [], []
    for b in batches[1:]:
        recs.append(keeper.step(b, html=False))
        states.append(keeper.state())
    # 600 new rows of 960 (0.625) at batch 2, refused; counted again from there: batch 4
    assert [r.action for r in recs] == ["none", "retrain", "none", "retrain", "none"]
    assert all(r.promoted is None and r.serving == 1 for r in recs)
    assert [r.decision["signals"]["data_growth"] for r in recs] == pytest.approx([300 / 960, 600 / 960] * 2 + [300 / 960])
    value = [r.champion_metric["value"] for r in recs]
    drop = [r.decision["signals"]["drop_since_retrain"] for r in recs]
    sustained = [r.decision["signals"]["sustained_drop_since_retrain"] for r in recs]
    # version 1's level: its first served batch; after each refusal: the refusal night's value
    assert drop[1] == pytest.approx((value[1] - value[0]) / value[0])
    assert drop[2] == pytest.approx((value[2] - value[1]) / value[1])
    level = (value[1] + value[2]) / 2
    assert drop[3] == pytest.approx((value[3] - level) / level)
    assert drop[4] == pytest.approx((value[4] - value[3]) / value[3])
    assert sustained[2] == pytest.approx(min(drop[2], 0.0))  # the refusal night is the level's first batch
    assert [s["retrain_baseline"] for s in states] == [
        pytest.approx([value[0]]), pytest.approx([value[1]]), pytest.approx([value[1], value[2]]),
        pytest.approx([value[3]]), pytest.approx([value[3], value[4]])]
    assert all(s["ledger"]["debt"] == 0.0 for s in (states[1], states[3]))
