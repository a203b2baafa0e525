"""The backtester: prequential replay with the production runner, on seeded synthetic streams."""

from __future__ import annotations

import json
import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream

from driftkeeper.backtest import label_schedule, parse_every, parse_label_delay, run_backtest, split_batches
from driftkeeper.exceptions import ConfigError
from driftkeeper.policy import load_policy

CHANGE_AT = 4  # batch index (1-based after the initial data) where the concept flips
N_BATCHES = 9  # make_stream batches: 0 is the initial data, then 8 weekly batches


def small_lgbm():
    return lgb.LGBMRegressor(n_estimators=20, num_leaves=7, learning_rate=0.2, random_state=0, deterministic=True,
                             verbose=-1, n_jobs=1)


def frame(**kw) -> pd.DataFrame:
    return pd.concat(make_stream(N_BATCHES, rows=300, **kw), ignore_index=True)


def run(df, policies, **kw):
    kw.setdefault("time_column", "date")
    kw.setdefault("id_column", "row_id")
    kw.setdefault("initial", 1200)  # make_stream's batch 0
    return run_backtest(df, target="y", policies=policies, model=small_lgbm(), every="W", **kw)


@pytest.fixture(scope="module")
def change_result(tmp_path_factory):
    work = tmp_path_factory.mktemp("bt")
    return run(frame(seed=3, change_at=CHANGE_AT), ["default", "never"], workdir=work), work


def test_batches_follow_the_stream(change_result):
    res, _ = change_result
    assert res.batches == N_BATCHES - 1 and res.initial_rows == 1200
    assert [p.name for p in res.policies] == ["default", "never"]
    for p in res.policies:
        assert [b.index for b in p.per_batch] == list(range(1, N_BATCHES))
        assert all(b.rows == 300 for b in p.per_batch)
        w = np.array([b.rows for b in p.per_batch])
        e = np.array([b.error for b in p.per_batch])
        assert p.mean_error == pytest.approx(float((w * e).sum() / w.sum()), rel=1e-5)


def test_default_retrains_soon_after_a_concept_change_and_beats_never(change_result):
    res, _ = change_result
    default, never = res.get("default"), res.get("never")
    retrained_at = [b.index for b in default.per_batch if b.trained == "retrain"]
    assert any(CHANGE_AT <= i <= CHANGE_AT + 1 for i in retrained_at), retrained_at
    # the concept change shows in the serving model's error for the policy that never acts
    before = np.mean([b.error for b in never.per_batch if b.index < CHANGE_AT])
    after = np.mean([b.error for b in never.per_batch if b.index >= CHANGE_AT])
    assert after > 3 * before
    assert default.mean_error < never.mean_error
    assert never.train_cpu_s == never.init_train_cpu_s and never.retrains == never.updates == 0
    assert default.train_cpu_s > never.train_cpu_s


def test_the_production_runner_did_the_work(change_result):
    res, work = change_result
    runs = sorted((work / "default" / "runs").iterdir())
    assert len(runs) == res.batches
    records = [json.loads((r / "record.json").read_text()) for r in runs]
    assert [r["decision"]["action"] for r in records] == [b.action for b in res.get("default").per_batch]
    cpu = sum((r["training"] or {}).get("cpu_s", 0.0) for r in records)
    assert res.get("default").train_cpu_s == pytest.approx(cpu + res.get("default").init_train_cpu_s, abs=1e-3)


