"""The metric registry is the only home of a metric: policies, the gate, the signals and the
monitor all take their metrics, directions and edge-case values from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, mean_absolute_percentage_error, r2_score, roc_auc_score

from driftkeeper import metrics as m
from driftkeeper.exceptions import ConfigError, PolicyError
from driftkeeper.monitor import Monitor
from driftkeeper.policy import Context, Policy, decide, gate_passes, higher_is_better
from driftkeeper.policy.schema import METRICS as POLICY_METRICS


class Model:
    """A fixed model: its predictions are given, as an adapter would return them."""

    def __init__(self, out, classes=None):
        self.out, self.classes_ = np.asarray(out), classes

    def predict(self, X):
        if self.classes_ is None:
            return self.out
        return np.asarray(self.classes_, dtype=object)[np.argmax(self.out, axis=1)]

    def predict_proba(self, X):
        return self.out


# --------------------------------------------------------------------------- one registry


def test_policies_accept_exactly_the_registry_metrics_and_their_direction():
    assert set(POLICY_METRICS) == {"auto", *m.METRICS}
    assert {k: v for k, v in POLICY_METRICS.items() if k != "auto"} == {k: x.higher_is_better for k, x in m.METRICS.items()}
    for name in m.METRICS:
        assert higher_is_better(name) is m.METRICS[name].higher_is_better
        Policy.from_yaml(f"metric: {name}\nfallback: none\n")  # accepted
    assert higher_is_better("auto") is False and m.higher_is_better("auto") is False


def test_metrics_per_task_and_auto():
    assert m.metric_names("regression") == ["rmse", "mae", "mape", "r2"]
    assert m.metric_names("classification") == ["error_rate", "accuracy", "log_loss", "roc_auc"]
    assert m.get_metric("auto", "regression").name == "rmse" and m.get_metric("auto", "classification").name == "log_loss"
    with pytest.raises(ConfigError, match=r"^metric 'mape' is for regression, but this model does classification; use one of "
                                          r"\['accuracy', 'error_rate', 'log_loss', 'roc_auc'\]$"):
        m.get_metric("mape", "classification")
    with pytest.raises(ConfigError, match=r"^unknown metric 'rsme' \(did you mean 'rmse'\?\); known: "):
        m.get_metric("rsme")
    with pytest.raises(ConfigError, match=r"^task must be 'regression' or 'classification', got 'ranking'$"):
        m.default_metric("ranking")


def test_registry_values_match_scikit_learn_on_seeded_data():
    rng = np.random.default_rng(0)
    y = rng.normal(10, 2, 200)
    p = y + rng.normal(0, 1, 200)
    assert m.score(m.METRICS["r2"], y, p) == pytest.approx(r2_score(y, p), rel=1e-12)
    assert m.score(m.METRICS["mape"], y, p) == pytest.approx(mean_absolute_percentage_error(y, p), rel=1e-12)
    labels = rng.integers(0, 2, 200)
    q = np.clip(labels * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)
    proba = np.column_stack([1 - q, q])
    assert m.score(m.METRICS["log_loss"], labels, proba, [0, 1]) == pytest.approx(log_loss(labels, proba), rel=1e-12)
    assert m.score(m.METRICS["roc_auc"], labels, proba, [0, 1]) == pytest.approx(roc_auc_score(labels, q), rel=1e-12)


def test_r2_of_a_constant_target_is_one_for_exact_predictions_and_zero_otherwise():
    y = np.full(5, 3.0)
    assert m.score(m.METRICS["r2"], y, y) == 1.0 == r2_score(y, y)
    assert m.score(m.METRICS["r2"], y, y + [0, 0, 1, 0, 0]) == 0.0 == r2_score(y, y + [0, 0, 1, 0, 0])
    X = pd.DataFrame({"x": np.arange(5.0)})
    mon = Monitor().fit(X.assign(y=np.arange(5.0)), target="y", prediction=np.arange(5.0))
    assert mon.check(X.assign(y=y), target="y", prediction=y + [0, 0, 1, 0, 0]).performance["metrics"]["r2"] == 0.0
    assert mon.check(X.assign(y=y), target="y", prediction=y).performance["metrics"]["r2"] == 1.0


def test_zero_rows_are_nan_in_the_registry_and_none_in_the_report():
    assert np.isnan(m.score(m.METRICS["rmse"], np.array([]), np.array([])))
    X = pd.DataFrame({"x": np.arange(20.0)})
    mon = Monitor().fit(X)  # no reference target: no target drift to refuse the unlabelled rows
    perf = mon.check(X, target=np.full(20, np.nan), prediction=np.arange(20.0)).performance
    assert perf == {"task": "regression", "rows": 0, "metrics": {"rmse": None, "mae": None, "mape": None, "r2": None}}


# --------------------------------------------------------------------------- the monitor reports the same numbers


def _frames(rng, n, y):
    X = pd.DataFrame({"x": rng.normal(size=n)})
    return X, pd.Series(y, name="y")


def test_monitor_regression_metrics_equal_evaluate_on_the_same_rows():
    rng = np.random.default_rng(1)
    X, y = _frames(rng, 300, rng.normal(50, 10, 300))
    pred = y.to_numpy() + rng.normal(0, 5, 300)
    pred[:3] = np.nan  # rows without a prediction are left out by the monitor ...
    mon = Monitor().fit(X, target=y, prediction=pred)
    perf = mon.check(X, target=y, prediction=pred).performance
    model = Model(pred[3:])  # ... so evaluate scores the same rows
    expected = {name: m.evaluate(m.METRICS[name], model, X.iloc[3:], y.iloc[3:]) for name in m.metric_names("regression")}
    assert perf["rows"] == 297 and perf["metrics"] == pytest.approx(expected, rel=1e-12)


def test_monitor_binary_metrics_equal_evaluate_on_the_same_rows():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 400)
    q = np.clip(labels * 0.5 + rng.uniform(0, 0.5, 400), 0, 1)
    X, y = _frames(rng, 400, labels)
    mon = Monitor().fit(X, target=y, prediction=q)
    perf = mon.check(X, target=y, prediction=q).performance
    model = Model(np.column_stack([1 - q, q]), classes=[0, 1])
    expected = {name: m.evaluate(m.METRICS[name], model, X, y) for name in m.metric_names("classification")}
    assert perf["task"] == "classification" and perf["metrics"] == pytest.approx(expected, rel=1e-12)


def test_monitor_label_metrics_equal_evaluate_and_the_probability_ones_are_none():
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    proba = rng.dirichlet([1, 1, 1], 300)
    X, y = _frames(rng, 300, np.asarray(classes)[rng.integers(0, 3, 300)])
    model = Model(proba, classes=classes)
    mon = Monitor().fit(X, target=y, prediction=model.predict(X))
    perf = mon.check(X, target=y, prediction=model.predict(X)).performance["metrics"]
    for name in m.metric_names("classification"):
        expected = None if m.METRICS[name].needs_proba else m.evaluate(m.METRICS[name], model, X, y)
        assert perf[name] == expected, name
    assert perf["accuracy"] == pytest.approx(np.mean(model.predict(X) == y.to_numpy()))


def test_monitor_matches_a_float_label_to_its_integer_class():
    X = pd.DataFrame({"x": np.arange(4.0)})
    y = pd.Series([0, 1, 1, 0])
    mon = Monitor().fit(X, target=y)
    assert mon.check(X, target=y, prediction=[0.0, 1.0, 0.0, 0.0]).performance["metrics"]["accuracy"] == 0.75


# --------------------------------------------------------------------------- mape in a policy, end to end

MAPE = """
metric: mape
gate: {confidence: 0.9}
rules:
  - {name: worse, when: performance_drop >= 0.2, action: retrain}
