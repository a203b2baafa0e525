"""Plan, then apply: the training plan (pure, from the row index), dry runs that show it, and the
runner bugs found reading the code (gate metric, size-cap fallback, manual rollback, record action,
store reads)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_stream, tree_snapshot
from test_runner import drift_policy, init_keeper, small_lgbm
from typer.testing import CliRunner

from driftkeeper import Keeper
from driftkeeper.adapters import LightGBMAdapter
from driftkeeper.cli import app
from driftkeeper.exceptions import LockError
from driftkeeper.keeper.plan import TrainingPlan, plan_training
from driftkeeper.keeper.state import RunnerState
from driftkeeper.keeper.store import LABELLED, POS, SEQ, TIME
from driftkeeper.policy import Decision, Policy


def _index(batches: list[int], rows: int = 10, start: str = "2024-01-01") -> pd.DataFrame:
    """A row index of ``batches`` (sequence numbers) of ``rows`` labelled rows, one day apart."""
    parts = []
    for b in batches:
        t = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(b, unit="D") + pd.to_timedelta(np.arange(rows), unit="min")
        parts.append(pd.DataFrame({SEQ: b, POS: np.arange(rows), LABELLED: True, TIME: t}))
    return pd.concat(parts, ignore_index=True)


def _decision(action: str, **params) -> Decision:
    return Decision(action=action, params=params, rule="r", requested=action)


GATE_OFF = Policy.from_yaml("fallback: none\ngate: {enabled: false}\nretrain: {window: {rows: 25}}\n")
GATE_NEWEST = Policy.from_yaml("fallback: none\ngate: {holdout: {rows: 4, pick: newest}}\n")


def test_plan_update_relearns_newest_learned_batches_before_the_new_rows():
    state = RunnerState(seq=3, last_trained_seq=3)
    plan = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=5, relearn_batches=2), GATE_OFF,
                         seq=4, batch_time=None, update_overrides=frozenset({"rounds"}), online=False)
    assert list(plan.train.seq) == [2] * 10 + [3] * 10 + [4] * 10
    assert plan.relearned_batches == (2, 3) and plan.relearned_rows == 20
    assert plan.params == {"rounds": 5} and plan.ignored_params == ()
    assert plan.fallback is not None and len(plan.fallback.train) == 25  # the retrain window, not all rows


def test_relearn_rows_bounds_the_relearned_rows_whatever_the_batch_size():
    # 1,000-row batches, relearn 5 of them: without a row bound 5,000 rows go in again; with
    # relearn_rows the newest 1,200 of them (batch 4 whole, the end of batch 3), new rows all
    state = RunnerState(seq=5, last_trained_seq=5)
    idx = _index([0, 1, 2, 3, 4, 5, 6], rows=1000)
    free = plan_training(idx, state, _decision("warm_start", rounds=5, relearn_batches=5), GATE_OFF,
                         seq=6, batch_time=None, update_overrides=frozenset({"rounds"}), online=False)
    assert free.relearned_rows == 5000 and "relearned_rows_capped" not in free.notes
    bound = plan_training(idx, state, _decision("warm_start", rounds=5, relearn_batches=5, relearn_rows=1200), GATE_OFF,
                          seq=6, batch_time=None, update_overrides=frozenset({"rounds"}), online=False)
    assert bound.relearned_rows == 1200 and bound.notes["relearned_rows_capped"] == 1200
    assert bound.relearned_batches == (4, 5)
    assert list(bound.train.seq) == [4] * 200 + [5] * 1000 + [6] * 1000
    assert list(bound.train.pos[:200]) == list(range(800, 1000))  # the newest rows of the older batch
    assert bound.params == {"rounds": 5}  # a bound on the plan, not a parameter of the model


def test_plan_holds_out_the_newest_unlearned_rows_and_never_trains_on_them():
    state = RunnerState(seq=3, last_trained_seq=3)
    plan = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("retrain", window="all"), GATE_NEWEST,
                         seq=4, batch_time=None, update_overrides=None, online=False)
    assert list(zip(plan.holdout.seq, plan.holdout.pos)) == [(4, 6), (4, 7), (4, 8), (4, 9)]
    assert not set(zip(plan.holdout.seq, plan.holdout.pos)) & set(zip(plan.train.seq, plan.train.pos))
    assert len(plan.train) == 46


def test_a_model_that_cross_fits_keeps_every_held_out_row_for_both_stopping_and_the_gate():
    state = RunnerState(seq=3, last_trained_seq=3)
    accepted = frozenset({"rounds", "early_stopping_rounds", "crossfit"})
    plan = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=9, early_stopping_rounds=2),
                         GATE_NEWEST, seq=4, batch_time=None, update_overrides=accepted, online=False)
    assert plan.params == {"rounds": 9, "early_stopping_rounds": 2, "crossfit": True} and len(plan.stop) == 0
    assert list(zip(plan.holdout.seq, plan.holdout.pos)) == [(4, 6), (4, 7), (4, 8), (4, 9)] and len(plan.train) == 6
    assert "stop_rows" not in plan.to_dict() and plan.to_dict()["holdout_rows"] == 4
    # without early stopping there is nothing to cross-fit
    plain = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=9), GATE_NEWEST,
                          seq=4, batch_time=None, update_overrides=accepted, online=False)
    assert plain.params == {"rounds": 9}


def test_an_update_with_early_stopping_is_tuned_on_half_the_holdout_and_gated_on_the_other_half():
    state = RunnerState(seq=3, last_trained_seq=3)
    plan = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=9, early_stopping_rounds=2),
                         GATE_NEWEST, seq=4, batch_time=None, update_overrides=None, online=False)
    stop, gate = set(zip(plan.stop.seq, plan.stop.pos)), set(zip(plan.holdout.seq, plan.holdout.pos))
    assert stop == {(4, 7), (4, 9)} and gate == {(4, 6), (4, 8)}  # every other held-out row, in time order
    assert not (stop | gate) & set(zip(plan.train.seq, plan.train.pos)) and len(plan.train) == 6
    assert plan.to_dict()["stop_rows"] == 2 and plan.to_dict()["holdout_rows"] == 2
    # the fallback retrain holds out all four, and an update without early stopping gates on all four
    assert len(plan.fallback.holdout) == 4 and len(plan.fallback.stop) == 0
    plain = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=9), GATE_NEWEST,
                          seq=4, batch_time=None, update_overrides=None, online=False)
    assert len(plain.holdout) == 4 and len(plain.stop) == 0 and "stop_rows" not in plain.to_dict()
    # three held-out rows cannot be split honestly: every round is trained, the gate judges on all three
    three = Policy.from_yaml("fallback: none\ngate: {holdout: {rows: 3, pick: newest}}\n")
    small = plan_training(_index([0, 1, 2, 3, 4]), state, _decision("warm_start", rounds=9, early_stopping_rounds=2),
                          three, seq=4, batch_time=None, update_overrides=None, online=False)
    assert len(small.holdout) == 3 and len(small.stop) == 0 and "early_stopping_rounds" not in small.params
    assert small.notes["early_stopping_skipped"].startswith("3 held-out rows; early stopping needs 4")


def test_late_labels_of_a_relearned_batch_are_new_rows_not_relearned_twice():
    from driftkeeper.keeper.store import LABELLED_AT

    index = _index([0, 1, 2, 3, 4])
    index[LABELLED_AT] = index[SEQ]
    late = (index[SEQ] == 3) & (index[POS] >= 5)  # half of batch 3's labels arrived tonight (night 4)
    index.loc[late, LABELLED_AT] = 4
    state = RunnerState(seq=3, last_trained_seq=3)
    plan = plan_training(index, state, _decision("warm_start", rounds=5, relearn_batches=2), GATE_OFF,
                         seq=4, batch_time=None, update_overrides=frozenset({"rounds"}), online=False)
    rows = list(zip(plan.train.seq, plan.train.pos))
    assert len(rows) == len(set(rows)) == 30  # batch 2, batch 3's early half, then the new: batch 3's late half + batch 4
    assert plan.relearned_rows == 15 and rows[15:20] == [(3, p) for p in range(5, 10)]


def test_the_update_cost_forecast_counts_the_stored_batches_the_plan_reads():
    from driftkeeper.keeper.plan import update_batches
    from driftkeeper.keeper.store import LABELLED_AT

    index = _index([0, 1, 2, 3, 4])
    index[LABELLED_AT] = index[SEQ]
    state = RunnerState(seq=3, last_trained_seq=3)
    decision = _decision("warm_start", rounds=5, relearn_batches=2)
    for late in (False, True):  # with half of batch 3's labels arriving tonight: batch 3 is read once
        if late:
            index.loc[(index[SEQ] == 3) & (index[POS] >= 5), LABELLED_AT] = 4
        plan = plan_training(index, state, decision, GATE_OFF, seq=4, batch_time=None,
                             update_overrides=frozenset({"rounds"}), online=False)
        assert update_batches(index, 3, 2) == len(set(plan.train.seq)) == 3
    assert update_batches(index, 3, 0) == 2  # no relearning: the batches holding new rows (3 and 4)
    assert update_batches(index, 3, 9) == 5  # at most every learned batch
    assert update_batches(index, 4, 2) == 0  # nothing new: no update
    # a batch smaller than the ones learned: relearning is capped at 2 x its rows, the newest
    small = pd.concat([_index([0, 1, 2, 3], rows=10), _index([4], rows=4)], ignore_index=True)
    plan = plan_training(small, state, decision, GATE_OFF, seq=4, batch_time=None,
                         update_overrides=frozenset({"rounds"}), online=False)
    assert update_batches(small, 3, 2) == len(set(plan.train.seq)) == 2  # batch 3's newest 8 rows, and 4
    capped = _decision("warm_start", rounds=5, relearn_batches=2, relearn_rows=3)
    plan = plan_training(index, state, capped, GATE_OFF, seq=4, batch_time=None,
                         update_overrides=frozenset({"rounds"}), online=False)
    assert update_batches(index, 3, 2, relearn_rows=3) == len(set(plan.train.seq)) == 2


def test_plan_lists_update_parameters_the_model_does_not_take_as_ignored():
    state = RunnerState(seq=1, last_trained_seq=0)
    decision = _decision("online_update", rounds=40, mode="correct", l2_regularization=1.0, passes=1)
    plan = plan_training(_index([0, 1]), state, decision, GATE_OFF, seq=1, batch_time=None,
                         update_overrides=frozenset({"rounds"}), online=True)
    assert plan.params == {"rounds": 1}  # an online learner's rounds are its passes
    assert plan.ignored_params == ("l2_regularization", "mode")
    assert "mode" not in plan.params


def test_plan_skips_with_a_reason_when_too_few_rows():
    policy = Policy.from_yaml("fallback: none\nguards: {min_rows: 50}\ngate: {enabled: false}\n")
    plan = plan_training(_index([0, 1]), RunnerState(seq=1), _decision("warm_start"), policy, seq=1, batch_time=None,
                         update_overrides=None, online=False)
    assert isinstance(plan, TrainingPlan) and plan.skip.startswith("10 labelled rows not learned yet")
    assert plan.to_dict() == {"action": "warm_start", "holdout_rows": 0, "skipped": plan.skip}


def test_dry_run_shows_the_plan_and_changes_nothing(tmp_path):
    batches = make_stream(3, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path), batches)
    before = tree_snapshot(keeper.root)
    record = keeper.step(batches[1], dry_run=True)
    assert record.action == "warm_start"
    assert record.plan["rows"] + record.plan["holdout_rows"] == 300 and record.plan["batches"] == [1]
    assert "plan: warm_start on 240 rows of batches 1, 60 held out for the gate" in record.summary()
    assert tree_snapshot(keeper.root) == before
    real = keeper.step(batches[1], html=False)
    assert real.training["rows"] == record.plan["rows"]


def test_gate_scores_with_gate_metric_not_the_policy_metric(tmp_path):
    # bug: gate.metric was validated and printed but the runner gated on the policy metric
    batches = make_stream(3, shift_at=1)
    policy = drift_policy(tmp_path, ("gate: {enabled: true,", "gate: {metric: mae, enabled: true,"))
    keeper = init_keeper(tmp_path, policy, batches)
    record = keeper.step(batches[1], html=False)
    assert record.gate["metric"] == "mae"
    v = keeper.registry.get(record.registered)
    assert v.metrics["mae"] == pytest.approx(record.gate["candidate"])
    assert "rmse" in v.metrics  # the policy metric stays the baseline at promotion


def test_size_cap_fallback_retrains_on_the_retrain_window(tmp_path):
    # bugs: the fallback retrain used the update's parameters (no window) and trained on all
    # history; the record then still said the decided action
    batches = make_stream(3, shift_at=1)
    policy = drift_policy(tmp_path, ("fallback: none", "fallback: none\nretrain: {window: {rows: 400}}"))
    model = LightGBMAdapter(small_lgbm(), max_trees=22)  # 20 trees + 5 rounds breaks the cap
    keeper = init_keeper(tmp_path, policy, batches, model=model)
    record = keeper.step(batches[1], html=False)
    assert record.decision["action"] == "warm_start"
    assert record.action == "retrain" and record.training["action"] == "retrain"
    assert any("retraining instead" in w for w in record.warnings)
    # the holdout (tonight's rows) lies inside the newest 400 rows: the window minus the holdout
    assert record.training["rows"] == 400 - record.training["holdout_rows"]


def test_keeper_rollback_resets_what_the_runner_knows_of_the_serving_model(tmp_path):
    # bug: a manual rollback moved the alias only: baselines and last_trained_seq described
    # the rolled-back model, so the next update skipped the batches the restored model never saw
    batches = make_stream(4, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path, ("margin: 0.05", "margin: 0.9")), batches)
    assert keeper.step(batches[1], html=False).promoted == 2
    assert keeper.step(batches[2], html=False).promoted == 3
    state = keeper.state()
    assert state["last_trained_seq"] == 2 and state["retrain_baseline"]
    v = keeper.rollback(to=1, reason="test")
    assert v.version == 1
    state = keeper.state()
    assert state["last_trained_seq"] == 0 and state["baseline"] == [] and state["retrain_baseline"] == []
    record = keeper.step(batches[3], html=False)
    assert record.plan["batches"] == [1, 2, 3]  # every batch v1 has not learned


def test_rollback_cli_goes_through_the_keeper_and_its_lock(tmp_path):
    batches = make_stream(3, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path, ("margin: 0.05", "margin: 0.9")), batches)
    keeper.step(batches[1], html=False)
    with keeper.locked():
        with pytest.raises(LockError, match="another run holds the lock"):
            Keeper.open(keeper.root).rollback()
    res = CliRunner().invoke(app, ["rollback", str(keeper.root)])
    assert res.exit_code == 0, res.output
    assert keeper.state()["last_trained_seq"] == 0


def test_a_night_with_late_labels_reads_only_the_rows_it_needs(tmp_path):
    # bug: such a night loaded the whole data store five times
    batches = make_stream(6, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path), batches)
    for b in batches[1:4]:
        keeper.step(b.drop(columns=["y"]), html=False)
    labels = batches[3][["row_id", "y"]]
    keeper.store.rows_read = 0
    record = keeper.step(batches[4], labels=labels, html=False)
    needed = len(labels) + record.training["rows"] + record.training["holdout_rows"]
    # late rows are read once to score the champion and once more (their partition) to attach the labels
    assert keeper.store.rows_read <= needed + 300
    assert keeper.store.rows_read < 5 * 300  # far from the stored history (1,200 + 900 rows)
    assert record.champion_metric["rows"] == 600


def test_record_json_carries_the_plan(tmp_path):
    batches = make_stream(2, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path), batches)
    record = keeper.step(batches[1], html=False)
    stored = json.loads((keeper.root / "runs" / record.run_id / "record.json").read_text())
    assert stored["plan"]["action"] == "warm_start" and stored["plan"]["rows"] == record.training["rows"]


def test_manual_promotion_of_an_old_version_resets_the_runner_state(tmp_path):
    batches = make_stream(3, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path, ("margin: 0.05", "margin: 0.9")), batches)
    keeper.step(batches[1], html=False)
    res = CliRunner().invoke(app, ["promote", str(keeper.root), "1", "--reason", "back to the initial model"])
    assert res.exit_code == 0, res.output
    assert keeper.state()["last_trained_seq"] == 0
    assert keeper.step(batches[2], html=False).plan["batches"] == [1, 2]


def test_a_night_reads_the_saved_row_index_not_every_partition(tmp_path, monkeypatch):
    batches = make_stream(5, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path), batches)
    for b in batches[1:3]:
        keeper.step(b, html=False)
    projected = []
    real = pd.read_parquet

    def spy(path, *args, **kw):
        if kw.get("columns") is not None:
            projected.append(path)
        return real(path, *args, **kw)

    monkeypatch.setattr(pd, "read_parquet", spy)
    keeper.step(batches[3], html=False)
    assert projected == []  # no partition read for its index columns
    (keeper.root / "data" / "index.parquet").unlink()  # as in a root of an earlier release
    record = keeper.step(batches[4], html=False)
    assert len(projected) == 4  # rebuilt once from the partitions (batches 0-3)
    assert record.plan["batches"] == [3, 4] or record.plan["rows"] > 0
    assert sorted(pd.read_parquet(keeper.root / "data" / "index.parquet")["__dk_seq"].unique()) == [0, 1, 2, 3, 4]


def test_a_night_that_failed_after_writing_its_data_is_replayed_cleanly(tmp_path, monkeypatch):
    # the partition and the row index of a night that never committed must not be read back
    batches = make_stream(3, shift_at=1)
    clean = init_keeper(tmp_path / "a", drift_policy(tmp_path), batches).step(batches[1], html=False)
    keeper = init_keeper(tmp_path / "b", drift_policy(tmp_path), batches)
    from driftkeeper.keeper import apply

    def boom(*args, **kw):
        raise RuntimeError("killed while training")

    with monkeypatch.context() as m:
        m.setattr(apply, "train", boom)
        with pytest.raises(RuntimeError, match="killed while training"):
            keeper.step(batches[1], html=False)
    record = keeper.step(batches[1], html=False)
    assert (record.training["rows"], record.training["holdout_rows"]) == (clean.training["rows"], clean.training["holdout_rows"])
    index = pd.read_parquet(keeper.root / "data" / "index.parquet")
    assert index.groupby("__dk_seq").size().to_dict() == {0: 1200, 1: 300}


def test_labels_for_ids_that_come_again_tonight_are_attached_to_the_stored_rows(tmp_path):
    batches = make_stream(3, shift_at=1)
    keeper = init_keeper(tmp_path, drift_policy(tmp_path), batches)
    keeper.step(batches[1].drop(columns=["y"]), html=False)
    again = batches[2].copy()
    again.loc[:9, "row_id"] = batches[1]["row_id"].iloc[:10].to_numpy()  # ids seen before, sent again
    record = keeper.step(again, labels=batches[1][["row_id", "y"]], html=False)
    assert record.labels == {"rows": 300} and record.champion_metric["rows"] == 600


def test_a_days_window_without_a_time_column_does_not_stop_a_quiet_night(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("fallback: none\nretrain: {window: {days: 30}}\n")
    batches = make_stream(2)
    batches = [b.drop(columns=["date"]) for b in batches]
    keeper = init_keeper(tmp_path, policy, batches, time_column=None)
    record = keeper.step(batches[1], html=False)
    assert record.action == "none" and record.costs["retrain_cost_s"] is None