def test_stationary_stream_retrains_no_more_than_the_guards_allow():
    res = run(frame(seed=5), ["default"])
    pol = load_policy("default")
    cooldown = pol.guards.retrain_cooldown.batches
    p = res.get("default")
    at = [0] + [b.index for b in p.per_batch if b.trained == "retrain"]  # init counts as a retrain
    gaps = np.diff(at)
    # a rule-chosen retrain waits for the cooldown; only the consecutive-updates cap forces one sooner
    assert all(g >= min(cooldown, pol.guards.max_consecutive_updates + 1) for g in gaps), at
    assert p.retrains <= 1 + (res.batches // cooldown)
    assert p.rollbacks == 0


def test_json_and_table_show_the_same_numbers(change_result):
    res, _ = change_result
    d = res.to_dict()
    assert d["metric"] == "rmse" and d["lower_is_better"] is True
    for row, p in zip(res.rows(), d["policies"]):
        assert row[0] == p["name"]
        assert float(row[1]) == pytest.approx(p["mean_error"], rel=1e-3)
        assert float(row[2]) == pytest.approx(p["train_cpu_s"], abs=0.006)
        assert float(row[3]) == pytest.approx(p["monitor_cpu_s"], abs=0.006)
        assert [int(x) for x in row[5:9]] == [p["retrains"], p["updates"], p["rollbacks"], p["gate_refusals"]]
        assert len(p["per_batch"]) == d["batches"]
        assert {"index", "rows", "time_min", "error", "action"} <= set(p["per_batch"][0])


def test_rows_batches_need_no_time_column():
    df = frame(seed=1).drop(columns=["date"])
    init, batches = split_batches(df, every="500rows", initial=1200)
    assert len(init) == 1200 and [len(b) for b in batches] == [500, 500, 500, 500, 400]
    assert batches[0]["row_id"].iloc[0] == 1201  # row order is time
    init, batches = split_batches(df, every="500rows")  # default: the first 20 %
    assert len(init) == int(np.ceil(0.2 * len(df)))


def test_periodic_batches_and_default_initial():
    df = frame(seed=1).sample(frac=1.0, random_state=0)  # shuffled: sorted by the time column
    init, batches = split_batches(df, every="W", time_column="date")
    # the first 20 % of rows (720) end inside week 0 (rows 0..1199): extended to its end
    assert len(init) == 1200 and len(batches) == N_BATCHES - 1
    assert all(len(b) == 300 for b in batches)
    assert sorted(batches[0]["row_id"]) == list(range(1201, 1501))  # week 1, sorted by time
    assert list(batches[0]["date"]) == sorted(batches[0]["date"])
    init, _ = split_batches(df, every="W", time_column="date", initial="14D")
    t = pd.to_datetime(df["date"])
    assert len(init) == int((t < t.min() + pd.Timedelta(days=14)).sum()) > 1200


@pytest.mark.parametrize("bad", ["Q", "0rows", "rows", "12", ""])
def test_bad_every_is_refused(bad):
    with pytest.raises(ConfigError, match="--every must be"):
        parse_every(bad)


def test_period_batches_need_a_time_column():
    with pytest.raises(ConfigError, match="needs a time column"):
        split_batches(frame(seed=1), every="W")


def test_policies_are_deduplicated_and_primary_first(tmp_path):
    df = pd.concat(make_stream(3, rows=200, seed=2), ignore_index=True)
    res = run(df, ["never", "never", "always-retrain"], initial=800)
    assert [p.name for p in res.policies] == ["never", "always-retrain"]
    assert res.metric == "rmse"
    res2 = run(df, ["never"], initial=800, metric="mae")
    assert res2.metric == "mae" and res2.policies[0].metric == "mae"


def test_also_metrics_score_the_same_predictions_as_a_run_with_that_metric():
    df = pd.concat(make_stream(4, rows=200, seed=5, task="classification"), ignore_index=True)
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=7, random_state=0, deterministic=True, verbose=-1, n_jobs=1)

    def go(**kw):
        return run_backtest(df, target="y", policies=["never"], model=model, every="W", time_column="date",
                        id_column="row_id", initial=800, **kw)

    both = go(metric="error_rate", also_metrics=["log_loss", "roc_auc", "error_rate"])
    assert both.metric == "error_rate" and both.other_metrics == ["log_loss", "roc_auc"]  # the main one not twice
    p = both.policies[0]
    ll, auc = go(metric="log_loss").policies[0], go(metric="roc_auc").policies[0]
    assert p.other_errors["log_loss"] == pytest.approx(ll.mean_error)
    assert p.other_errors["roc_auc"] == pytest.approx(auc.mean_error)  # as an error: 1 - AUC
    assert [b.other_errors["log_loss"] for b in p.per_batch] == pytest.approx([b.error for b in ll.per_batch])
    assert both.columns()[1:4] == ("mean error", "mean log_loss", "1 - roc_auc")
    assert both.rows()[0][2] == f"{p.other_errors['log_loss']:.4g}"
    d = both.to_dict()
    assert d["other_metrics"] == ["log_loss", "roc_auc"] and d["policies"][0]["other_errors"]["roc_auc"] == p.other_errors["roc_auc"]


