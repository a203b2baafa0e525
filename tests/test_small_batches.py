"""Small batches add up: ``guards.min_rows`` counts the labelled rows waiting to be learned, not
one batch's, so a stream of batches smaller than ``min_rows`` still learns (every few batches,
on all of them) instead of never training."""

from __future__ import annotations

import lightgbm as lgb
from conftest import make_stream
from test_runner import init_keeper

from driftkeeper.policy import Context, Policy, decide

POLICY = """
metric: rmse
rules:
  - name: grown
    when: data_growth >= 5
    action: retrain
fallback: update
update: {rounds: 5, relearn_batches: 2}
guards: {min_rows: 100}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 1.0}
"""


def keeper_on(tmp_path, rows: int, nights: int, seed: int = 3):
    batches = make_stream(nights + 1, rows=rows, seed=seed)
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, verbose=-1, n_jobs=1, deterministic=True, random_state=0)
    return init_keeper(tmp_path, policy, batches, model=model), batches[1:]


def test_batches_under_min_rows_wait_for_each_other_then_train_on_all(tmp_path):
    keeper, batches = keeper_on(tmp_path, rows=40, nights=6)
    recs = [keeper.step(b, html=False) for b in batches]
    assert [r.action for r in recs] == ["none", "none", "warm_start", "none", "none", "warm_start"]
    first = recs[0].decision
    assert first["guards"][0]["guard"] == "min_rows"
    assert "40 labelled rows not learned yet < min_rows 100" in first["guards"][0]["reason"]
    assert recs[1].decision["signals"]["unlearned_rows"] == 80
    third = recs[2].training  # the three batches' 120 rows: 96 to learn, 24 held out
    assert third["batches"] == [0, 1, 2, 3] and third["relearned_batches"] == [0]
    assert third["rows"] - third["relearned_rows"] == 96 and third["holdout_rows"] == 24
    assert recs[3].decision["signals"]["unlearned_rows"] == 40  # the update learned all three
    sixth = recs[5].training  # relearn_batches counts batches, however small
    assert sixth["relearned_batches"] == [2, 3] and sixth["batches"] == [2, 3, 4, 5, 6]
    assert sixth["rows"] - sixth["relearned_rows"] == 96


def test_a_batch_of_min_rows_rows_updates_on_the_rows_outside_its_holdout(tmp_path):
    keeper, batches = keeper_on(tmp_path, rows=100, nights=1)
    rec = keeper.step(batches[0], html=False)
    assert rec.action == "warm_start" and not rec.training.get("skipped")
    assert rec.training["holdout_rows"] == 20 and rec.training["rows"] - rec.training["relearned_rows"] == 80


def test_the_guard_reads_unlearned_rows_before_the_batch_count():
    policy = Policy.from_yaml("fallback: update\nguards: {min_rows: 100}\n")
    held = decide(None, policy, Context(labelled_rows=60, unlearned_rows=90, update_style="warm_start"))
    assert held.action == "none" and "90 labelled rows not learned yet < min_rows 100" in held.guards[0]["reason"]
    ok = decide(None, policy, Context(labelled_rows=30, unlearned_rows=130, update_style="warm_start"))
    assert ok.action == "warm_start" and not ok.guards
    old = decide(None, policy, Context(labelled_rows=50, update_style="warm_start"))  # a caller without the count
    assert old.action == "none" and "50 labelled rows < min_rows 100" in old.guards[0]["reason"]


def test_a_night_without_new_labels_does_not_train_the_waiting_rows_again():
    policy = Policy.from_yaml("fallback: update\nguards: {min_rows: 100}\n")
    idle = decide(None, policy, Context(labelled_rows=0, unlearned_rows=400, update_style="warm_start"))
    assert idle.action == "none" and "no labelled rows tonight" in idle.guards[0]["reason"]


def test_rows_a_refused_update_trained_on_wait_and_train_again_with_the_next_rows(tmp_path):
    """A refused candidate leaves its rows unlearned: the next labelled night counts them (and
    its own) and trains on both; a night without labels in between trains nothing."""
    keeper, batches = keeper_on(tmp_path, rows=100, nights=3)
    policy_file = keeper.root / "policy.yaml"
    policy_file.write_text(POLICY.replace("margin: 1.0", "margin: -0.9"))  # must be 90% better: refused
    first = keeper.step(batches[0], html=False)
    assert first.action == "warm_start" and first.promoted is None
    idle = keeper.step(batches[1].drop(columns=["y"]), html=False)
    assert idle.action == "none" and idle.decision["signals"]["unlearned_rows"] == 100
    policy_file.write_text(POLICY)
    third = keeper.step(batches[2], labels=batches[1][["row_id", "y"]], html=False)
    assert third.decision["signals"]["unlearned_rows"] == 300 and third.action == "warm_start"
    assert third.training["rows"] - third.training["relearned_rows"] + third.training["holdout_rows"] == 300
