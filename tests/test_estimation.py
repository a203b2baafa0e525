"""Estimated performance without labels (CBPE for classifiers, DLE for regressors), on seeded
synthetic data where the truth is known: under covariate shift the estimate tracks the realised
metric; under concept shift it cannot, and the realised labels say so."""

from __future__ import annotations

import io

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from driftkeeper.exceptions import ConfigError, SchemaError
from driftkeeper.metrics import METRICS, get_metric, score
from driftkeeper.monitor.estimation import (
    CBPE, CLASSIFICATION_ESTIMATES, DLE, REGRESSION_ESTIMATES, _expected_auc, check_disjoint, fit_estimator,
)


def features(rng, n, shift=0.0):
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    X["x1"] += shift  # covariate shift: only where the inputs lie moves
    X["cat"] = pd.Categorical(rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"])
    return X


def signal(X, concept=False):
    s = 2 * X["x1"] - X["x2"] + 0.5 * X["x3"] * X["x4"] + np.where(X["cat"] == "a", 1.0, 0.0)
    return -s if concept else s  # concept shift: the same inputs, the opposite relation


def regression_target(rng, X, concept=False):
    # noise grows with |x1|: a shift towards larger x1 makes the model worse, which DLE must see
    return signal(X, concept) + rng.normal(size=len(X)) * (0.3 + 0.5 * np.abs(X["x1"].to_numpy()))


def classification_target(rng, X, concept=False):
    return np.where(rng.uniform(size=len(X)) < 1 / (1 + np.exp(-signal(X, concept))), "yes", "no")


def lgbm(cls):
    return cls(n_estimators=100, num_leaves=15, learning_rate=0.1, random_state=0, deterministic=True, verbose=-1, n_jobs=1)


@pytest.fixture(scope="module")
def regression():
    """A regressor trained on 3,000 rows; its DLE fitted on 2,000 other rows."""
    rng = np.random.default_rng(11)
    X = features(rng, 5000)
    y = regression_target(rng, X)
    model = lgbm(lgb.LGBMRegressor).fit(X[:3000], y[:3000])
    est = fit_estimator("regression", X[3000:], y[3000:], model.predict(X[3000:]), metrics=["mae", "rmse", "mape"])
    return model, est, rng


@pytest.fixture(scope="module")
def classification():
    rng = np.random.default_rng(12)
    X = features(rng, 5000)
    y = classification_target(rng, X)
    model = lgbm(lgb.LGBMClassifier).fit(X[:3000], y[:3000])
    est = fit_estimator("classification", X[3000:], y[3000:], model.predict_proba(X[3000:]), classes=model.classes_)
    return model, est, rng


# ----------------------------------------------------------------------------- covariate shift: tracked
def test_dle_tracks_the_realised_error_under_covariate_shift(regression):
    model, est, _ = regression
    rng = np.random.default_rng(21)
    seen = []
    for shift in (0.0, 0.5, 1.0):
        X = features(rng, 2000, shift)
        y, pred = regression_target(rng, X), model.predict(X)
        chunk = est.estimate(X, pred)
        for m in ("mae", "rmse"):
            realised = score(get_metric(m), y, pred)
            e = chunk[m]
            # measured (seeds 11/21): at most 1.04 total errors (1.5 sampling errors) and 3.0 % off
            assert abs(e.value - realised) <= 2.5 * e.total_error, (shift, m, e, realised)
            assert abs(e.value - realised) <= 0.07 * realised, (shift, m, e, realised)
        seen.append((realised, chunk["rmse"].value))
        assert not chunk.doubtful
    # it follows the change: the error rose by a quarter as x1 moved, and so did the estimate
    assert seen[2][0] > 1.2 * seen[0][0] and seen[2][1] > 1.2 * seen[0][1]


def test_cbpe_tracks_the_realised_metrics_under_covariate_shift(classification):
    model, est, _ = classification
    rng = np.random.default_rng(22)
    for shift in (0.0, 0.5, 1.0):
        X = features(rng, 2000, shift)
        y, proba = classification_target(rng, X), model.predict_proba(X)
        chunk = est.estimate(X, proba)
        for m in ("accuracy", "error_rate", "log_loss", "roc_auc"):
            realised = score(get_metric(m), y, proba, classes=list(model.classes_))
            e = chunk[m]
            # measured (seeds 12/22): within 2.0 total errors (the sampling error alone: 2.9)
            assert abs(e.value - realised) <= 3 * e.total_error, (shift, m, e, realised)
        # measured: accuracy at most 0.021 off
        assert abs(chunk["accuracy"].value - score(get_metric("accuracy"), y, proba, classes=list(model.classes_))) < 0.035
        assert not chunk.doubtful


# ----------------------------------------------------------------------------- concept shift: not tracked
def test_under_concept_shift_the_estimate_is_wrong_and_the_labels_say_so(classification, regression):
    """The assumption (P(y|x) unchanged) is broken: the inputs look as before, so the estimate
    stays where it was and nothing in the inputs flags it; the realised labels contradict it."""
    model, est, _ = classification
    rng = np.random.default_rng(23)
    X = features(rng, 2000)
    y, proba = classification_target(rng, X, concept=True), model.predict_proba(X)
    chunk = est.estimate(X, proba)
    realised = score(get_metric("accuracy"), y, proba, classes=list(model.classes_))
    assert realised < 0.3 and chunk["accuracy"].value > 0.75  # the estimate did not move
    assert not chunk.doubtful  # the inputs are where they were: no estimator without labels can see this
    assert not chunk["accuracy"].agrees_with(realised)  # once the labels arrive, they do
    rmodel, rest, _ = regression
    y = regression_target(rng, X, concept=True)
    pred = rmodel.predict(X)
    rchunk = rest.estimate(X, pred)
    assert score(get_metric("mae"), y, pred) > 2.5 * rchunk["mae"].value
    assert not rchunk["mae"].agrees_with(score(get_metric("mae"), y, pred))


def test_a_chunk_far_outside_the_fitting_rows_is_doubtful(regression, classification):
    rng = np.random.default_rng(24)
    X = features(rng, 1000, shift=4.0)
    chunk = regression[1].estimate(X, regression[0].predict(X))
    assert chunk.doubtful and chunk.outside_share > 0.5 and "x1" in chunk.outside_columns
    unseen = features(rng, 1000)
    unseen["cat"] = pd.Categorical(np.where(np.arange(1000) % 3 == 0, "z", "a"))
    c = classification[1].estimate(unseen, classification[0].predict_proba(unseen))
    assert c.outside_columns["cat"] == pytest.approx(334 / 1000) and c.doubtful
    d = c.to_dict()
    assert d["doubtful"] is True and set(d["estimates"]) == set(CLASSIFICATION_ESTIMATES)


# ----------------------------------------------------------------------------- standard errors
@pytest.mark.parametrize("which", ["regression", "classification"])
def test_standard_errors_shrink_with_the_chunk_size(which, request):
    model, est, _ = request.getfixturevalue(which)
    rng = np.random.default_rng(25)
    X = features(rng, 6400)
    out = model.predict(X) if which == "regression" else model.predict_proba(X)
    ses = {n: est.estimate(X[:n], out[:n]) for n in (100, 400, 1600, 6400)}
    for m in est.metrics:
        se = [ses[n][m].std_error for n in (100, 400, 1600, 6400)]
        assert all(a > b for a, b in zip(se, se[1:])), (m, se)
        # 1 / sqrt(n): four times the rows, half the error (give or take what the rows are)
        assert se[-1] / se[0] == pytest.approx(1 / 8, rel=0.35), (m, se)


def test_the_stated_error_is_the_spread_of_the_realised_metric(classification):
    """Many chunks of the same size: the realised accuracy scatters around the estimate by about
    the stated standard error (calibration is good at shift 0)."""
    model, est, _ = classification
    rng = np.random.default_rng(26)
    z = []
    for _ in range(60):
        X = features(rng, 300)
        y, proba = classification_target(rng, X), model.predict_proba(X)
        e = est.estimate(X, proba)["accuracy"]
        z.append((score(get_metric("accuracy"), y, proba, classes=list(model.classes_)) - e.value) / e.std_error)
    assert 0.6 < np.std(z) < 1.5 and abs(np.mean(z)) < 0.8  # measured: std 0.93, mean -0.44


def test_expected_auc_equals_roc_auc_when_the_probabilities_are_the_labels():
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(size=500), 1)  # ties included
    y = (rng.uniform(size=500) < 1 / (1 + np.exp(-2 * s))).astype(float)
    assert _expected_auc(s, y)[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


# ----------------------------------------------------------------------------- the object
def test_a_fitted_estimator_is_small_and_survives_joblib(regression, classification):
    rng = np.random.default_rng(27)
    X = features(rng, 500)
    for model, est in (regression[:2], classification[:2]):
        buf = io.BytesIO()
        joblib.dump(est, buf)
        assert len(buf.getvalue()) < 200_000  # keeps no rows
        again = joblib.load(io.BytesIO(buf.getvalue()))
        out = model.predict(X) if est.task == "regression" else model.predict_proba(X)
        assert again.estimate(X, out).to_dict() == est.estimate(X, out).to_dict()


def test_metric_names_are_the_registrys(regression, classification):
    assert regression[1].metrics == ("mae", "rmse", "mape")
    for name in (*CLASSIFICATION_ESTIMATES, *REGRESSION_ESTIMATES):
        if name in METRICS:
            from driftkeeper.monitor.estimation import Estimate

            assert Estimate(name, 0.5, 0.1, 10).higher_is_better == METRICS[name].higher_is_better


def test_multiclass_accuracy_and_log_loss():
    rng = np.random.default_rng(28)
    X = features(rng, 6000)
    s = signal(X)
    y = np.where(s + rng.normal(size=len(X)) > 1.5, "hi", np.where(s + rng.normal(size=len(X)) < -1.0, "lo", "mid"))
    model = lgbm(lgb.LGBMClassifier).fit(X[:3000], y[:3000])
    est = fit_estimator("classification", X[3000:5000], y[3000:5000], model.predict_proba(X[3000:5000]), classes=model.classes_)
    assert est.metrics == ("accuracy", "error_rate", "log_loss", "roc_auc")
    proba = model.predict_proba(X[5000:])
    chunk = est.estimate(X[5000:], proba)
    for m in est.metrics:
        realised = score(get_metric(m), y[5000:], proba, classes=list(model.classes_))
        assert abs(chunk[m].value - realised) <= 3 * chunk[m].total_error, (m, chunk[m], realised)


def test_bad_input_is_refused():
    rng = np.random.default_rng(29)
    X = features(rng, 100)
    with pytest.raises(ConfigError, match="r2 needs the chunk's target variance"):
        DLE(["r2"])
    with pytest.raises(ConfigError, match="needs its classes"):
        fit_estimator("classification", X, np.zeros(100), np.zeros((100, 2)))
    with pytest.raises(SchemaError, match=r"expected class probabilities of shape \(100, 2\)"):
        CBPE(["no", "yes"]).fit(X, np.array(["no", "yes"] * 50), np.zeros((100, 3)))
    with pytest.raises(SchemaError, match=r"labels \['maybe'\] are not among the model's classes"):
        CBPE(["no", "yes"]).fit(X, np.array(["maybe"] * 100), np.full((100, 2), 0.5))
    with pytest.raises(SchemaError, match="too few to fit a loss estimator"):
        DLE().fit(X[:5], np.zeros(5), np.zeros(5))
    est = DLE(["mae"]).fit(X, rng.normal(size=100), np.zeros(100))
    with pytest.raises(SchemaError, match=r"lacks the column\(s\) \['x2'\]"):
        est.estimate(X.drop(columns=["x2"]), np.zeros(100))
    with pytest.raises(ConfigError, match="no estimate of 'rmse'"):
        est.estimate(X, np.zeros(100))["rmse"]


def test_an_estimator_is_never_fitted_on_training_rows():
    rng = np.random.default_rng(30)
    X = features(rng, 200)
    check_disjoint(X[:150], X[150:])  # the holdout: fine
    with pytest.raises(ConfigError, match="^10 of the 60 rows a performance estimator would be fitted on are training rows"):
        check_disjoint(X[:150], X[140:])