def test_also_metrics_must_suit_the_task():
    df = pd.concat(make_stream(3, rows=200, seed=2), ignore_index=True)
    with pytest.raises(ConfigError, match="metric 'log_loss' is for classification"):
        run(df, ["never"], initial=800, also_metrics=["log_loss"])
    with pytest.raises(ConfigError, match=r"unknown metric 'maae' \(did you mean 'mae'\?\)"):
        run(df, ["never"], initial=800, also_metrics=["maae"])


# ----------------------------------------------------------------------------- real streams
DAYS_POLICY = """
name: days-window
rules: []
fallback: {action: retrain, window: {days: 30}}
guards: {min_rows: 50}
gate: {enabled: false}
"""

SMALL_WINDOW_POLICY = """
name: small-window
rules:
  - name: every-2
    when: batches_since_retrain >= 2
    action: retrain
    window: {rows: 40}
fallback: update
update: {rounds: 5}
guards: {min_rows: 50}
gate: {enabled: false}
"""


def rows_frame():
    """800 initial rows and five batches of 200 in row order, without a time column."""
    return pd.concat(make_stream(6, rows=200, seed=2), ignore_index=True).drop(columns=["date"])


def run_rows(df, policies, **kw):
    return run_backtest(df, target="y", policies=policies, model=small_lgbm(), every="200rows", initial=800,
                        id_column="row_id", **kw)


def test_every_shipped_policy_runs_on_a_stream_without_time():
    res = run_rows(rows_frame(), ["default", "never", "always-retrain", "always-update", "periodic"])
    assert res.failures == {} and len(res.completed) == 5 and res.batches == 5
    counts = {p.name: (p.retrains, p.updates, p.skipped) for p in res.policies}
    assert counts["always-retrain"] == (5, 0, 0) and counts["always-update"] == (0, 5, 0)
    assert counts["periodic"] == (1, 0, 0) and counts["never"] == (0, 0, 0)
    assert [b.index for b in res.get("periodic").per_batch if b.trained == "retrain"] == [4]


def test_a_failing_policy_is_reported_and_the_others_run_on(tmp_path):
    days = tmp_path / "days.yaml"
    days.write_text(DAYS_POLICY)
    res = run_rows(rows_frame(), ["never", days, "always-retrain"])
    message = "batch 1 of 5: the policy's retrain window is in days, but this root has no time column; use {rows: N}"
    assert res.failures == {"days-window": message}
    assert [p.name for p in res.completed] == ["never", "always-retrain"]
    assert res.get("always-retrain").retrains == 5 and len(res.get("always-retrain").per_batch) == 5
    failed = res.get("days-window")
    assert (failed.mean_error, failed.retrains, failed.skipped, failed.per_batch) == (None, None, None, [])
    assert res.rows()[1] == ["days-window", "failed"] + ["-"] * 10
    assert res.notes() == [f"days-window failed: {message}"]
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["policies"][1]["error"] == message and d["policies"][1]["mean_error"] is None
    assert d["policies"][0]["error"] is None
    assert res.ratios("days-window", "never") == {"error": None, "train_cpu": None}


def test_when_every_policy_fails_the_error_is_raised(tmp_path):
    days = tmp_path / "days.yaml"
    days.write_text(DAYS_POLICY)
    with pytest.raises(ConfigError, match=r"^the policy's retrain window is in days, but this root has no time column; use \{rows: N\}$"):
        run_rows(rows_frame(), [days])
    other = tmp_path / "classifier.yaml"
    other.write_text(DAYS_POLICY.replace("days-window", "log-loss").replace("rules: []", "metric: log_loss\nrules: []"))
    with pytest.raises(ConfigError, match=(
            r"^every policy failed: days-window: batch 1 of 5: the policy's retrain window is in days, .*; "
            r"log-loss: init: metric 'log_loss' is for classification")):
        run_rows(rows_frame(), [days, other])


