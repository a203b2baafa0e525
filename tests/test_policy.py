"""Policy engine: decisions, guards, signals, round trips (no monitor needed)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from driftkeeper.exceptions import ConfigError, PolicyError
from driftkeeper.policy import (
    DECISION_ACTIONS,
    Context,
    Decision,
    Policy,
    decide,
    gate_passes,
    load_policy,
    performance_drop,
    shipped_policies,
)
from driftkeeper.monitor import ColumnDrift, DriftReport

UTC = timezone.utc


def col(name, score=0.05, drifted=False, threshold=0.1):
    return ColumnDrift(name=name, kind="numerical", method="wasserstein", score=score, threshold=threshold, drifted=drifted, rows=500)


def report(n_drifted=0, n=10, prediction=None, target=None, performance=None):
    cols = [col(f"c{i}", score=0.3 if i < n_drifted else 0.01, drifted=i < n_drifted) for i in range(n)]
    return DriftReport(columns=tuple(cols), current_rows=500, prediction=prediction, target=target, performance=performance)


CAN_UPDATE = dict(rows=500, labelled_rows=500, update_style="warm_start", batches_since_retrain=10,
                  updates_since_retrain=0, model_trees=100, model_size_bytes=1000)


def ctx(**kw):
    return Context(**{**CAN_UPDATE, **kw})


DEFAULT = load_policy("default")

# ----------------------------------------------------------------------------- table

CASES = [
    # (id, policy, report, context, action, rule)
    # the default's fallback is a small update: every batch with enough labels is learned
    ("quiet", "default", report(0), ctx(metric=10.0, champion_metric=10.0), "warm_start", "fallback"),
    ("quiet-too-few-rows", "default", report(0), ctx(metric=10.0, champion_metric=10.0, labelled_rows=50), "none", "fallback"),
    # the default retrains on the drop since the last *retrain* (from its 4th batch on), not on
    # the drop since the last promoted correction, and only when the batch before dropped too
    ("big-drop", "default", report(0), ctx(metric=13.5, champion_metric=10.0, retrain_metric=10.0,
     previous_metric_since_retrain=12.0), "retrain", "drop-since-retrain"),
    ("big-drop-one-batch", "default", report(0), ctx(metric=13.5, champion_metric=10.0, retrain_metric=10.0,
     previous_metric_since_retrain=11.9), "warm_start", "moderate-drop-or-drift"),
    ("big-drop-3-batches-after-retrain", "default", report(0),
     ctx(metric=13.5, champion_metric=10.0, retrain_metric=10.0, previous_metric_since_retrain=13.0, batches_since_retrain=3),
     "warm_start", "moderate-drop-or-drift"),
    ("drop-since-correction-only", "default", report(0), ctx(metric=13.5, champion_metric=10.0, retrain_metric=12.0,
     previous_metric_since_retrain=13.5), "warm_start", "moderate-drop-or-drift"),
    ("drop-below-retrain", "default", report(0), ctx(metric=11.9, champion_metric=10.0, retrain_metric=10.0,
     previous_metric_since_retrain=13.0), "warm_start", "moderate-drop-or-drift"),
    ("data-grown", "default", report(0), ctx(rows_since_retrain=500, rows_at_retrain=1000), "retrain", "data-grown"),
    ("data-not-grown", "default", report(0), ctx(rows_since_retrain=499, rows_at_retrain=1000), "warm_start", "fallback"),
    ("concept-drift-no-feature-drift", "default", report(0), ctx(metric=11.0, champion_metric=10.0), "warm_start", "moderate-drop-or-drift"),
    ("feature-drift-no-labels", "default", report(4), ctx(), "warm_start", "moderate-drop-or-drift"),
    ("feature-drift-online", "default", report(4), ctx(update_style="online_update"), "online_update", "moderate-drop-or-drift"),
    ("small-drift", "default", report(2), ctx(), "warm_start", "fallback"),
    ("pred-and-target", "default", report(0, prediction=col("prediction", 0.5, True), target=col("target", 0.5, True)), ctx(), "warm_start", "moderate-drop-or-drift"),
    ("pred-only", "default", report(0, prediction=col("prediction", 0.5, True)), ctx(), "warm_start", "fallback"),
    ("r2-drop", "policy-r2", report(0), ctx(metric=0.6, champion_metric=0.8), "retrain", "performance-drop"),
    ("r2-gain", "policy-r2", report(0), ctx(metric=0.9, champion_metric=0.8), "none", "fallback"),
    ("never", "never", report(10), ctx(metric=100.0, champion_metric=1.0), "none", "fallback"),
    ("always-retrain", "always-retrain", report(0), ctx(), "retrain", "fallback"),
    ("always-update", "always-update", report(0), ctx(), "warm_start", "fallback"),
    ("periodic-due", "periodic", None, ctx(batches_since_retrain=4), "retrain", "every-4-batches"),
    ("periodic-not-due", "periodic", None, ctx(batches_since_retrain=3), "none", "fallback"),
    ("metric-from-report", "default", report(0, performance={"task": "regression", "rows": 500, "metrics": {"rmse": 13.0}}),
     ctx(champion_metric=10.0, retrain_metric=10.0, previous_metric_since_retrain=12.5), "retrain", "drop-since-retrain"),
]

R2 = """
metric: r2
rules:
  - {name: performance-drop, when: performance_drop >= 0.15, action: retrain}
