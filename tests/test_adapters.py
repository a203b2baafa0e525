"""Conformance suite: every adapter × {regression, binary classification} passes the same checks."""

from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from driftkeeper.adapters import LightGBMAdapter, ModelAdapter, RiverAdapter, SklearnAdapter, make_adapter
from driftkeeper.exceptions import ConfigError, NotFittedError, SchemaError, UpdateNotSupportedError
from fakes import FakeAdapter

CLASSES = ["down", "up"]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting's OpenMP pool oversubscribes 2 cores under ``-n 2``; one thread keeps the suite fast."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def make_data(task: str, n: int = 300, *, drift: bool = False, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Three numeric features; ``drift`` changes the concept (regression: +6 level shift and a
    flipped ``b`` slope; classification: the boundary ``a + b > 0`` becomes ``a - b > 0``)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.uniform(-1, 1, size=n)})
    sign = -1.0 if drift else 1.0
    if task == "regression":
        y = 3.0 * X["a"] + sign * 2.0 * X["b"] + (6.0 if drift else 0.0) + rng.normal(scale=0.1, size=n)
    else:
        y = np.where(X["a"] + sign * X["b"] + rng.normal(scale=0.2, size=n) > 0, CLASSES[1], CLASSES[0])
    return X, pd.Series(y, name="target")


def _lgbm(task):
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    return LightGBMAdapter(cls(n_estimators=15, num_leaves=7, min_child_samples=5), update_rounds=5, num_threads=1)


def _river_linear(task):
    from river import linear_model, preprocessing

    final = linear_model.LinearRegression() if task == "regression" else linear_model.LogisticRegression()
    return RiverAdapter(preprocessing.StandardScaler() | final)


def _river_tree(task):
    from river import tree

    return RiverAdapter(tree.HoeffdingTreeRegressor(grace_period=50) if task == "regression"
                        else tree.HoeffdingTreeClassifier(grace_period=50))


def _sk_sgd(task):
    from sklearn.linear_model import SGDClassifier, SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    final = SGDRegressor(random_state=0) if task == "regression" else SGDClassifier(loss="log_loss", random_state=0)
    return SklearnAdapter(make_pipeline(StandardScaler(), final))


def _sk_hgb(task):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return SklearnAdapter(cls(max_iter=15, max_leaf_nodes=7, random_state=0), update_rounds=5)


def _sk_static(task):
    from sklearn.linear_model import LogisticRegression, Ridge

    return SklearnAdapter(Ridge() if task == "regression" else LogisticRegression())


def _fake(task):
    return FakeAdapter(task=task)


FACTORIES = {"lightgbm": _lgbm, "river-linear": _river_linear, "river-tree": _river_tree,
             "sklearn-sgd": _sk_sgd, "sklearn-hgb": _sk_hgb, "sklearn-static": _sk_static, "fake": _fake}
# the fake's constant class frequencies cannot follow a rotated boundary, so it runs as a regressor only
CASES = [pytest.param((name, task), id=f"{name}-{task}") for name in FACTORIES for task in ("regression", "classification")
         if not (name == "fake" and task == "classification")]


@pytest.fixture(params=CASES)
def case(request):
    name, task = request.param
    return name, task, FACTORIES[name](task)


def _out(adapter: ModelAdapter, X) -> np.ndarray:
    """Predictions, or positive-class probabilities for classifiers (continuous, sensitive to change)."""
    return adapter.predict_proba(X)[:, 1] if adapter.task == "classification" else adapter.predict(X)


def _loss(adapter: ModelAdapter, X, y) -> float:
    if adapter.task == "classification":
        return float(np.mean(np.abs(adapter.predict_proba(X)[:, 1] - (np.asarray(y) == CLASSES[1]))))
    return float(np.mean(np.abs(adapter.predict(X) - np.asarray(y))))


def test_fit_predict_contract(case):
    name, task, adapter = case
    X, y = make_data(task)
    assert not adapter.is_fitted
    assert adapter.fit(X, y) is adapter
    assert adapter.is_fitted and adapter.task == task
    assert adapter.feature_names_in_.tolist() == ["a", "b", "c"] and adapter.feature_names_in_.dtype == object
    assert adapter.n_features_in_ == 3
    pred = adapter.predict(X)
    assert isinstance(pred, np.ndarray) and pred.shape == (len(X),)
    if task == "classification":
        assert adapter.classes_.tolist() == CLASSES
        proba = adapter.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(pred.tolist()) <= set(CLASSES)
        # column 1 is the positive class: its probability is higher where the label is "up"
        assert proba[y.to_numpy() == "up", 1].mean() > proba[y.to_numpy() == "down", 1].mean()
    else:
        assert not hasattr(adapter, "classes_")
    info = adapter.describe()
    json.dumps(info)
    assert info["kind"] == adapter.kind == name.split("-")[0]
    assert info["task"] == task and info["n_updates"] == 0 and info["size_bytes"] > 0
    assert info["update_style"] == adapter.update_style
    assert info["n_trees"] == adapter.n_trees