def test_a_decided_training_that_did_not_run_is_counted_with_its_reason(tmp_path):
    pol = tmp_path / "small.yaml"
    pol.write_text(SMALL_WINDOW_POLICY)
    res = run_rows(rows_frame(), [pol])
    p = res.policies[0]
    reason = "too few labelled rows in the retrain window; a retrain needs at least 50"
    assert res.columns()[9] == "skipped" and res.rows()[0][5:10] == ["0", "1", "0", "0", "4"]
    assert res.notes() == [f"small-window skipped 4 training(s): {reason}"]
    # a retrain that did not run leaves the schedule due: every later batch decides it again
    assert (p.retrains, p.updates, p.skipped, p.skip_reasons) == (0, 1, 4, {reason: 4})
    skipped = ("retrain", None, "40 labelled rows in the retrain window; a retrain needs at least 50")
    assert [(b.action, b.trained, b.skipped) for b in p.per_batch] == [("warm_start", "warm_start", None)] + [skipped] * 4
    d = p.to_dict()
    assert (d["skipped"], d["skip_reasons"]) == (4, {reason: 4})


# ----------------------------------------------------------------------------- late labels
PERF_POLICY = """
name: perf-retrain
metric: rmse
rules:
  - name: perf
    when: performance_drop >= 0.5
    action: retrain
fallback: none
guards: {min_rows: 50}
gate: {enabled: false}
"""


def _comparable(res):
    """A result without what the machine's speed decides (CPU and wall seconds)."""
    d = res.to_dict()
    for p in d["policies"]:
        for k in ("train_cpu_s", "init_train_cpu_s", "monitor_cpu_s", "wall_s"):
            p.pop(k)
        for b in p["per_batch"]:
            b.pop("train_cpu_s"), b.pop("monitor_cpu_s")
    return d


@pytest.fixture(scope="module")
def delayed(tmp_path_factory):
    work = tmp_path_factory.mktemp("delayed")
    return run(frame(seed=3, change_at=CHANGE_AT), ["default", "never"], workdir=work, label_delay=2), work


def test_batch_i_labels_reach_the_runner_with_batch_i_plus_n(delayed):
    res, work = delayed
    assert res.label_delay == 2 and res.labels_never_delivered == 2
    for p in res.policies:
        assert [b.labels_of for b in p.per_batch] == [[], [], [1], [2], [3], [4], [5], [6]]
    records = [json.loads((r / "record.json").read_text()) for r in sorted((work / "default" / "runs").iterdir())]
    # each batch arrived without its target; from batch 3 on, the labels of the batch two before
    assert [r["batch"]["labelled"] for r in records] == [False] * 8
    assert [r["labels"] for r in records] == [None, None] + [{"rows": 300}] * 6
    assert records[2]["champion_metric"]["rows"] == 300  # batch 1's labels, scored by the serving model
    # exactly batch i's labels: the stored rows of batches 1-6 carry their true targets, 7-8 none
    df = frame(seed=3, change_at=CHANGE_AT)
    stored = pd.concat([pd.read_parquet(f) for f in sorted((work / "default" / "data").glob("b*.parquet"))])
    truth = df.set_index("row_id")["y"]
    for seq, part in stored.groupby("__dk_seq"):
        if 1 <= seq <= 6:
            assert part["y"].to_numpy() == pytest.approx(truth.loc[part["row_id"]].to_numpy())
            assert set(part["__dk_labelled_at"]) == {seq + 2}
        elif seq > 6:
            assert part["y"].isna().all()
    assert "the labels of the last 2 batch(es) were still due when the stream ended: never delivered" in res.notes()
    assert "labels 2 batches late" in res.table().title


def test_each_batch_is_still_scored_on_its_true_labels(delayed, change_result):
    res, _ = delayed
    never, never0 = res.get("never"), change_result[0].get("never")
    # the policy that never trains serves version 1 throughout: the same errors, labels late or not
    assert [b.error for b in never.per_batch] == [b.error for b in never0.per_batch]
    default = res.get("default")
    assert default.per_batch[0].error == change_result[0].get("default").per_batch[0].error
    assert [b.action for b in default.per_batch[:2]] == ["none", "none"]  # no labels yet: nothing to learn