fallback: none
"""


def test_mape_policy_decides_on_the_report_metric_and_gates_on_mape():
    pol = Policy.from_yaml(MAPE)
    X = pd.DataFrame({"x": np.arange(10.0)})
    y = np.full(10, 100.0)
    mon = Monitor().fit(X.assign(y=y), target="y", prediction=y)
    report = mon.check(X.assign(y=y), target="y", prediction=y * 1.3)  # 30% off on every row
    assert report.performance["metrics"]["mape"] == pytest.approx(0.3)
    d = decide(report, pol, Context(champion_metric=0.2))
    assert d.signals["metric"] == pytest.approx(0.3) and d.signals["performance_drop"] == pytest.approx(0.5)
    assert (d.action, d.rule) == ("retrain", "worse")
    assert decide(report, pol, Context(champion_metric=0.28)).action == "none"
    ok, why = pol.gate_passes(0.10, 0.12, task="regression")
    assert not ok and why.startswith("gate refused: candidate mape 0.12 not <= 0.1")
    champion, candidate = np.array([0.1, 0.2, 0.1, 0.2]), np.array([0.12, 0.21, 0.11, 0.2])
    ok, why = gate_passes(0.15, 0.16, "mape", 0.0, confidence=0.9, champion_losses=champion, candidate_losses=candidate)
    assert not ok and "worse with 90% confidence" in why


def test_mape_policy_refuses_a_classification_gate_metric():
    with pytest.raises(PolicyError, match=r"gate metric 'accuracy' is for classification but metric 'mape' is for regression"):
        Policy.from_yaml("metric: mape\ngate: {metric: accuracy}\nfallback: none\n")