fallback: none
"""


def _policy(name):
    return Policy.from_yaml(R2, name="r2") if name == "policy-r2" else load_policy(name)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_decision_table(case):
    _, pol, rep, context, action, rule = case
    d = decide(rep, _policy(pol), context)
    assert (d.action, d.rule) == (action, rule), str(d)


@pytest.mark.parametrize("name", ["default", "never", "always-retrain", "always-update", "periodic"])
def test_every_shipped_policy_loads_and_decides(name):
    assert name in shipped_policies()
    p = load_policy(name)
    assert p.name == name and p.source.endswith(f"{name}.yaml")
    for rep in (None, report(5)):
        for context in (Context(), ctx(metric=20.0, champion_metric=10.0)):
            d = decide(rep, p, context)
            assert d.action in DECISION_ACTIONS
            assert d.policy == name
    assert p.describe().startswith(f"policy {name!r}")


def test_load_by_name_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_policy("default").name == "default"


def test_load_by_path(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("fallback: retrain\n")
    p = load_policy(f)
    assert (p.name, p.source) == ("mine", str(f))
    assert load_policy(str(f)).name == "mine"


# ----------------------------------------------------------------------------- signals


def test_missing_signal_is_false_and_reported():
    d = decide(report(0), DEFAULT, ctx())  # no labels: no metric, no performance_drop
    assert d.signals["metric"] is None and d.signals["performance_drop"] is None
    assert "metric" in d.missing and "performance_drop" in d.missing
    pd = [c for c in d.conditions if c["signal"] == "performance_drop"]
    assert pd and all(c["missing"] and not c["held"] and c["actual"] is None for c in pd)
    assert "missing signals (conditions on them were false): sustained_drop_since_retrain, data_growth, performance_drop" in str(d)


def test_not_equal_on_missing_signal_is_false():
    p = Policy.from_yaml("rules:\n  - {name: r, when: prediction_drifted != true, action: retrain}\nfallback: none\n")
    d = decide(report(0), p, ctx())
    assert d.action == "none" and d.conditions[0]["missing"] is True


def test_no_report_all_report_signals_missing():
    d = decide(None, DEFAULT, ctx(metric=10.0, champion_metric=10.0))
    for s in ("drift_share", "drifted_columns", "dataset_drift", "prediction_drift", "target_drift"):
        assert d.signals[s] is None and s in d.missing
    assert d.signals["drift_share"] is None  # never silently zero


COLS = """
rules:
  - name: zip
    when:
      any:
        - column_score:zipcode >= 0.2
        - {signal: column_drifted, column: "sq ft", op: "==", value: true}
    action: retrain
