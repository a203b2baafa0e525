"""LightGBM-specific adapter behaviour: categoricals, tree counts, refit, size cap, parameters."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from driftkeeper.adapters import LightGBMAdapter
from driftkeeper.exceptions import ConfigError, ModelSizeError, NotFittedError


def cat_data(n: int = 400, seed: int = 0, shift: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    city = rng.choice(["oslo", "lima", "pune"], size=n)
    X = pd.DataFrame({
        "x": rng.normal(size=n),
        "city": pd.Categorical(city, categories=["lima", "oslo", "pune"]),
    })
    effect = pd.Series(city).map({"oslo": 5.0, "lima": -5.0, "pune": 0.0}).to_numpy()
    return X, pd.Series(2.0 * X["x"].to_numpy() + effect + shift + rng.normal(scale=0.1, size=n))


def reg(**options) -> LightGBMAdapter:
    options.setdefault("update_rounds", 5)
    options.setdefault("num_threads", 1)
    return LightGBMAdapter(lgb.LGBMRegressor(n_estimators=20, num_leaves=7, min_child_samples=5), **options)


def reorder(X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    out["city"] = out["city"].cat.reorder_categories(["pune", "oslo", "lima"])
    return out


def test_categories_in_another_order_predict_the_same():
    X, y = cat_data()
    adapter = reg().fit(X, y)
    expected = adapter.predict(X)
    # pandas says these dtypes are equal (unordered), yet their codes differ: the classic trap
    assert reorder(X)["city"].dtype == X["city"].dtype
    assert not np.array_equal(reorder(X)["city"].cat.codes, X["city"].cat.codes)
    np.testing.assert_array_equal(adapter.predict(reorder(X)), expected)
    np.testing.assert_array_equal(adapter.predict(X.assign(city=X["city"].astype(str))), expected)
    by_city = pd.Series(expected).groupby(X["city"].astype(str).to_numpy()).mean()
    assert by_city["oslo"] > by_city["pune"] > by_city["lima"]


def test_update_with_categories_in_another_order_matches_aligned_update():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    aligned = reg().fit(X, y).update(Xn, yn)
    shuffled = reg().fit(X, y).update(reorder(Xn), yn)
    np.testing.assert_array_equal(shuffled.predict(X), aligned.predict(X))


def test_unseen_category_is_treated_as_missing():
    X, y = cat_data()
    adapter = reg().fit(X, y)
    new = X.head(20).copy()
    new["city"] = pd.Categorical(["rome"] * 20)
    as_missing = X.head(20).assign(city=pd.Categorical([np.nan] * 20, categories=["lima", "oslo", "pune"]))
    np.testing.assert_array_equal(adapter.predict(new), adapter.predict(as_missing))


def test_object_columns_become_fitted_categoricals():
    X, y = cat_data()
    adapter = reg().fit(X.assign(city=X["city"].astype(str)), y)
    assert adapter.schema_.dtypes["city"] == "category"
    assert adapter.categorical_indices_ == [1]
    np.testing.assert_array_equal(adapter.predict(X), adapter.predict(X.assign(city=X["city"].astype(str))))


def test_update_adds_exactly_rounds_trees_and_overrides_apply():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    adapter = reg().fit(X, y)
    assert adapter.n_trees == 20
    adapter.update(Xn, yn)
    assert adapter.n_trees == 25
    adapter.update(Xn, yn, rounds=3)
    assert adapter.n_trees == 28
    slow = reg().fit(X, y).update(Xn, yn, learning_rate=0.01)
    fast = reg().fit(X, y).update(Xn, yn, learning_rate=0.5)
    base = reg().fit(X, y).predict(Xn)
    assert np.abs(fast.predict(Xn) - base).mean() > np.abs(slow.predict(Xn) - base).mean()
    assert fast.params_["learning_rate"] == 0.1  # the override is per call


def test_multiclass_grows_by_rounds_times_classes():
    X, y = cat_data()
    labels = np.array(["a", "b", "c"])[np.digitize(y, [-2.0, 2.0])]
    adapter = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=4, num_leaves=7, min_child_samples=5), update_rounds=2,
                              num_threads=1).fit(X, labels)
    assert adapter.n_trees == 12 and adapter.params_["num_class"] == 3
    adapter.update(X, labels)
    assert adapter.n_trees == 18
    assert adapter.predict_proba(X).shape == (len(X), 3)


def test_refit_mode_keeps_trees_and_moves_leaves():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    adapter = reg(update_mode="refit", refit_decay_rate=0.5).fit(X, y)
    before = adapter.predict(Xn)
    adapter.update(Xn, yn)
    assert adapter.n_trees == 20
    assert np.abs(adapter.predict(Xn) - yn).mean() < np.abs(before - yn).mean()


def test_max_trees_raises_model_size_error_and_leaves_model_unchanged():
    X, y = cat_data()
    adapter = reg(max_trees=28).fit(X, y).update(X, y)
    before = adapter.predict(X)
    with pytest.raises(ModelSizeError, match=r"from 25 to 30 trees, past max_trees=28; retrain with fit\(\) instead"):
        adapter.update(X, y)
    assert adapter.n_trees == 25 and adapter.n_updates_ == 1 and adapter.replay_.n_seen == 800
    np.testing.assert_array_equal(adapter.predict(X), before)
    with pytest.raises(ModelSizeError, match="fit would build 20 trees"):
        reg(max_trees=10).fit(X, y)


def test_params_dict_and_deterministic_settings():
    X, y = cat_data()
    adapter = LightGBMAdapter({"objective": "regression", "num_iterations": 8, "num_leaves": 7}, num_threads=2)
    adapter.fit(X, y)
    assert adapter.n_trees == 8 and adapter.task == "regression"
    assert adapter.estimator == "lightgbm.Booster"
    assert adapter.params_["num_threads"] == 2 and adapter.params_["deterministic"] is True
    assert adapter.params_["seed"] == 0
    assert adapter.describe()["params"]["num_boost_round"] == 8
    binary = LightGBMAdapter({"objective": "binary", "num_iterations": 5}, num_threads=1).fit(X, y > 0)
    assert binary.task == "classification" and binary.classes_.tolist() == [False, True]
    assert "num_threads" not in LightGBMAdapter({"objective": "binary"}).describe()["params"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"update_rounds": 0}, "The 'update_rounds' parameter of LightGBMAdapter must be an int in the range [1, inf). Got 0 instead."),
        ({"update_mode": "grow"}, "The 'update_mode' parameter of LightGBMAdapter must be a str among {'continue', 'correct', 'refit'}. Got 'grow' instead."),
        ({"replay_fraction": 1.0}, "The 'replay_fraction' parameter of LightGBMAdapter must be a float in the range [0.0, 1.0). Got 1.0 instead."),
        ({"max_trees": 0}, "The 'max_trees' parameter of LightGBMAdapter must be an int in the range [1, inf) or None. Got 0 instead."),
        ({"refit_decay_rate": 2}, "The 'refit_decay_rate' parameter of LightGBMAdapter must be a float in the range [0.0, 1.0]. Got 2 instead."),
    ],
)
def test_parameters_are_validated_at_fit(options, message):
    X, y = cat_data(n=50)
    adapter = reg(**options)  # the constructor only stores
    with pytest.raises(ConfigError) as info:
        adapter.fit(X, y)
    assert str(info.value) == message


def test_update_overrides_are_validated():
    X, y = cat_data(n=100)
    adapter = reg().fit(X, y)
    with pytest.raises(ConfigError, match=r"'rounds' parameter of LightGBMAdapter.update must be an int in the range \[1, inf\) or None. Got 0"):
        adapter.update(X, y, rounds=0)
    with pytest.raises(ConfigError, match=r"'learning_rate' parameter of LightGBMAdapter.update must be a float in the range \(0.0, inf\)"):
        adapter.update(X, y, learning_rate=-1.0)


def test_unusable_models_raise_config_error():
    X, y = cat_data(n=50)
    with pytest.raises(ConfigError, match="needs an 'objective' key"):
        LightGBMAdapter({"num_leaves": 7}).fit(X, y)
    with pytest.raises(ConfigError, match="got LGBMRanker"):
        LightGBMAdapter(lgb.LGBMRanker()).fit(X, y)
    with pytest.raises(ConfigError, match="class_weight=None"):
        LightGBMAdapter(lgb.LGBMClassifier(class_weight="balanced")).fit(X, y > 0)


def test_replay_reservoir_is_bounded_and_pickled():
    import pickle

    X, y = cat_data(n=300)
    adapter = reg(replay_size=100).fit(X, y)
    adapter.update(X, y, replay_fraction=0.5)
    assert len(adapter.replay_) == 100 and adapter.replay_.n_seen == 600
    assert adapter.replay_.X["city"].dtype == X["city"].dtype
    loaded = pickle.loads(pickle.dumps(adapter))
    assert len(loaded.replay_) == 100
    np.testing.assert_array_equal(loaded.predict(X), adapter.predict(X))
    assert reg().describe()["n_trees"] is None
    with pytest.raises(NotFittedError, match="call fit"):
        reg().feature_names_in_  # noqa: B018


def test_updated_booster_keeps_no_training_data_and_copies_exactly():
    """Updates keep LightGBM's training booster (no text round trip) but drop its Dataset:
    the result must pickle, deep-copy and keep updating exactly like a fresh chain."""
    import copy
    import gc
    import io

    import joblib

    X, y = cat_data()
    batches = [cat_data(seed=s, shift=float(s)) for s in (1, 2, 3)]
    a = reg().fit(X, y)
    for Xb, yb in batches[:2]:
        a.update(Xb, yb)
    assert not hasattr(a.booster_, "train_set")
    gc.collect()  # the freed Dataset is gone; the booster must not need it
    buf = io.BytesIO()
    joblib.dump(a, buf)
    buf.seek(0)
    loaded, twin = joblib.load(buf), copy.deepcopy(a)
    for m in (loaded, twin, a):
        m.update(*batches[2])
    np.testing.assert_array_equal(loaded.predict(X), a.predict(X))
    np.testing.assert_array_equal(twin.predict(X), a.predict(X))
    assert a.n_trees == 35


def test_correct_mode_replaces_one_correction_booster_and_predicts_base_plus_correction():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    adapter = reg(update_mode="correct").fit(X, y)
    base = adapter.booster_
    before = adapter.predict(Xn)
    adapter.update(Xn, yn)
    assert adapter.booster_ is base and len(adapter.corrections_) == 1
    assert adapter.n_trees == 25  # base 20 + a 5-tree correction
    first = adapter.corrections_[0]
    # the prediction is the base raw score plus the correction's, which learned the shift
    matrix = adapter._matrix(adapter.schema_.align(Xn))
    np.testing.assert_allclose(adapter.predict(Xn), base.predict(matrix) + first.predict(matrix, raw_score=True))
    assert np.abs(adapter.predict(Xn) - yn).mean() < 0.75 * np.abs(before - yn).mean()
    adapter.update(Xn, yn, rounds=3)  # replaces, never piles up
    assert adapter.n_trees == 23 and len(adapter.corrections_) == 1 and adapter.corrections_[0] is not first
    # continue on a corrected model adds one more correction; refit and fit start over
    adapter.update(Xn, yn, rounds=2, mode="continue")
    assert adapter.n_trees == 25 and len(adapter.corrections_) == 2
    adapter.update(Xn, yn, mode="refit")
    assert adapter.n_trees == 20 and adapter.corrections_ == []
    adapter.update(Xn, yn).fit(X, y)
    assert adapter.n_trees == 20 and adapter.corrections_ == [] and adapter.update_mode == "correct"


def test_a_mode_per_update_acts_as_the_constructor_mode_and_leaves_it_unchanged():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    adapter = reg().fit(X, y)
    assert not adapter.update_relearns_window
    adapter.update(Xn, yn, mode="correct")
    assert adapter.update_mode == "continue" and adapter.update_relearns_window
    by_default = reg(update_mode="correct").fit(X, y).update(Xn, yn)
    np.testing.assert_array_equal(adapter.predict(Xn), by_default.predict(Xn))
    assert adapter.n_trees == by_default.n_trees == 25 and len(adapter.corrections_) == 1
    adapter.update(Xn, yn)  # the default again: continue adds a second correction booster
    assert len(adapter.corrections_) == 2 and not adapter.update_relearns_window
    with pytest.raises(ConfigError, match=r"The 'mode' parameter of LightGBMAdapter.update must be a str among "
                                          r"\{'continue', 'correct', 'refit'\}. Got 'grow' instead."):
        adapter.update(Xn, yn, mode="grow")
    assert adapter.n_updates_ == 2
    adapter.fit(X, y)
    assert not hasattr(adapter, "last_update_mode_") and not adapter.update_relearns_window
    # the size cap counts what the update's mode builds: a correction replaces the previous one
    adapter.set_params(max_trees=24)
    with pytest.raises(ModelSizeError, match="from 20 to 25 trees, past max_trees=24"):
        adapter.update(Xn, yn, mode="correct")
    adapter.update(Xn, yn, rounds=4, mode="correct").update(Xn, yn, rounds=4, mode="correct")
    assert adapter.n_trees == 24


def test_correct_mode_classifiers_keep_probabilities_consistent():
    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=4.0)
    for labels, new_labels in [(y > 0, yn > 0), (np.digitize(y, [-2.0, 2.0]), np.digitize(yn, [-2.0, 2.0]))]:
        adapter = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5), update_rounds=5,
                                  update_mode="correct", num_threads=1).fit(X, labels)
        k = len(adapter.classes_)
        plain = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5), num_threads=1).fit(X, labels)
        np.testing.assert_allclose(adapter.predict_proba(Xn), plain.predict_proba(Xn))  # no correction yet: identical
        before = (adapter.predict(Xn) == new_labels).mean()
        adapter.update(Xn, new_labels)
        proba = adapter.predict_proba(Xn)
        assert proba.shape == (len(Xn), k) and adapter.n_trees == 10 * (1 if k == 2 else k) + 5 * (1 if k == 2 else k)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(adapter.predict(Xn), adapter.classes_[np.argmax(proba, axis=1)])
        assert (adapter.predict(Xn) == new_labels).mean() > before  # the correction learned the shifted labels


def test_correct_mode_base_score_cache_is_exact_and_reset_by_a_base_change():
    import pickle

    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    Xn = pd.concat([Xn, Xn.iloc[:20]], ignore_index=True)  # duplicated rows share one key
    yn = pd.concat([yn, yn.iloc[:20]], ignore_index=True)
    cached = reg(update_mode="correct").fit(X, y)
    cached.update(Xn.iloc[:200], yn.iloc[:200])
    assert len(cached.base_cache_[0]) == 200
    cached.update(Xn, yn)  # 200 rows come from the cache
    assert len(cached.base_cache_[0]) == len(Xn) - 20
    fresh = pickle.loads(pickle.dumps(reg(update_mode="correct").fit(X, y)))
    fresh.update(Xn, yn)
    np.testing.assert_array_equal(cached.predict(Xn), fresh.predict(Xn))
    assert len(pickle.loads(pickle.dumps(cached)).base_cache_[0]) == len(Xn) - 20
    cached.update(Xn, yn, mode="refit")
    assert not hasattr(cached, "base_cache_")


def test_a_predicted_batch_is_not_predicted_again_by_the_base_model_when_it_is_learned(monkeypatch):
    import pickle

    import lightgbm as lgb

    from driftkeeper.adapters import lightgbm as lgb_mod

    X, y = cat_data()
    Xn, yn = cat_data(seed=1, shift=3.0)
    model = reg().fit(X, y)  # its own update_mode: continue; the default policy corrects it anyway
    plain = model.booster_.predict(model._matrix(Xn))
    np.testing.assert_array_equal(model.predict(Xn), plain)
    assert not hasattr(model, "base_cache_")  # a user's predict outside a night keeps nothing
    with lgb_mod.night_cache():
        np.testing.assert_allclose(model.predict(Xn), plain, rtol=0, atol=1e-12)  # the base scores, cached
    rows: list[int] = []
    real = lgb.Booster.predict

    def spy(self, data, *a, **k):
        rows.append(len(data))
        return real(self, data, *a, **k)

    monkeypatch.setattr(lgb.Booster, "predict", spy)
    with lgb_mod.night_cache():
        model.update(Xn, yn, mode="correct")  # the night's update learns the batch it predicted
        model.predict(Xn)  # ... and the gate scores it: only the correction predicts
    assert rows == [len(Xn)] and model.n_trees > model.booster_.current_iteration()
    monkeypatch.setattr(lgb_mod, "_BASE_CACHE_ROWS", 50)  # a saved model keeps the newest rows only
    assert len(pickle.loads(pickle.dumps(model)).base_cache_[0]) == 50 and len(model.base_cache_[0]) == len(Xn)


@pytest.mark.parametrize("params", [dict(reg_sqrt=True), dict(objective="huber"), dict(objective="poisson")])
def test_predictions_in_a_night_are_lightgbms_own(params):
    from driftkeeper.adapters import lightgbm as lgb_mod

    X, y = cat_data()
    model = reg(**{"update_mode": "continue"}).fit(X, y.abs() + 1 if params.get("objective") == "poisson" else y) \
        if not params else LightGBMAdapter(lgb.LGBMRegressor(n_estimators=10, verbose=-1, **params)).fit(
            X, y.abs() + 1 if params.get("objective") == "poisson" else y)
    plain = model.booster_.predict(model._matrix(X))
    with lgb_mod.night_cache():
        np.testing.assert_allclose(model.predict(X), plain, rtol=1e-12, atol=1e-12)


def test_an_ova_classifier_with_its_own_sigmoid_predicts_lightgbms_probabilities_in_a_night():
    from driftkeeper.adapters import lightgbm as lgb_mod

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.digitize(X["a"] + rng.normal(0, 0.5, 300), [-0.5, 0.5]).astype(str))
    model = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=10, objective="multiclassova", sigmoid=2.0, verbose=-1)).fit(X, y)
    plain = model.booster_.predict(model._matrix(X))
    with lgb_mod.night_cache():
        got = model.predict_proba(X)
    np.testing.assert_allclose(got, plain, rtol=1e-9, atol=1e-12)  # one sigmoid per class, at its own scale


def test_correct_mode_needs_an_objective_with_a_known_link_and_respects_max_trees():
    X, y = cat_data()
    adapter = LightGBMAdapter({"objective": "cross_entropy_lambda", "num_iterations": 5}, update_mode="correct",
                              num_threads=1).fit(X, (y > 0).astype(float))
    with pytest.raises(ConfigError, match="update_mode='correct' supports .* got objective 'cross_entropy_lambda': use update_mode='continue'"):
        adapter.update(X, (y > 0).astype(float))
    assert adapter.corrections_ == [] and adapter.n_updates_ == 0
    capped = reg(update_mode="correct", max_trees=24).fit(X, y)
    with pytest.raises(ModelSizeError, match="from 20 to 25 trees, past max_trees=24"):
        capped.update(X, y)
    capped.update(X, y, rounds=4)
    capped.update(X, y, rounds=4)  # replacing the correction keeps the model at 24 trees
    assert capped.n_trees == 24


def test_predictions_use_the_models_thread_count(monkeypatch):
    X, y = cat_data()
    seen = []
    original = lgb.Booster.predict

    def spy(self, data, *args, **kwargs):
        seen.append(kwargs.get("num_threads"))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", spy)
    one = LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5, n_jobs=1), update_mode="correct").fit(X, y)
    one.predict(X)
    one.update(X, y, rounds=2)
    one.predict(X)
    assert seen and set(seen) == {1}  # plain, base-score and corrected predictions alike
    seen.clear()
    LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5), num_threads=2).fit(X, y).predict(X)
    assert seen == [2]
    seen.clear()
    LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5)).fit(X, y).predict(X)
    assert seen == [None]  # no setting: LightGBM's own default


def test_known_rows_are_trained_on_but_not_offered_to_the_reservoir_again():
    X, y = cat_data(n=300)
    Xn, yn = cat_data(n=100, seed=1, shift=3.0)
    both_X, both_y = pd.concat([X.iloc[-100:], Xn], ignore_index=True), pd.concat([y.iloc[-100:], yn], ignore_index=True)
    adapter = reg(update_mode="correct").fit(X, y)
    adapter.update(both_X, both_y, known_rows=100)
    assert adapter.replay_.n_seen == 400 and adapter.n_rows_seen_ == 400  # 300 at fit + the 100 new rows
    again = reg(update_mode="correct").fit(X, y).update(both_X, both_y)
    assert again.replay_.n_seen == 500
    np.testing.assert_array_equal(adapter.predict(Xn), again.predict(Xn))  # the same training rows
    with pytest.raises(ConfigError, match=r"'known_rows' parameter of LightGBMAdapter.update must be an int in the range \[0, 200\]. Got 201"):
        adapter.update(both_X, both_y, known_rows=201)


@pytest.mark.parametrize("mode", ["correct", "continue"])
def test_early_stopping_keeps_the_best_round_count_on_the_eval_rows(mode):
    X, y = cat_data(600)
    Xn, yn = cat_data(500, seed=1, shift=3.0)
    Xt, yt, Xv, yv = Xn.iloc[:300], yn.iloc[:300], Xn.iloc[300:], yn.iloc[300:]
    full = reg(update_mode=mode).fit(X, y)
    full.update(Xt, yt, rounds=60, learning_rate=0.3)  # every round, for the curve
    stopped = reg(update_mode=mode).fit(X, y)
    stopped.update(Xt, yt, rounds=60, learning_rate=0.3, early_stopping_rounds=4, eval_set=(Xv, yv))
    kept = stopped.last_update_rounds_
    assert 1 <= kept < 60 and stopped.n_trees == 20 + kept
    # the same trees as the full run, truncated where the eval loss (l2) was lowest, with no
    # lower point in the 4 rounds after it
    booster = full.corrections_[0] if mode == "correct" else full.booster_
    matrix = full._matrix(full.schema_.align(Xv))
    base = full.booster_.predict(matrix, raw_score=True) if mode == "correct" else 0.0
    start = 0 if mode == "correct" else 20
    curve = [np.mean((base + booster.predict(matrix, raw_score=True, num_iteration=start + k) - yv.to_numpy()) ** 2)
             for k in range(1, 61)]
    assert kept == 1 + int(np.argmin(curve[: kept + 4]))
    np.testing.assert_allclose(stopped.predict(Xv), base + booster.predict(matrix, num_iteration=start + kept), rtol=1e-9)


@pytest.mark.parametrize("mode", ["correct", "continue"])
def test_crossfit_scores_each_eval_row_at_the_round_count_the_other_fold_picked(mode):
    X, y = cat_data(600)
    Xn, yn = cat_data(400, seed=1, shift=3.0)
    Xt, yt, Xv, yv = Xn.iloc[:300], yn.iloc[:300], Xn.iloc[300:], yn.iloc[300:].to_numpy()
    full = reg(update_mode=mode).fit(X, y)
    full.update(Xt, yt, rounds=60, learning_rate=0.3)  # every round, for the curves
    fitted = reg(update_mode=mode).fit(X, y)
    fitted.update(Xt, yt, rounds=60, learning_rate=0.3, early_stopping_rounds=4, eval_set=(Xv, yv), crossfit=True)
    booster = full.corrections_[0] if mode == "correct" else full.booster_
    matrix = full._matrix(full.schema_.align(Xv))
    base = full.booster_.predict(matrix, raw_score=True) if mode == "correct" else 0.0
    start = 0 if mode == "correct" else 20
    at = {k: base + booster.predict(matrix, raw_score=True, num_iteration=start + k) for k in range(1, 61)}
    even, odd = np.arange(0, 100, 2), np.arange(1, 100, 2)
    curves = [np.array([np.mean((at[k][f] - yv[f]) ** 2) for k in range(1, 61)]) for f in (even, odd)]
    # each fold picks its best round count when its own patience (4 rounds) runs out, and never
    # looks at the rounds trained after that; training goes on until both folds have picked
    own_stop = [next((k for k in range(1, 61) if k - (1 + int(np.argmin(c[:k]))) >= 4), None) for c in curves]
    best = [1 + int(np.argmin(c[:k or 60])) for c, k in zip(curves, own_stop)]
    stopped = max(own_stop) if None not in own_stop else 60
    expected = np.empty(100)
    expected[even], expected[odd] = at[best[1]][even], at[best[0]][odd]  # tuned on the other fold
    np.testing.assert_allclose(fitted.last_eval_output_, expected, rtol=1e-9)
    # the model keeps the round count best on all the rows (both folds pooled)
    pooled = (curves[0][:stopped] * 50 + curves[1][:stopped] * 50) / 100
    assert fitted.last_update_rounds_ == 1 + int(np.argmin(pooled)) and fitted.n_trees == 20 + fitted.last_update_rounds_
    np.testing.assert_allclose(fitted.predict(Xv), at[fitted.last_update_rounds_], rtol=1e-9)


def test_crossfit_picks_of_one_fold_never_depend_on_the_other_folds_labels():
    X, y = cat_data(600)
    Xn, yn = cat_data(400, seed=1, shift=3.0)
    Xt, yt, Xv, yv = Xn.iloc[:300], yn.iloc[:300], Xn.iloc[300:], yn.iloc[300:].to_numpy()
    poisoned = yv.copy()
    poisoned[0::2] += np.random.default_rng(5).normal(0, 5.0, 50)  # fold 0's labels only
    outs = []
    for labels in (yv, poisoned):
        model = reg(update_mode="correct").fit(X, y)
        model.update(Xt, yt, rounds=80, learning_rate=0.3, early_stopping_rounds=3, eval_set=(Xv, labels), crossfit=True)
        outs.append(model.last_eval_output_)
        assert model.booster_.best_iteration == 0 or model.booster_.best_iteration <= model.booster_.current_iteration()
    # fold 0's rows are scored at fold 1's pick, which fold 0's labels cannot move
    np.testing.assert_array_equal(outs[0][0::2], outs[1][0::2])


def test_crossfit_output_of_a_classifier_is_class_probabilities():
    X, y = cat_data(400)
    labels = (y > y.median()).astype(int)
    clf = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=20, verbose=-1), update_mode="correct").fit(X.iloc[:300], labels.iloc[:300])
    clf.update(X.iloc[300:360], labels.iloc[300:360], rounds=30, early_stopping_rounds=3,
               eval_set=(X.iloc[360:], labels.iloc[360:]), crossfit=True)
    out = clf.last_eval_output_
    assert out.shape == (40, 2) and np.allclose(out.sum(axis=1), 1.0) and ((out > 0) & (out < 1)).all()


def test_crossfit_needs_early_stopping_and_four_eval_rows():
    X, y = cat_data()
    adapter = reg(update_mode="correct").fit(X, y)
    with pytest.raises(ConfigError, match=r"crossfit=True needs early_stopping_rounds and eval_set"):
        adapter.update(X, y, crossfit=True)
    with pytest.raises(ConfigError, match=r"crossfit=True needs at least 4 eval_set rows \(two per fold\); got 3"):
        adapter.update(X, y, early_stopping_rounds=3, eval_set=(X.iloc[:3], y.iloc[:3]), crossfit=True)
    assert "crossfit" in adapter.update_overrides and "crossfit" not in adapter.update_overrides_for("refit")
    assert adapter.n_updates_ == 0


def test_early_stopping_is_refused_without_eval_rows_or_in_refit_mode():
    X, y = cat_data()
    adapter = reg(update_mode="correct").fit(X, y)
    with pytest.raises(ConfigError, match=r"early_stopping_rounds=3 needs eval_set=\(X_val, y_val\)"):
        adapter.update(X, y, early_stopping_rounds=3)
    with pytest.raises(ConfigError, match=r"'early_stopping_rounds' parameter of LightGBMAdapter.update must be an int"):
        adapter.update(X, y, early_stopping_rounds=0, eval_set=(X, y))
    assert "early_stopping_rounds" not in adapter.update_overrides_for("refit")
    with pytest.raises(ConfigError, match=r"does not support l2_regularization in mode='refit'; supported overrides: "
                                          r"\['rounds', 'learning_rate', 'replay_fraction', 'mode'\]\.$"):
        adapter.update(X, y, l2_regularization=1.0, mode="refit")
    adapter.set_params(update_mode="refit")
    assert "early_stopping_rounds" not in adapter.update_overrides
    with pytest.raises(ConfigError, match="does not support early_stopping_rounds; supported overrides"):
        adapter.update(X, y, early_stopping_rounds=3, eval_set=(X, y))
    assert adapter.n_updates_ == 0  # nothing changed


def test_l2_regularization_shrinks_the_updates_leaves_of_a_sure_classifier():
    X, y = cat_data(600)
    labels = y > 0
    Xn, yn = cat_data(300, seed=1, shift=4.0)  # the shift flips many labels the base is sure about
    new = yn > 0

    def correction(**kw):
        m = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=30, num_leaves=7, min_child_samples=5, verbose=-1),
                            update_mode="correct", num_threads=1).fit(X, labels)
        m.update(Xn, new, rounds=5, **kw)
        matrix = m._matrix(m.schema_.align(Xn))
        return m, np.abs(m.corrections_[0].predict(matrix, raw_score=True)).max()

    plain, big = correction()
    damped, small = correction(l2_regularization=10.0)
    assert "lambda_l2" not in plain.corrections_[0].params and damped.corrections_[0].params["lambda_l2"] == 10.0
    assert small < 0.5 * big  # the raw-score step of the correction
    assert damped.params_ == plain.params_  # the base model's own parameters are untouched
    with pytest.raises(ConfigError, match=r"'l2_regularization' parameter of LightGBMAdapter.update must be"):
        damped.update(Xn, new, l2_regularization=-1.0)


@pytest.mark.parametrize("mode", ["correct", "continue"])
def test_early_stopping_for_a_multiclass_model_keeps_whole_rounds(mode):
    X, y = cat_data(600)
    Xn, yn = cat_data(400, seed=1, shift=3.0)
    cut = [-2.0, 2.0]
    adapter = LightGBMAdapter(lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1),
                              update_mode=mode, num_threads=1).fit(X, np.digitize(y, cut))
    adapter.update(Xn.iloc[:300], np.digitize(yn.iloc[:300], cut), rounds=60, learning_rate=0.5,
                   early_stopping_rounds=2, eval_set=(Xn.iloc[300:], np.digitize(yn.iloc[300:], cut)))
    kept = adapter.last_update_rounds_
    assert 1 <= kept < 60 and adapter.n_trees == 3 * (10 + kept)  # three trees per round
    proba = adapter.predict_proba(Xn)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_early_stopping_uses_the_objectives_loss_when_the_model_turns_metrics_off():
    X, y = cat_data(600)
    Xn, yn = cat_data(400, seed=1, shift=3.0)
    adapter = LightGBMAdapter(
        lgb.LGBMRegressor(n_estimators=20, num_leaves=7, min_child_samples=5, metric="None", verbose=-1),
        update_mode="correct", num_threads=1).fit(X, y)
    adapter.update(Xn.iloc[:300], yn.iloc[:300], rounds=60, learning_rate=0.5, early_stopping_rounds=2,
                   eval_set=(Xn.iloc[300:], yn.iloc[300:]))
    assert 1 <= adapter.last_update_rounds_ < 60


def test_a_correction_bins_its_features_coarser_than_the_base_and_old_models_keep_their_bins():
    import pickle

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(size=600), "b": rng.uniform(size=600)})
    y = 3 * X["a"].to_numpy() + rng.normal(0, 0.1, 600)
    fine = LightGBMAdapter(lgb.LGBMRegressor(n_estimators=20, verbose=-1), correction_max_bin=None).fit(X[:400], y[:400])
    coarse = LightGBMAdapter(lgb.LGBMRegressor(n_estimators=20, verbose=-1), correction_max_bin=4).fit(X[:400], y[:400])
    assert coarse.booster_.model_to_string() == fine.booster_.model_to_string()  # the base is the same
    for m in (fine, coarse):
        m.update(X[400:], y[400:] + 1.0, rounds=10, mode="correct")
    thresholds = lambda m: {t for t in re.findall(r"threshold=([^\n]+)", m.corrections_[0].model_to_string())}  # noqa: E731
    assert len(thresholds(coarse)) < len(thresholds(fine))  # 4 bins leave fewer split points
    with pytest.raises(ConfigError, match="correction_max_bin"):
        LightGBMAdapter(lgb.LGBMRegressor(), correction_max_bin=1).fit(X, y)
    state = dict(coarse.__dict__)
    del state["correction_max_bin"]  # a model pickled by 0.1
    old = LightGBMAdapter.__new__(LightGBMAdapter)
    old.__setstate__(state)
    assert old.correction_max_bin is None and pickle.loads(pickle.dumps(old)).get_params()["correction_max_bin"] is None


def test_the_base_score_cache_keys_rows_as_pandas_hashes_them():
    from driftkeeper.adapters.lightgbm import _row_keys

    rng = np.random.default_rng(1)
    for shape in [(0, 3), (1, 1), (300, 9), (7, 40)]:
        m = rng.normal(size=shape)
        m[m > 1.5] = np.nan  # missing values hash like pandas' too
        # caches saved by earlier releases were keyed with hash_pandas_object: they must still hit
        np.testing.assert_array_equal(_row_keys(m), pd.util.hash_pandas_object(pd.DataFrame(m), index=False).to_numpy())
    m = rng.normal(size=(50, 4))
    for other in (m.astype(np.float32), np.asfortranarray(m), m[::2, ::-1], (m * 10).astype(int), m[:1], m[:, :1]):
        np.testing.assert_array_equal(_row_keys(other), pd.util.hash_pandas_object(pd.DataFrame(other), index=False).to_numpy())
    assert len(np.unique(_row_keys(m))) == 50 and (_row_keys(m[[3, 3]])[0] == _row_keys(m[[3, 3]])[1])


def test_a_refit_refused_for_an_unusable_model_keeps_the_fitted_one():
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    y = X["a"] * 2
    m = LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5, verbose=-1)).fit(X, y)
    before = m.predict(X.head(3))
    m.set_params(model=lgb.LGBMRegressor(class_weight="balanced"))
    with pytest.raises(ConfigError, match=r"^LightGBMAdapter does not support class_weight; expected class_weight=None\.$"):
        m.fit(X, y)  # checked before the fitted booster is dropped
    np.testing.assert_array_equal(m.predict(X.head(3)), before)
    # an update trains on the params of the fit: the replaced model's settings are not asked for
    m.update(X.tail(20), y.tail(20), rounds=2)
    assert m.n_updates_ == 1
