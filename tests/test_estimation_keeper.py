"""Estimated performance in the nightly runner: every version keeps a CBPE / DLE estimator
fitted on rows it did not train on, every night's record carries the estimate of the policy
metric (labelled or not), and policies can act on it before the labels arrive."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from conftest import make_stream
from test_runner import init_keeper

from driftkeeper.keeper.bundle import ESTIMATOR_MIN_ROWS
from driftkeeper.metrics import evaluate, get_metric
from driftkeeper.monitor.estimation import CBPE, DLE

POLICY = """
metric: {metric}
rules:
  - name: estimated-worse
    when: estimated_performance_drop >= 0.2
    action: rollback
fallback: none
gate: {{enabled: true, holdout: {{fraction: 0.2, pick: newest}}}}
"""


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("est")
    policy = tmp / "p.yaml"
    policy.write_text(POLICY.format(metric="mae"))
    batches = make_stream(4, seed=21, shift_at=2)  # x1, x2 move by +2 from batch 2: covariate shift only
    return init_keeper(tmp, policy, batches), batches


def test_each_version_keeps_an_estimator_fitted_on_its_holdout_and_each_night_records_the_estimate(regression):
    keeper, batches = regression
    bundle = keeper.registry.load("champion")
    assert isinstance(bundle.estimator, DLE) and bundle.estimator.fit_rows_ == 240  # the 240 held-out rows
    unlabelled = batches[1].drop(columns=["y"])
    rec = keeper.step(unlabelled, html=False, dry_run=True)
    est = rec.estimated_metric
    assert est["metric"] == "mae" and est["rows"] == 300 and est["fitted_for_version"] == 1
    X = keeper.spec.features_frame(batches[1])
    realised = evaluate(get_metric("mae", "regression"), bundle.adapter, X, batches[1]["y"])
    assert abs(est["value"] - realised) <= 3 * np.hypot(est["std_error"], est["fit_error"])  # no concept shift: it holds
    assert rec.decision["signals"]["estimated_metric"] == pytest.approx(est["value"])


def test_a_rule_on_the_estimated_drop_decides_before_the_labels_arrive(regression):
    keeper, batches = regression
    shifted = batches[2].drop(columns=["y"])  # x1/x2 far outside what the model learned
    rec = keeper.step(shifted, html=False, dry_run=True)
    sig = rec.decision["signals"]
    # no labels: under `estimates: auto` the labelled signals read the estimate — its optimistic
    # end, clear of its sampling error and (no label has come back yet) the estimator's fit error —
    # and the record says so
    est = rec.estimated_metric
    assert est["fit_error"] > 0 and not (est.get("tracking") or {}).get("track_error")
    assert sig["metric"] == pytest.approx(est["value"] - 1.2816 * (est["std_error"] ** 2 + est["fit_error"] ** 2) ** 0.5, rel=1e-12)
    assert sig["performance_drop"] < sig["estimated_performance_drop"]  # the latter: the estimate itself
    assert rec.decision["signals_from"]["performance_drop"] == "estimate"
    fired = sig["estimated_performance_drop"] >= 0.2
    assert (rec.decision["rule"] == "estimated-worse") == fired
    calm = keeper.step(batches[1].drop(columns=["y"]), html=False, dry_run=True).estimated_metric
    # the record says how much of the batch lies outside the rows the estimator was fitted on
    assert rec.estimated_metric["outside_share"] > 2 * calm["outside_share"] and calm["doubtful"] is False


def test_a_classifier_gets_cbpe_and_its_estimate_of_the_error_rate(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("metric: error_rate\nfallback: none\n")
    batches = make_stream(2, seed=4, task="classification")
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    keeper = init_keeper(tmp_path, policy, batches, model=model)
    bundle = keeper.registry.load("champion")
    assert isinstance(bundle.estimator, CBPE) and bundle.estimator.calibrated_  # 240 held-out rows: isotonic
    rec = keeper.step(batches[1].drop(columns=["y"]), html=False)
    X = keeper.spec.features_frame(batches[1])
    realised = evaluate(get_metric("error_rate", "classification"), bundle.adapter, X, batches[1]["y"])
    est = rec.estimated_metric
    assert est["metric"] == "error_rate" and abs(est["value"] - realised) <= 3 * np.hypot(est["std_error"], est["fit_error"])
    assert f"no labels yet: error_rate estimated {est['value']:.4g} ±" in rec.summary()


def test_a_version_trained_on_a_small_batch_keeps_its_parents_estimator(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("metric: mae\nfallback: retrain\nguards: {min_rows: 10}\n"
                      "gate: {enabled: true, margin: 1.0, holdout: {fraction: 0.2, pick: newest}}\n")
    batches = make_stream(2, rows=150, seed=6)  # 600 initial rows (120 held out), then 150 (30 held out)
    keeper = init_keeper(tmp_path, policy, batches)
    parent = keeper.registry.load("champion").estimator
    rec = keeper.step(batches[1], html=False)
    assert rec.action == "retrain" and rec.promoted == 2 and rec.gate["rows"] == 30
    child = keeper.registry.load(2)
    assert child.estimator is not None and child.estimator_version == 1  # 30 < 50 rows: version 1's, and says so
    assert child.estimator.fit_rows_ == parent.fit_rows_ == 120


def test_the_prometheus_file_and_the_dashboard_read_the_nights_estimate(tmp_path):
    from driftkeeper.dashboard.prom import families
    from driftkeeper.dashboard.runs import _estimated

    policy = tmp_path / "p.yaml"
    policy.write_text("metric: mae\nfallback: none\n")
    batches = make_stream(2, seed=9)
    keeper = init_keeper(tmp_path, policy, batches)
    record = keeper.step(batches[1].drop(columns=["y"]), html=False).to_dict()
    assert _estimated(record) == pytest.approx(record["estimated_metric"]["value"])
    gauges = {f.name: f for f in families("r", record, [record], now=0.0)}
    sample = gauges["driftkeeper_estimated_metric"].samples[0]
    assert sample.labels["metric"] == "mae" and sample.value == pytest.approx(record["estimated_metric"]["value"])