fallback: none
"""


def test_column_signals_and_unknown_column():
    p = Policy.from_yaml(COLS)
    rep = DriftReport(columns=(col("zipcode", 0.25, True), col("sq ft", 0.01, False)))
    d = decide(rep, p, ctx())
    assert d.action == "retrain"
    assert d.signals["column_score:zipcode"] == 0.25 and d.signals["column_drifted:sq ft"] is False
    other = DriftReport(columns=(col("price"),))
    d2 = decide(other, p, ctx())
    assert d2.action == "none"
    assert {"column_score:zipcode", "column_drifted:sq ft"} <= set(d2.missing)


def test_nested_groups():
    p = Policy.from_yaml("""
rules:
  - name: n
    when:
      all:
        - rows >= 100
        - any: [drift_share >= 0.5, {all: [drifted_columns >= 1, dataset_drift == false]}]
    action: retrain
fallback: none
""")
    assert decide(report(1), p, ctx()).action == "retrain"
    assert decide(report(0), p, ctx()).action == "none"
    assert decide(report(1), p, ctx(rows=10, labelled_rows=10)).action == "none"


def test_days_since_retrain_from_batch_time_not_wall_clock():
    t0 = datetime(2015, 1, 1, tzinfo=UTC)
    c = Context(batch_time=t0 + timedelta(days=10, hours=12), last_retrain_time=t0)
    assert c.days_since_retrain == pytest.approx(10.5)
    p = Policy.from_yaml("rules:\n  - {name: old, when: days_since_retrain > 10, action: retrain}\nfallback: none\n")
    assert decide(None, p, c).action == "retrain"
    assert decide(None, p, Context(batch_time=t0 + timedelta(days=3), last_retrain_time=t0)).action == "none"
    assert decide(None, p, Context()).signals["days_since_retrain"] is None


def test_naive_datetime_refused():
    with pytest.raises(ConfigError, match=r"^context batch_time '2015-01-01T00:00:00' has no timezone; give an aware datetime"):
        Context(batch_time=datetime(2015, 1, 1))
    with pytest.raises(ConfigError, match=r"^context last_retrain_time 'last week' is not ISO-8601"):
        Context(last_retrain_time="last week")
    assert Context(batch_time="2015-01-01T00:00:00Z").batch_time == datetime(2015, 1, 1, tzinfo=timezone.utc)


def test_performance_drop_direction():
    assert performance_drop(12.0, 10.0, "rmse") == pytest.approx(0.2)
    assert performance_drop(0.6, 0.8, "r2") == pytest.approx(0.25)
    assert performance_drop(0.9, 0.8, "accuracy") == pytest.approx(-0.125)
    assert performance_drop(None, 0.8, "accuracy") is None


# ----------------------------------------------------------------------------- guards

GUARDS = """
update: {rounds: 50}
retrain: {window: {days: 30}}
rules:
  - {name: upd, when: drift_share >= 0.5, action: update}
  - {name: re, when: drift_share >= 0.2, action: retrain}
fallback: none
guards:
  min_rows: 100
  retrain_cooldown: {batches: 3, days: 7}
  max_consecutive_updates: 4
  max_model_trees: 1000
  max_model_bytes: 10000