def test_a_policy_acting_on_labelled_performance_acts_later_under_delay(tmp_path):
    pol = tmp_path / "perf.yaml"
    pol.write_text(PERF_POLICY)
    df = frame(seed=3, change_at=CHANGE_AT)
    first = {}
    for delay in (0, 2, 3):
        p = run(df, [pol], label_delay=delay).policies[0]
        first[delay] = next(b.index for b in p.per_batch if b.trained == "retrain")
    assert first == {0: CHANGE_AT, 2: CHANGE_AT + 2, 3: CHANGE_AT + 3}


def test_delay_zero_is_the_replay_without_delay(change_result):
    res0 = run(frame(seed=3, change_at=CHANGE_AT), ["default", "never"], label_delay=0)
    assert _comparable(res0) == _comparable(change_result[0])
    assert res0.label_delay == 0 and res0.labels_never_delivered == 0
    assert [b.labels_of for b in res0.policies[0].per_batch] == [[i] for i in range(1, N_BATCHES)]


def test_a_time_span_delay_delivers_with_the_first_batch_that_ends_that_much_later(delayed):
    df = frame(seed=3, change_at=CHANGE_AT)
    _, batches = split_batches(df, every="W", time_column="date", initial=1200)
    ends = [pd.Timestamp(b["date"].max()) for b in batches]
    for span in ("1h", "8D", "10D", "20D", "60D"):
        sched = label_schedule(batches, parse_label_delay(span, time_column="date"), time_column="date")
        for i, j in enumerate(sched):
            later = [k for k in range(i + 1, len(batches)) if ends[k] >= ends[i] + pd.Timedelta(span)]
            assert j == (later[0] if later else None)
    assert label_schedule(batches, 3) == [3, 4, 5, 6, 7, None, None, None]
    res = run(df, ["never"], label_delay="10D")  # weekly batches: 10 days is two batches here
    assert res.label_delay == "10D" and "labels 10D late" in res.table().title
    assert [b.labels_of for b in res.policies[0].per_batch] == [b.labels_of for b in delayed[0].get("never").per_batch]


def test_a_stream_without_an_id_column_is_numbered_for_the_replay(tmp_path):
    df = frame(seed=3, change_at=CHANGE_AT).drop(columns=["row_id"])
    res = run(df, ["default"], id_column=None, label_delay=2, workdir=tmp_path)
    assert [b.labels_of for b in res.policies[0].per_batch] == [[], [], [1], [2], [3], [4], [5], [6]]
    spec = json.loads((tmp_path / "default" / "keeper.json").read_text())["spec"]
    assert spec["id_column"] == "_dk_row_id" and "_dk_row_id" not in spec["features"]
    # with an id column of its own, the same replay: the ids only join labels to rows
    with_ids = run(frame(seed=3, change_at=CHANGE_AT), ["default"], exclude=["row_id"], id_column=None, label_delay=2)
    assert [b.error for b in with_ids.policies[0].per_batch] == [b.error for b in res.policies[0].per_batch]


@pytest.mark.parametrize("bad, message", [
    (-1, "--label-delay must be 0 or more batches; got -1"),
    ("-3", "--label-delay must be 0 or more batches; got -3"),
    ("soon", "--label-delay must be a number of batches"),
    ("-5D", "--label-delay '-5D': a time span must be positive"),
    (1.5, "--label-delay must be a number of batches"),
])
def test_bad_label_delays_are_refused(bad, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_label_delay(bad, time_column="date")


def test_a_time_span_delay_needs_a_time_column():
    with pytest.raises(ConfigError, match=r"^--label-delay '90D' is a time span, but there is no time column"):
        run_rows(rows_frame(), ["never"], label_delay="90D")


def test_late_labels_need_ids_that_name_each_row_once():
    df = frame(seed=3)
    df.loc[5, "row_id"] = df.loc[4, "row_id"]
    with pytest.raises(ConfigError, match="id column 'row_id' has missing or repeated ids"):
        run(df, ["never"], label_delay=1)