def test_update_style(case):
    name, _, adapter = case
    expected = {"lightgbm": "warm_start", "river-linear": "online_update", "river-tree": "online_update",
                "sklearn-sgd": "online_update", "sklearn-hgb": "warm_start", "sklearn-static": None,
                "fake": "online_update"}[name]
    assert adapter.update_style == expected
    assert adapter.supports_update is (expected is not None)
    assert (adapter.n_trees is None)  # unfitted


def test_joblib_round_trip(case):
    _, task, adapter = case
    X, y = make_data(task)
    adapter.fit(X, y)
    buf = io.BytesIO()
    joblib.dump(adapter, buf)
    buf.seek(0)
    loaded = joblib.load(buf)
    np.testing.assert_array_equal(loaded.predict(X), adapter.predict(X))
    np.testing.assert_array_equal(_out(loaded, X), _out(adapter, X))
    assert loaded.describe()["params"] == adapter.describe()["params"]


def test_clone_is_unfitted(case):
    _, task, adapter = case
    X, y = make_data(task)
    adapter.fit(X, y)
    twin = adapter.clone()
    assert type(twin) is type(adapter) and not twin.is_fitted
    assert twin.model is not adapter.model or adapter.model is None
    assert {k: v for k, v in twin.get_params().items() if k != "model"} == \
        {k: v for k, v in adapter.get_params().items() if k != "model"}
    with pytest.raises(NotFittedError, match=r"call fit\(X, y\)"):
        twin.predict(X)
    assert adapter.is_fitted  # the original is untouched


def test_fit_is_deterministic_and_from_scratch(case):
    _, task, adapter = case
    X, y = make_data(task)
    X2, y2 = make_data(task, drift=True, seed=1)
    first = _out(adapter.fit(X, y), X)
    np.testing.assert_array_equal(_out(adapter.clone().fit(X, y), X), first)
    adapter.fit(X2, y2)  # fit again on other data: earlier state is ignored
    np.testing.assert_array_equal(_out(adapter, X), _out(adapter.clone().fit(X2, y2), X))
    np.testing.assert_array_equal(_out(adapter.fit(X, y), X), first)


def test_update_keeps_learning_and_moves_toward_new_batch(case):
    name, task, adapter = case
    if not adapter.supports_update:
        pytest.skip("no incremental update")
    X, y = make_data(task, n=400)
    Xn, yn = make_data(task, n=400, drift=True, seed=1)
    Xh, yh = make_data(task, n=300, drift=True, seed=2)  # held-out rows of the new regime
    adapter.fit(X, y)
    before_trees = adapter.n_trees
    before = _loss(adapter, Xh, yh)
    assert adapter.update(Xn, yn) is adapter
    assert _loss(adapter, Xh, yh) < before
    assert adapter.describe()["n_updates"] == 1 and adapter.n_rows_seen_ == 800
    # not reset: differs from a model fitted on the new batch alone
    fresh = adapter.clone().fit(Xn, yn)
    assert not np.allclose(_out(adapter, Xh), _out(fresh, Xh))
    if name in ("lightgbm", "sklearn-hgb"):
        assert adapter.n_trees == before_trees + 5
        adapter.update(Xn, yn, rounds=2)
        assert adapter.n_trees == before_trees + 7


def test_update_with_replay(case):
    _, task, adapter = case
    if not adapter.supports_update:
        pytest.skip("no incremental update")
    X, y = make_data(task)
    Xn, yn = make_data(task, drift=True, seed=1)
    plain = _out(adapter.clone().fit(X, y).update(Xn, yn), Xn)
    replayed = adapter.fit(X, y).update(Xn, yn, replay_fraction=0.5)
    assert not np.allclose(_out(replayed, Xn), plain)
    assert len(adapter.replay_) == 600 and adapter.n_rows_seen_ == 600


def test_update_before_fit_raises(case):
    _, task, adapter = case
    X, y = make_data(task)
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit\(X, y\) before you update it"):
        adapter.update(X, y)
    with pytest.raises(NotFittedError, match="call fit"):
        adapter.predict(X)


def test_update_not_supported(case):
    _, task, adapter = case
    if adapter.supports_update:
        pytest.skip("supports update")
    X, y = make_data(task)
    adapter.fit(X, y)
    with pytest.raises(UpdateNotSupportedError, match="only a full retrain with fit"):
        adapter.update(X, y)


def test_columns_differ_raise_schema_error(case):
    _, task, adapter = case
    X, y = make_data(task)
    adapter.fit(X, y)
    bad = X.drop(columns=["b"]).assign(zz=1.0)
    pattern = r"unseen at fit time: \['zz'\]; feature names seen at fit time, yet now missing: \['b'\]"
    with pytest.raises(SchemaError, match=pattern):
        adapter.predict(bad)
    if adapter.supports_update:
        with pytest.raises(SchemaError, match=pattern):
            adapter.update(bad, y)
    with pytest.raises(SchemaError, match=r"column 'a' has dtype object"):
        adapter.predict(X.assign(a="text"))
    # the same columns in another order are fine
    np.testing.assert_array_equal(adapter.predict(X[["c", "a", "b"]]), adapter.predict(X))