"""
G = Policy.from_yaml(GUARDS, name="guards")
UPD, RE = report(6), report(3)


def guard_names(d):
    return [g["guard"] for g in d.guards]


def test_guard_min_rows():
    d = decide(RE, G, ctx(labelled_rows=50))
    assert (d.action, d.rule, d.requested) == ("none", "re", "retrain")
    assert guard_names(d) == ["min_rows"] and "50 labelled rows < min_rows 100" in d.guards[0]["reason"]
    assert decide(RE, G, ctx(labelled_rows=None, rows=99)).action == "none"  # falls back to rows
    assert decide(RE, G, ctx(labelled_rows=100)).action == "retrain"


def test_guard_cooldown_downgrades_to_update_or_none():
    d = decide(RE, G, ctx(batches_since_retrain=1))
    assert d.action == "warm_start" and guard_names(d) == ["retrain_cooldown"]
    assert d.params == {"rounds": 50, "learning_rate": None, "replay_fraction": 0.0, "mode": "continue", "relearn_batches": 0, "relearn_rows": None, "passes": None, "early_stopping_rounds": None, "l2_regularization": None}
    assert "1 batches since the last retrain < 3" in str(d)
    d2 = decide(RE, G, ctx(batches_since_retrain=1, update_style=None))
    assert d2.action == "none" and guard_names(d2) == ["retrain_cooldown"]
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    d3 = decide(RE, G, ctx(batches_since_retrain=5, batch_time=t0 + timedelta(days=2), last_retrain_time=t0))
    assert d3.action == "warm_start" and "2 days since the last retrain < 7" in d3.guards[0]["reason"]
    assert decide(RE, G, ctx(batches_since_retrain=3)).action == "retrain"
    assert decide(RE, G, ctx(batches_since_retrain=None)).action == "retrain"  # unknown: no cooldown


def test_guard_cooldown_update_would_break_cap_gives_none():
    d = decide(RE, G, ctx(batches_since_retrain=1, updates_since_retrain=4))
    assert d.action == "none" and "an update would break a cap" in d.guards[0]["reason"]


def test_guard_forced_retrain_after_n_updates():
    assert decide(UPD, G, ctx(updates_since_retrain=3)).action == "warm_start"
    d = decide(UPD, G, ctx(updates_since_retrain=4, batches_since_retrain=1))
    assert d.action == "retrain" and guard_names(d) == ["max_consecutive_updates"]  # forced: no cooldown
    assert d.params == {"window": {"days": 30}}
    assert "4 updates since the last retrain >= 4 → retrain instead of warm_start" in str(d)


def test_guard_size_caps():
    d = decide(UPD, G, ctx(model_trees=960, model_size_bytes=None))
    assert d.action == "retrain" and guard_names(d) == ["max_model_trees"]
    assert "960 trees + 50 rounds = 1010 > 1000" in d.guards[0]["reason"]
    assert decide(UPD, G, ctx(model_trees=950, model_size_bytes=None)).action == "warm_start"
    d2 = decide(UPD, G, ctx(model_trees=100, model_size_bytes=9000))  # 9000 * 150/100 > 10000
    assert d2.action == "retrain" and guard_names(d2) == ["max_model_bytes"]


def test_update_unsupported_becomes_retrain():
    d = decide(UPD, G, ctx(update_style=None))
    assert d.action == "retrain" and d.requested == "update" and guard_names(d) == ["update_unsupported"]


def test_rollback_needs_a_previous_champion():
    p = Policy.from_yaml("rules:\n  - {name: back, when: consecutive_gate_refusals >= 2, action: rollback}\nfallback: none\n")
    assert decide(None, p, ctx(consecutive_gate_refusals=2, can_rollback=True)).action == "rollback"
    d = decide(None, p, ctx(consecutive_gate_refusals=2))
    assert d.action == "none" and guard_names(d) == ["rollback_unavailable"]


# ----------------------------------------------------------------------------- params


def test_param_layers():
    p = Policy.from_yaml("""
defaults: {rounds: 10, window: all, replay_fraction: 0.1}
update: {rounds: 20, learning_rate: 0.1}
retrain: {window: {rows: 5000}}
rules:
  - {name: a, when: drift_share >= 0.5, action: warm_start, rounds: 30, mode: refit}
  - {name: b, when: drift_share >= 0.2, action: retrain, window: {days: 14}}
