"""River / scikit-learn specifics, make_adapter and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from driftkeeper.adapters import RiverAdapter, SklearnAdapter, make_adapter
from driftkeeper.exceptions import ConfigError, DataQualityError, ModelSizeError, SchemaError
from fakes import FakeAdapter


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, pd.Series(np.where(X["a"] > 0, "up", "down")), X["a"] * 2 + X["b"]


def test_import_is_lazy():
    code = ("import sys, driftkeeper.adapters as a; "
            "assert 'lightgbm' not in sys.modules and 'river' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_make_adapter_rejects_other_objects():
    with pytest.raises(ConfigError, match=r"make_adapter cannot wrap builtins.str; expected a LightGBM, River or scikit-learn model"):
        make_adapter("model.pkl")
    with pytest.raises(ConfigError, match="got options"):
        make_adapter(make_adapter({"objective": "binary"}), update_rounds=3)
    assert make_adapter({"objective": "binary"}, update_rounds=3).update_rounds == 3


def test_sklearn_non_estimator_is_rejected():
    from sklearn.preprocessing import StandardScaler

    X, _, y = data()
    with pytest.raises(ConfigError, match="regressor or classifier; got StandardScaler"):
        SklearnAdapter(StandardScaler()).fit(X, y)


def test_river_binary_classifier_maps_positive_class_to_column_1():
    from river import linear_model, preprocessing

    X, labels, _ = data()
    adapter = RiverAdapter(preprocessing.StandardScaler() | linear_model.LogisticRegression()).fit(X, labels)
    proba = adapter.predict_proba(X)
    assert proba[labels.to_numpy() == "up", 1].mean() > 0.6 > proba[labels.to_numpy() == "down", 1].mean()
    with pytest.raises(ConfigError, match="is a binary classifier; y has 3 classes"):
        RiverAdapter(linear_model.LogisticRegression()).fit(X, np.repeat(["a", "b", "c"], [70, 70, 60]))


def test_river_mini_batch_learning_is_opt_in():
    from river import linear_model, preprocessing

    X, _, y = data()
    model = preprocessing.StandardScaler() | linear_model.LinearRegression()
    rows = RiverAdapter(model).fit(X, y)
    chunks = RiverAdapter(model, batch_size=50).fit(X, y)
    assert rows._mini_batch() and not rows._mini_batch(learning=True) and chunks._mini_batch(learning=True)
    assert not np.allclose(rows.predict(X), chunks.predict(X))
    # rounds = passes over the batch
    one = RiverAdapter(model).fit(X, y).update(X, y + 5).predict(X)
    three = RiverAdapter(model).fit(X, y).update(X, y + 5, rounds=3).predict(X)
    assert np.abs(three - (y + 5)).mean() < np.abs(one - (y + 5)).mean()


def test_river_learning_rate_override_is_refused():
    from river import linear_model

    X, _, y = data()
    adapter = RiverAdapter(linear_model.LinearRegression()).fit(X, y)
    with pytest.raises(ConfigError, match=r"does not support a learning_rate override; supported overrides: \['rounds', 'replay_fraction'\]"):
        adapter.update(X, y, learning_rate=0.1)


def test_sklearn_hgb_learning_rate_override_and_early_stopping_off():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, _, y = data(n=300)
    model = HistGradientBoostingRegressor(max_iter=10, early_stopping=True, random_state=0)
    adapter = SklearnAdapter(model, update_rounds=4).fit(X, y)
    assert adapter.model_.early_stopping is False and model.early_stopping is True  # caller's model untouched
    assert "learning_rate" in adapter.update_overrides
    adapter.update(X, y + 1, learning_rate=0.3)
    assert adapter.n_trees == 14 and adapter.model_.learning_rate == 0.1
    with pytest.raises(ModelSizeError, match="past max_trees=15"):
        SklearnAdapter(model, max_trees=15, update_rounds=10).fit(X, y).update(X, y)


def test_sklearn_sgd_has_no_learning_rate_override_and_fixed_classes():
    from sklearn.linear_model import SGDClassifier

    X, labels, _ = data()
    adapter = SklearnAdapter(SGDClassifier(loss="log_loss", random_state=0)).fit(X, labels)
    with pytest.raises(ConfigError, match="does not support a learning_rate override"):
        adapter.update(X, labels, learning_rate=0.1)
    with pytest.raises(ConfigError, match="update_learning_rate is only supported for HistGradientBoosting"):
        SklearnAdapter(SGDClassifier(), update_learning_rate=0.1).fit(X, labels)
    # a batch holding only one of the fitted classes is fine for partial_fit (classes passed explicitly)
    adapter.update(X.head(20), pd.Series(["up"] * 20))
    assert adapter.classes_.tolist() == ["down", "up"] and adapter.predict_proba(X).shape == (200, 2)


def test_sklearn_warm_start_classifier_needs_every_class_in_the_batch():
    from sklearn.ensemble import RandomForestClassifier

    X, labels, _ = data()
    adapter = SklearnAdapter(RandomForestClassifier(n_estimators=5, random_state=0), update_rounds=3).fit(X, labels)
    with pytest.raises(SchemaError, match=r"update batch lacks class\(es\) \['down'\]"):
        adapter.update(X.head(10), pd.Series(["up"] * 10))
    # replayed rows bring the missing class back
    adapter.update(X.head(10), pd.Series(["up"] * 10), replay_fraction=0.5)
    assert adapter.n_trees == 8


def test_sklearn_gradient_boosting_and_extra_trees_warm_start():
    from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor

    X, _, y = data()
    for model, start in ((GradientBoostingRegressor(n_estimators=5, random_state=0), 5),
                         (ExtraTreesRegressor(n_estimators=4, random_state=0), 4)):
        adapter = SklearnAdapter(model, update_rounds=2).fit(X, y)
        assert adapter.update_style == "warm_start" and adapter.n_trees == start
        assert adapter.update(X, y + 1).n_trees == start + 2


def test_bad_targets_and_empty_batches():
    from sklearn.linear_model import Ridge

    X, _, y = data()
    adapter = SklearnAdapter(Ridge())
    with pytest.raises(SchemaError, match="y has 199 rows but X has 200"):
        adapter.fit(X, y.iloc[:-1])
    with pytest.raises(DataQualityError, match="y contains 1 missing value"):
        adapter.fit(X, y.where(y.index != 3))
    with pytest.raises(DataQualityError, match="X has 0 rows"):
        adapter.fit(X.iloc[:0], y.iloc[:0])
    with pytest.raises(DataQualityError, match="a classifier needs at least 2 classes"):
        SklearnAdapter(__import__("sklearn.linear_model").linear_model.LogisticRegression()).fit(X, ["a"] * 200)
    adapter.fit(X, y)
    np.testing.assert_allclose(adapter.predict(X.to_numpy()), adapter.predict(X))  # arrays take fitted names


def test_fake_adapter_plays_every_update_style():
    from driftkeeper.exceptions import UpdateNotSupportedError

    X, labels, y = data()
    clf = FakeAdapter(task="classification", update_style="warm_start").fit(X, labels)
    assert clf.update_style == "warm_start" and clf.clone().get_params()["task"] == "classification"
    clf.update(X.head(50), pd.Series(["up"] * 50))
    assert clf.predict(X.head(1)).tolist() == ["up"]
    n_up = int((labels == "up").sum()) + 50
    np.testing.assert_allclose(clf.predict_proba(X.head(1)), [[(250 - n_up) / 250, n_up / 250]])
    static = FakeAdapter(update_style=None).fit(X, y)
    with pytest.raises(UpdateNotSupportedError):
        static.update(X, y)
    with pytest.raises(ConfigError, match="The 'task' parameter of FakeAdapter must be a str among"):
        FakeAdapter(task="ranking").fit(X, y)


@pytest.mark.parametrize("kind", ["sklearn-hgb", "river-tree"])
def test_categoricals_in_another_order_for_other_adapters(kind):
    from river import tree
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    city = rng.choice(["oslo", "lima", "pune"], size=300)
    X = pd.DataFrame({"x": rng.normal(size=300), "city": pd.Categorical(city, categories=["lima", "oslo", "pune"])})
    y = X["x"] + pd.Series(city).map({"oslo": 5.0, "lima": -5.0, "pune": 0.0})
    model = (HistGradientBoostingRegressor(max_iter=10) if kind == "sklearn-hgb"
             else tree.HoeffdingTreeRegressor(grace_period=50, leaf_prediction="mean"))
    adapter = make_adapter(model).fit(X, y)
    shuffled = X.assign(city=X["city"].cat.reorder_categories(["pune", "oslo", "lima"]))
    np.testing.assert_array_equal(adapter.predict(shuffled), adapter.predict(X))
    np.testing.assert_array_equal(adapter.predict(X.assign(city=city)), adapter.predict(X))
    assert adapter.update(shuffled, y + 1).n_updates_ == 1