def test_unseen_class_in_update_raises(case):
    _, task, adapter = case
    if task != "classification" or not adapter.supports_update:
        pytest.skip("classifiers with update only")
    X, y = make_data(task)
    adapter.fit(X, y)
    before = _out(adapter, X)
    y_new = y.copy()
    y_new.iloc[:5] = "sideways"
    with pytest.raises(SchemaError, match=r"class\(es\) \['sideways'\] not seen at fit time; expected one of \['down', 'up'\]"):
        adapter.update(X, y_new)
    np.testing.assert_array_equal(_out(adapter, X), before)  # a refused update changes nothing
    assert adapter.n_updates_ == 0


def test_caller_data_not_mutated(case):
    _, task, adapter = case
    X, y = make_data(task)
    X_copy, y_copy = X.copy(), y.copy()
    adapter.fit(X, y)
    adapter.predict(X)
    if adapter.supports_update:
        adapter.update(X, y, replay_fraction=0.3)
    pd.testing.assert_frame_equal(X, X_copy)
    pd.testing.assert_series_equal(y, y_copy)


def test_make_adapter_wraps_and_passes_through(case):
    name, _, adapter = case
    if name == "fake":
        pytest.skip("the fake wraps no model")
    wrapped = make_adapter(adapter.model)
    assert type(wrapped) is type(adapter)
    assert make_adapter(adapter) is adapter


# ---------------------------------------------------------------- scikit-learn's estimator conventions
def test_feature_names_in_are_the_fit_columns_in_order(case):
    _, task, adapter = case
    X, y = make_data(task)
    assert not hasattr(adapter, "feature_names_in_") and not hasattr(adapter, "n_features_in_")
    with pytest.raises(NotFittedError, match=r"call fit\(X, y\) before you read feature_names_in_ of it"):
        adapter.feature_names_in_  # noqa: B018
    adapter.fit(X[["c", "a", "b"]], y)
    np.testing.assert_array_equal(adapter.feature_names_in_, np.array(["c", "a", "b"], dtype=object))
    adapter.fit(X[["b", "a"]], y)  # a new fit replaces them
    assert adapter.feature_names_in_.tolist() == ["b", "a"] and adapter.n_features_in_ == 2


def test_set_params_changes_a_setting_through_the_api(case):
    _, task, adapter = case
    X, y = make_data(task)
    before = adapter.get_params()
    assert adapter.set_params(replay_size=40, random_state=3) is adapter
    assert adapter.get_params() == {**before, "replay_size": 40, "random_state": 3}
    assert adapter.clone().get_params()["replay_size"] == 40
    adapter.fit(X, y)
    assert len(adapter.replay_) == 40  # the reservoir the fit filled has the new capacity
    with pytest.raises(ConfigError, match=r"has no parameter 'replay_sise' \(did you mean 'replay_size'\?\); its parameters: \["):
        adapter.set_params(replay_sise=10)
    with pytest.raises(ConfigError, match=r"has no parameter 'task2'"):
        adapter.set_params(replay_size=5, task2="x")  # nothing is set when one name is wrong
    assert adapter.replay_size == 40
    adapter.set_params(replay_size=-1)  # checked where work starts, as the constructor's arguments
    with pytest.raises(ConfigError, match=r"The 'replay_size' parameter of \w+ must be an int in the range \[0, inf\)\. Got -1"):
        adapter.fit(X, y)


def test_fit_clears_the_last_update_rounds(case):
    _, task, adapter = case
    if not adapter.supports_update:
        pytest.skip("no incremental update")
    X, y = make_data(task)
    adapter.fit(X, y).update(X, y, rounds=2)
    assert adapter.last_update_rounds_ == 2
    adapter.fit(X, y)
    assert not hasattr(adapter, "last_update_rounds_")


def test_only_classifiers_have_predict_proba(case):
    _, task, adapter = case
    X, y = make_data(task)
    assert hasattr(adapter, "predict_proba") is (task == "classification")  # also before fit
    adapter.fit(X, y)
    assert hasattr(adapter, "predict_proba") is (task == "classification")
    if task == "regression":
        with pytest.raises(AttributeError, match=r"is a regression model: predict_proba is only available for classifiers"):
            adapter.predict_proba(X)


def test_only_lightgbm_takes_a_mode_per_update(case):
    name, task, adapter = case
    if not adapter.supports_update:
        pytest.skip("no incremental update")
    X, y = make_data(task)
    adapter.fit(X, y)
    assert ("mode" in adapter.update_overrides) is (name == "lightgbm")
    if name != "lightgbm":
        with pytest.raises(ConfigError, match=r"does not support a mode override; supported overrides: \['rounds'"):
            adapter.update(X, y, mode="correct")
        assert adapter.n_updates_ == 0