fallback: {action: retrain}
""")
    assert decide(report(6), p, ctx()).params == {"rounds": 30, "learning_rate": 0.1, "replay_fraction": 0.1, "mode": "refit", "relearn_batches": 0, "relearn_rows": None, "passes": None, "early_stopping_rounds": None, "l2_regularization": None}
    assert decide(report(3), p, ctx()).params == {"window": {"days": 14}}
    assert decide(report(0), p, ctx()).params == {"window": {"rows": 5000}}
    assert decide(report(0), load_policy("never"), ctx()).params == {}


# ----------------------------------------------------------------------------- decision


def test_decision_round_trip_and_str():
    t0 = datetime(2015, 1, 1, tzinfo=UTC)
    c = ctx(metric=13.82, champion_metric=10.0, retrain_metric=10.0, previous_metric_since_retrain=12.5, batch_time=t0,
            last_retrain_time=t0 - timedelta(days=40))
    d = decide(report(1), DEFAULT, c)
    assert Decision.from_dict(d.to_dict()) == d
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert str(d) == ("retrain (window: all data) — rule 'drop-since-retrain' fired: sustained_drop_since_retrain 0.25 >= 0.2; "
                      "batches_since_retrain 10 >= 4")
    d2 = decide(report(0), DEFAULT, ctx(rows_since_retrain=600, rows_at_retrain=1000, batches_since_retrain=1))
    s = str(d2)
    assert s.startswith("warm_start (rounds: 40, learning_rate: 0.1, replay_fraction: 0, mode: correct, relearn_batches: 5, relearn_rows: 50000, passes: 1, early_stopping_rounds: 3, l2_regularization: 1) — rule 'data-grown' fired: data_growth 0.6 >= 0.5")
    assert "guard retrain_cooldown: 1 batches since the last retrain < 2 → warm_start instead of retrain" in s


def test_fallback_str():
    d = decide(report(0), DEFAULT, ctx(metric=10.0, champion_metric=10.0))
    assert str(d) == (
        "warm_start (rounds: 40, learning_rate: 0.1, replay_fraction: 0, mode: correct, relearn_batches: 5, relearn_rows: 50000, passes: 1, early_stopping_rounds: 3, l2_regularization: 1) — no rule fired (fallback); "
        "missing signals (conditions on them were false): "
        "sustained_drop_since_retrain, data_growth, prediction_drifted, target_drifted"
    )


def test_context_round_trip():
    t0 = datetime(2015, 1, 1, tzinfo=UTC)
    c = Context(batch_time=t0, last_retrain_time=t0 - timedelta(days=2), metric=1.5, update_style="online_update")
    assert Context.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ConfigError, match="unknown context key 'metrc' \\(did you mean 'metric'\\?\\)"):
        Context.from_dict({"metrc": 1})
    with pytest.raises(ConfigError, match="context rows: expected an integer, got 'a'"):
        Context(rows="a")


def test_decide_is_deterministic():
    c = ctx(metric=11.0, champion_metric=10.0)
    assert decide(report(3), DEFAULT, c) == decide(report(3), DEFAULT, c)


# ----------------------------------------------------------------------------- gate & monitor


@pytest.mark.parametrize(
    "champ,cand,metric,margin,ok",
    [
        (10.0, 10.0, "rmse", 0.0, True),
        (10.0, 10.5, "rmse", 0.05, True),
        (10.0, 10.6, "rmse", 0.05, False),
        (0.8, 0.79, "r2", 0.0, False),
        (0.8, 0.77, "r2", 0.05, True),
        (0.5, 0.6, "log_loss", 0.1, False),
        (0.9, 0.95, "accuracy", 0.0, True),
        (10.0, None, "rmse", 0.0, False),
        (None, 3.0, "rmse", 0.0, True),
        (10.0, 9.0, "rmse", -0.05, True),
        (10.0, 9.6, "rmse", -0.05, False),
    ],
)
def test_gate_passes(champ, cand, metric, margin, ok):
    passed, why = gate_passes(champ, cand, metric, margin)
    assert passed is ok
    assert why.startswith("gate passed" if ok else "gate refused")


def _noisy_losses(shift: float, n: int = 40, seed: int = 2):
    rng = np.random.default_rng(seed)
    champ = rng.exponential(10.0, size=n)
    return champ, champ + shift + rng.normal(0.0, 4.0, size=n)


def test_paired_gate_passes_noise_that_the_point_comparison_refuses():
    champ, cand = _noisy_losses(0.5)  # ~9% worse on average, inside the noise of 40 rows
    cv, kv = float(champ.mean()), float(cand.mean())
    assert kv > cv * 1.01
    assert gate_passes(cv, kv, "mae", 0.01)[0] is False
    ok, why = gate_passes(cv, kv, "mae", 0.01, confidence=0.9, champion_losses=champ, candidate_losses=cand)
    assert ok is True
    assert re.search(r"^gate passed: .* not worse with 90% confidence \(paired t = [0-9.]+ <= 1\.30, 40 rows\)$", why)


def test_paired_gate_refuses_a_clearly_worse_candidate():
    champ, cand = _noisy_losses(5.0)  # ~50% worse
    ok, why = gate_passes(float(champ.mean()), float(cand.mean()), "mae", 0.01, confidence=0.9,
                          champion_losses=champ, candidate_losses=cand)
    assert ok is False and why.startswith("gate refused") and "worse with 90% confidence" in why


def test_paired_gate_margin_is_squared_for_rmse_and_falls_back_without_losses():
    champ = np.full(10, 4.0)  # squared errors: champion rmse 2.0
    cand = np.full(10, 4.0 * 1.1 ** 2)  # rmse exactly 2.2 = 10% worse, zero variance
    assert gate_passes(2.0, 2.2, "rmse", 0.1, confidence=0.9, champion_losses=champ, candidate_losses=cand * 0.999)[0]
    assert not gate_passes(2.0, 2.2, "rmse", 0.1, confidence=0.9, champion_losses=champ, candidate_losses=cand * 1.001)[0]
    # roc_auc has no per-row losses: the point comparison decides, with the same wording as without confidence
    assert gate_passes(0.8, 0.7, "roc_auc", 0.0, confidence=0.9) == gate_passes(0.8, 0.7, "roc_auc", 0.0)
    with pytest.raises(ConfigError, match=r"gate: champion and candidate losses must be 1-D and of equal length, got \(3,\) and \(2,\)"):
        gate_passes(1.0, 1.0, "mae", 0.0, confidence=0.9, champion_losses=[1, 2, 3], candidate_losses=[1, 2])


def test_policy_gate_confidence_is_validated_and_described():
    p = Policy.from_yaml("metric: mae\nfallback: none\ngate: {margin: 0.01, confidence: 0.9}\n")
    assert p.gate.confidence == 0.9
    champ, cand = _noisy_losses(0.5)
    assert p.gate_passes(float(champ.mean()), float(cand.mean()), task="regression",
                         champion_losses=champ, candidate_losses=cand)[0]
    assert "with 90% confidence (paired t-test on per-row losses)" in p.describe()
    with pytest.raises(PolicyError, match=r":2: gate.confidence: must be < 1, got 1.0"):
        Policy.from_yaml("fallback: none\ngate: {confidence: 1.0}\n")


def test_policy_gate_and_monitor_config():
    p = DEFAULT
    assert p.gate.enabled and p.gate.holdout.fraction == 0.2 and p.gate.holdout.rows is None
    assert p.gate.margin == 0.0 and p.gate.confidence == 0.9 and p.gate_metric == "auto"
    assert (p.gate.holdout_rows, p.gate.holdout_fraction, p.gate.holdout_pick, p.min_training_rows()) == (None, 0.2, "random", 100)
    assert p.gate.for_action("retrain") == p.gate.for_action("warm_start") == p.gate.for_action(None) == (0.0, 0.9)
    assert not p.gate_passes(10.0, 10.05, task="regression")[0]  # margin 0, no losses: plain comparison
    assert p.gate_passes(10.0, 9.99, task="regression", action="warm_start")[0]
    mixed = Policy.from_yaml("fallback: none\ngate: {margin: 0.01, retrain: {margin: 0.0, confidence: 0.9}}\n")
    assert mixed.gate_passes(10.0, 10.05, task="regression")[0]  # the gate's own margin 0.01
    assert mixed.gate_passes(10.0, 10.05, task="regression", action="warm_start")[0]
    assert not mixed.gate_passes(10.0, 10.05, task="regression", action="retrain")[0]  # margin 0, no losses: plain
    assert mixed.gate.for_action("retrain") == (0.0, 0.9) and mixed.gate.for_action(None) == (0.01, None)
    assert mixed.gate.holdout_pick == "newest"
    assert p.monitor_kwargs() == {"drift_share": 0.5}
    q = Policy.from_yaml("monitor: {method: {a: psi}, threshold: 0.2, drift_share: 0.3}\nfallback: none\n")
    assert q.monitor_kwargs() == {"method": {"a": "psi"}, "threshold": 0.2, "drift_share": 0.3}
    assert load_policy("never").gate.enabled is False


def test_data_growth_signal_is_rows_since_retrain_over_rows_at_retrain():
    pol = Policy.from_yaml("name: g\nrules:\n  - name: grown\n    when: data_growth >= 0.25\n    action: retrain\nfallback: none\n")
    d = decide(None, pol, Context(rows_since_retrain=30, rows_at_retrain=100))
    assert d.action == "retrain" and d.rule == "grown" and d.signals["data_growth"] == 0.3
    d = decide(None, pol, Context(rows_since_retrain=20, rows_at_retrain=100))
    assert d.action == "none" and d.signals["data_growth"] == 0.2
    d = decide(None, pol, Context(rows_since_retrain=20))
    assert d.action == "none" and "data_growth" in d.missing


def test_sustained_performance_drop_needs_two_bad_batches_of_the_same_model():
    pol = Policy.from_yaml(
        "name: s\nmetric: rmse\nrules:\n  - name: trend\n    when: sustained_performance_drop >= 0.3\n"
        "    action: retrain\nfallback: none\n"
    )
    one_bad = decide(None, pol, Context(task="regression", champion_metric=10.0, metric=15.0, previous_metric=10.5))
    assert one_bad.action == "none" and one_bad.signals["sustained_performance_drop"] == pytest.approx(0.05)
    two_bad = decide(None, pol, Context(task="regression", champion_metric=10.0, metric=15.0, previous_metric=13.5))
    assert two_bad.action == "retrain" and two_bad.signals["sustained_performance_drop"] == pytest.approx(0.35)
    fresh = decide(None, pol, Context(task="regression", champion_metric=10.0, metric=15.0))
    assert fresh.action == "none" and "sustained_performance_drop" in fresh.missing


def test_sustained_drop_since_retrain_ignores_one_bad_batch():
    pol = Policy.from_yaml(
        "name: s\nmetric: mae\nrules:\n  - name: stale\n    when: sustained_drop_since_retrain >= 0.2\n"
        "    action: retrain\nfallback: none\n"
    )
    ctx = dict(task="regression", retrain_metric=10.0, metric=15.0)
    holiday = decide(None, pol, Context(**ctx, previous_metric_since_retrain=10.5))
    assert holiday.action == "none" and holiday.signals["sustained_drop_since_retrain"] == pytest.approx(0.05)
    assert holiday.signals["drop_since_retrain"] == pytest.approx(0.5)
    trend = decide(None, pol, Context(**ctx, previous_metric_since_retrain=12.5))
    assert trend.action == "retrain" and trend.signals["sustained_drop_since_retrain"] == pytest.approx(0.25)
    assert "fired: sustained_drop_since_retrain 0.25 >= 0.2" in str(trend)
    fresh = decide(None, pol, Context(**ctx))
    assert fresh.action == "none" and "sustained_drop_since_retrain" in fresh.missing


def test_drop_since_retrain_compares_with_the_level_after_the_last_retrain():
    pol = Policy.from_yaml(
        "name: s\nmetric: r2\nrules:\n  - name: stale\n    when: drop_since_retrain >= 0.2\n    action: retrain\nfallback: none\n"
    )
    # r2: higher is better, so 0.9 -> 0.7 is a drop of 0.2/0.9 even though the newest champion's own baseline is 0.7
    d = decide(None, pol, Context(task="regression", champion_metric=0.7, retrain_metric=0.9, metric=0.7))
    assert d.action == "retrain" and d.signals["drop_since_retrain"] == pytest.approx(0.2 / 0.9)
    assert d.signals["performance_drop"] == pytest.approx(0.0)
    d = decide(None, pol, Context(task="regression", retrain_metric=0.9, metric=0.8))
    assert d.action == "none" and d.signals["drop_since_retrain"] == pytest.approx(0.1 / 0.9)
    d = decide(None, pol, Context(task="regression", metric=0.5))
    assert d.action == "none" and "drop_since_retrain" in d.missing


def test_gate_overrides_per_action():
    pol = Policy.from_yaml(
        "name: g\nfallback: none\ngate:\n  margin: 0.01\n  confidence: 0.8\n"
        "  retrain: {margin: 0.0, confidence: 0.9}\n  update: {confidence: null}\n"
    )
    assert pol.gate.for_action("retrain") == (0.0, 0.9)
    for action in ("warm_start", "online_update", "update"):
        assert pol.gate.for_action(action) == (0.01, None)  # margin inherited, the test turned off
    plain = Policy.from_yaml("name: g\nfallback: none\ngate: {margin: 0.02, retrain: {confidence: 0.95}}\n")
    assert plain.gate.for_action("retrain") == (0.02, 0.95) and plain.gate.for_action("warm_start") == (0.02, None)
    # the policy's gate_passes uses the candidate's action: 10% worse is refused for an update,
    # passed for a retrain when 5 noisy rows cannot show it is worse with 90% confidence
    champ, cand = np.array([1.0, 2.0, 0.5, 3.0, 1.5]), np.array([2.0, 1.0, 1.5, 2.5, 1.6])
    kw = dict(champion_losses=champ, candidate_losses=cand)
    assert pol.gate_passes(float(champ.mean()), float(cand.mean()), "regression", action="warm_start", **kw)[0] is False
    assert pol.gate_passes(float(champ.mean()), float(cand.mean()), "regression", action="retrain", **kw)[0] is True
    text = pol.describe()
    assert "retrained candidates: margin 0, refused only when worse with 90% confidence" in text
    assert "updated candidates: margin 0.01, plain comparison" in text


@pytest.mark.parametrize("gate, message", [
    ("{retrain: {confidance: 0.9}}", r"<string>:3: unknown key 'confidance' in gate\.retrain \(did you mean 'confidence'\?\)$"),
    ("{update: {confidence: 1.5}}", r"<string>:3: gate\.update\.confidence: must be < 1, got 1\.5$"),
    ("{retrain: 0.9}", r"<string>:3: gate\.retrain: expected a mapping, got 0\.9$"),
])
def test_gate_override_errors_name_the_key(gate, message):
    with pytest.raises(PolicyError, match=message):
        Policy.from_yaml(f"name: g\nfallback: none\ngate: {gate}\n")
