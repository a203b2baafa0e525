"""Monitor behaviour: schema, kinds, methods, data-quality guards, target/prediction, pickling."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from driftkeeper.exceptions import ConfigError, DataQualityError, InputError, NotFittedError, SchemaError
from driftkeeper.monitor import Monitor, infer_kind
from driftkeeper.monitor import DriftReport

SHIFTED = ["f1", "f4", "cat_b"]


def _frame(n: int, rng: np.random.Generator, shift: bool = False) -> pd.DataFrame:
    data = {}
    for i in range(6):
        loc = 1.5 if shift and f"f{i}" in SHIFTED else 0.0
        data[f"f{i}"] = rng.normal(loc, 1.0, n)
    data["cat_a"] = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    data["cat_b"] = rng.choice(["x", "y", "z"], n, p=[0.1, 0.2, 0.7] if shift else [0.5, 0.3, 0.2])
    data["small_int"] = rng.integers(0, 4, n)
    data["flag"] = rng.random(n) < 0.3
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(42)
    return _frame(3000, rng), _frame(800, rng, shift=True), _frame(800, rng)


@pytest.fixture(scope="module")
def small_frames():
    rng = np.random.default_rng(0)
    return _frame(600, rng), _frame(300, rng, shift=True)


# ----------------------------------------------------------------------------- drift
def test_seeded_shift_flags_exactly_the_shifted_columns(frames):
    ref, drifted, same = frames
    mon = Monitor().fit(ref)
    report = mon.check(drifted)
    assert sorted(report.drifted_columns) == sorted(SHIFTED)
    assert report.n_columns == 10 and report.n_drifted == 3
    assert report.dataset_drift is False
    assert mon.check(same).drifted_columns == []


def test_small_reference_flags_exactly_the_shifted_columns(small_frames):
    ref, cur = small_frames
    report = Monitor().fit(ref).check(cur)
    assert sorted(report.drifted_columns) == sorted(SHIFTED)


def test_auto_method_follows_evidentlys_rule_by_reference_size(frames, small_frames):
    big = Monitor().fit(frames[0]).check(frames[1])
    small = Monitor().fit(small_frames[0]).check(small_frames[1])
    assert {c.name: c.method for c in big.columns} == {
        **{f"f{i}": "wasserstein" for i in range(6)},
        "cat_a": "jensenshannon", "cat_b": "jensenshannon", "small_int": "jensenshannon", "flag": "jensenshannon",
    }
    assert {c.name: c.method for c in small.columns} == {
        **{f"f{i}": "ks" for i in range(6)},
        "cat_a": "chisquare", "cat_b": "chisquare", "small_int": "chisquare", "flag": "z",
    }
    assert big.column("f0").threshold == 0.1 and big.column("f0").stattest_type == "distance"
    assert small.column("f0").threshold == 0.05 and small.column("f0").stattest_type == "p_value"


def test_auto_on_numerical_column_with_few_values_uses_chisquare_or_z_like_evidently():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"v": rng.integers(0, 4, 500).astype(float), "b": rng.integers(0, 2, 500).astype(float)})
    cur = pd.DataFrame({"v": rng.integers(0, 4, 200).astype(float), "b": rng.integers(0, 2, 200).astype(float)})
    report = Monitor(numerical=["v", "b"]).fit(ref).check(cur)
    assert report.column("v").method == "chisquare" and report.column("v").kind == "numerical"
    assert report.column("b").method == "z"


def test_method_and_threshold_overrides_are_recorded(frames):
    ref, cur, _ = frames
    mon = Monitor(method={"f0": "psi", "cat_a": "hellinger"}, threshold={"f0": 0.3}).fit(ref)
    report = mon.check(cur)
    assert report.column("f0").method == "psi" and report.column("f0").threshold == 0.3
    assert report.column("cat_a").method == "hellinger" and report.column("cat_a").threshold == 0.1
    assert report.column("f1").method == "wasserstein"
    one = Monitor(method="psi", threshold=0.2).fit(ref).check(cur)
    assert {c.method for c in one.columns} == {"psi"} and {c.threshold for c in one.columns} == {0.2}


def test_report_is_ordered_by_schema_and_sorted_columns_puts_drifted_first(frames):
    ref, cur, _ = frames
    report = Monitor().fit(ref).check(cur)
    assert [c.name for c in report.columns] == list(ref.columns)
    ordered = report.sorted_columns()
    assert {c.name for c in ordered[:3]} == set(SHIFTED)
    assert all(a.margin >= b.margin for a, b in zip(ordered[3:], ordered[4:]))


def test_drift_share_decides_dataset_drift(frames):
    ref, cur, _ = frames
    assert Monitor(drift_share=0.3).fit(ref).check(cur).dataset_drift is True
    assert Monitor(drift_share=0.31).fit(ref).check(cur).dataset_drift is False


# ----------------------------------------------------------------------------- kinds
def test_kinds_follow_evidentlys_inference_and_explicit_lists_override(frames):
    ref = frames[0]
    mon = Monitor().fit(ref)
    assert mon.kinds_ == {
        **{f"f{i}": "numerical" for i in range(6)},
        "cat_a": "categorical", "cat_b": "categorical", "small_int": "categorical", "flag": "categorical",
    }
    assert mon.schema_["small_int"] == "int64" and mon.reference_rows_ == 3000
    mon2 = Monitor(numerical=["small_int"], categorical=["f0"]).fit(ref)
    assert mon2.kinds_["small_int"] == "numerical" and mon2.kinds_["f0"] == "categorical"


def test_infer_kind_matches_evidently_rule():
    assert infer_kind(pd.Series(np.arange(11))) == "numerical"
    assert infer_kind(pd.Series(np.arange(10))) == "categorical"
    assert infer_kind(pd.Series([1.0, 2.0])) == "numerical"
    assert infer_kind(pd.Series(["a", "b", "a", "a"])) == "categorical"
    assert infer_kind(pd.Series(["a", "b", "c", "d"])) is None  # free text: Evidently's "text"
    assert infer_kind(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))) is None
    assert infer_kind(pd.Series([True, False])) == "categorical"


def test_text_and_datetime_columns_are_skipped_by_default():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=50), "id": [f"id{i}" for i in range(50)],
                        "when": pd.date_range("2024-01-01", periods=50)})
    mon = Monitor().fit(ref)
    assert list(mon.kinds_) == ["x"] and mon.skipped_columns_ == ["id", "when"]
    assert Monitor(columns=["x", "id"]).fit(ref).kinds_ == {"x": "numerical", "id": "categorical"}


def test_current_batch_never_changes_a_kind(frames):
    ref, cur, _ = frames
    cur = cur.copy()
    cur["small_int"] = cur["small_int"].astype(float)
    report = Monitor().fit(ref).check(cur)
    assert report.column("small_int").kind == "categorical"


# ----------------------------------------------------------------------------- unseen / missing
def test_unseen_categories_are_reported_not_raised(frames):
    ref, _, same = frames
    cur = same.copy()
    cur.loc[:79, "cat_a"] = "brand_new"
    report = Monitor().fit(ref).check(cur)
    col = report.column("cat_a")
    assert col.unseen_share == pytest.approx(0.1)
    assert report.warnings == ("cat_a: 10.0% of values are categories never seen in reference",)
    assert report.column("f0").unseen_share is None


def test_missing_share_and_rows(frames):
    ref, _, same = frames
    cur = same.copy()
    cur.loc[:199, "f2"] = np.nan
    cur.loc[:39, "cat_b"] = None
    report = Monitor().fit(ref).check(cur)
    assert report.column("f2").missing_share == pytest.approx(0.25)
    assert report.column("cat_b").missing_share == pytest.approx(0.05)
    assert report.column("f2").rows == 800 and report.current_rows == 800 and report.reference_rows == 3000


def test_fitted_monitor_does_not_alias_the_reference_frame(frames):
    ref, cur, _ = frames
    ref = ref.copy(deep=True)
    mon = Monitor().fit(ref)
    before = mon.check(cur)
    ref.loc[:, "f0"] = 100.0  # the caller reuses its frame
    assert mon.check(cur) == before


def test_check_does_not_mutate_the_callers_frames(frames):
    ref, cur, _ = frames
    ref_copy, cur_copy = ref.copy(deep=True), cur.copy(deep=True)
    Monitor(sample=100).fit(ref).check(cur)
    pd.testing.assert_frame_equal(ref, ref_copy)
    pd.testing.assert_frame_equal(cur, cur_copy)


# ----------------------------------------------------------------------------- data quality
def test_missing_and_unexpected_columns_are_listed_with_a_rename_hint(frames):
    ref, cur, _ = frames
    mon = Monitor().fit(ref)
    renamed = cur.rename(columns={"cat_a": "cat_aa"})
    with pytest.raises(SchemaError, match=r"missing columns \['cat_a'\] and unexpected columns \['cat_aa'\] "
                                          r"\(renamed\? 'cat_aa' -> 'cat_a'\)$"):
        mon.check(renamed)
    with pytest.raises(SchemaError, match=r"^current batch does not match the reference schema: missing columns \['f3'\]$"):
        mon.check(cur.drop(columns="f3"))
    # explicit columns=: other columns are ignored
    Monitor(columns=["f0", "f1"]).fit(ref).check(cur.assign(extra=1))


def test_numeric_column_arriving_as_text_is_a_schema_error(frames):
    ref, cur, _ = frames
    bad = cur.assign(f0=cur["f0"].map(lambda v: f"{v:.2f}%"))
    with pytest.raises(SchemaError, match=r"^column 'f0' in the current batch holds object values \(e\.g\. '.*%'\); expected numbers$"):
        Monitor().fit(ref).check(bad)


def test_infinite_and_empty_batches_are_data_quality_errors(frames):
    # a column missing on every row is a finding, not an error (tests/test_real_data.py)
    ref, cur, _ = frames
    mon = Monitor().fit(ref)
    with pytest.raises(DataQualityError, match=r"^column 'f5' in the current batch has 2 infinite values; expected finite numbers$"):
        mon.check(cur.assign(f5=np.r_[np.inf, -np.inf, cur["f5"].to_numpy()[2:]]))
    with pytest.raises(DataQualityError, match=r"^current batch is empty: expected at least one row$"):
        mon.check(cur.iloc[:0])
    with pytest.raises(InputError, match=r"^current batch must be a pandas DataFrame, got list$"):
        mon.check([1, 2])


# ----------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"drift_share": 2}, r"^The 'drift_share' parameter of Monitor must be a float in the range \[0, 1\]\. Got 2 instead\.$"),
        ({"threshold": -1.0}, r"^The 'threshold' parameter of Monitor must be a non-negative float"),
        ({"sample": 0}, r"^The 'sample' parameter of Monitor must be an int in the range \[1, inf\) or None\. Got 0 instead\.$"),
        ({"columns": "f0"}, r"^The 'columns' parameter of Monitor must be a list of column names or None\. Got 'f0' instead\.$"),
        ({"method": 3}, r"^The 'method' parameter of Monitor must be"),
        ({"categorical": ["f0"], "numerical": ["f0"]}, r"^column 'f0' is listed in both categorical= and numerical="),
    ],
)
def test_invalid_parameters_raise_one_line_config_errors_at_fit(frames, kwargs, match):
    mon = Monitor(**kwargs)  # the constructor only stores
    with pytest.raises(ConfigError, match=match):
        mon.fit(frames[0])


def test_unknown_method_gets_a_suggestion_and_the_list_for_its_kind(frames):
    with pytest.raises(ConfigError, match=r"^column 'f0': unknown drift method 'wasserstien' \(did you mean 'wasserstein'\?\); "
                                          r"methods for numerical columns: auto, ks, wasserstein, anderson"):
        Monitor(method={"f0": "wasserstien"}).fit(frames[0])


def test_method_that_does_not_fit_the_kind_is_refused(frames):
    with pytest.raises(ConfigError, match=r"^column 'cat_a': method 'ks' does not apply to categorical columns; "
                                          r"methods for categorical columns: auto, chisquare, z, fisher_exact, g_test, TVD, psi, "
                                          r"jensenshannon, kl_div, hellinger$"):
        Monitor(method="ks").fit(frames[0])


def test_unknown_columns_in_arguments(frames):
    with pytest.raises(SchemaError, match=r"^column 'cat_ax' of columns= is not in the reference \(did you mean 'cat_a'\?\)$"):
        Monitor(columns=["f0", "cat_ax"]).fit(frames[0])
    with pytest.raises(ConfigError, match=r"^column 'cat_aa' of method= is not in the reference \(did you mean 'cat_a'\?\)$"):
        Monitor(method={"cat_aa": "psi"}).fit(frames[0])


def test_unfitted_monitor_says_to_call_fit(frames):
    with pytest.raises(NotFittedError, match=r"^this Monitor is not fitted yet; call fit\(reference\) first$"):
        Monitor().check(frames[1])


def test_method_that_cannot_score_a_batch_is_a_data_quality_error(small_frames):
    ref, cur = small_frames
    with pytest.raises(DataQualityError, match=r"^column 'flag': method 'fisher_exact' cannot score this batch: "
                                               r"reference_data and current_data are not of equal length"):
        Monitor(columns=["flag"], method="fisher_exact").fit(ref).check(cur)


# ----------------------------------------------------------------------------- target / prediction
def test_regression_target_prediction_drift_and_performance():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=1500)})
    ref["y"] = 2 * ref["x"] + rng.normal(0, 0.1, 1500)
    ref["p"] = 2 * ref["x"]
    cur = pd.DataFrame({"x": rng.normal(1, 1, 400)})
    cur["y"] = 2 * cur["x"] + rng.normal(0, 0.1, 400)
    cur["p"] = 2 * cur["x"] + 0.5
    mon = Monitor().fit(ref, target="y", prediction="p")
    assert list(mon.kinds_) == ["x"]
    report = mon.check(cur, target="y", prediction="p")
    assert report.target.name == "y" and report.target.drifted and report.target.method == "wasserstein"
    assert report.prediction.name == "p" and report.prediction.drifted
    perf = report.performance
    assert perf["task"] == "regression" and perf["rows"] == 400
    err = cur["y"] - cur["p"]
    assert perf["metrics"]["mae"] == pytest.approx(err.abs().mean())
    assert perf["metrics"]["rmse"] == pytest.approx(float(np.sqrt((err**2).mean())))
    ss_tot = ((cur["y"] - cur["y"].mean()) ** 2).sum()
    assert perf["metrics"]["r2"] == pytest.approx(1 - (err**2).sum() / ss_tot)
    # arrays aligned with the frame work the same as column names
    report2 = Monitor().fit(ref[["x"]], target=ref["y"].to_numpy(), prediction=ref["p"]).check(
        cur[["x"]], target=cur["y"].to_numpy(), prediction=cur["p"].to_numpy()
    )
    assert report2.target.score == report.target.score and report2.performance["metrics"] == perf["metrics"]


def test_classification_with_labels_and_with_probabilities():
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=800), "y": rng.integers(0, 2, 800)})
    cur = pd.DataFrame({"x": rng.normal(size=200), "y": np.r_[np.ones(100, int), np.zeros(100, int)]})
    # positives: half 0.8, half 0.4; negatives: half 0.6, half 0.1
    proba = np.r_[np.full(50, 0.8), np.full(50, 0.4), np.full(50, 0.6), np.full(50, 0.1)]
    labels = (proba >= 0.5).astype(int)
    mon = Monitor().fit(ref, target="y")
    assert mon.check(cur, target="y").target.kind == "categorical"
    lab = mon.check(cur, target="y", prediction=labels).performance
    assert lab == {"task": "classification", "rows": 200,
                   "metrics": {"error_rate": 0.5, "accuracy": 0.5, "log_loss": None, "roc_auc": None}}
    pr = mon.check(cur, target="y", prediction=proba).performance["metrics"]
    assert pr["accuracy"] == 0.5
    assert pr["roc_auc"] == pytest.approx(0.75)  # 0.8 beats every negative, 0.4 beats half
    expected_ll = -(50 * np.log(0.8) + 50 * np.log(0.4) + 50 * np.log(0.4) + 50 * np.log(0.9)) / 200
    assert pr["log_loss"] == pytest.approx(expected_ll)
    one_class = mon.check(cur.iloc[:100], target="y", prediction=proba[:100]).performance["metrics"]
    assert one_class["roc_auc"] is None


def test_prediction_drift_without_reference_predictions_is_a_warning():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=300)})
    report = Monitor().fit(ref).check(ref.assign(p=1.0), prediction="p")
    assert report.prediction is None
    assert "prediction drift needs a reference prediction: pass prediction= to fit" in report.warnings


# ----------------------------------------------------------------------------- persistence, sampling, threads
def test_joblib_round_trip_gives_identical_scores(frames, tmp_path):
    ref, cur, _ = frames
    mon = Monitor(method={"cat_a": "hellinger", "f0": "psi"}).fit(ref)
    path = tmp_path / "monitor.joblib"
    joblib.dump(mon, path)
    again = joblib.load(path)
    assert again.check(cur) == mon.check(cur)


def test_sample_is_seeded_and_recorded(frames):
    ref, cur, _ = frames
    a = Monitor(sample=300, seed=1).fit(ref).check(cur)
    b = Monitor(sample=300, seed=1).fit(ref).check(cur)
    assert a == b and a.sample == {"rows": 300, "seed": 1} and a.current_rows == 300
    assert Monitor(sample=10_000).fit(ref).check(cur).sample is None


def test_threads_never_change_a_score(monkeypatch):
    import driftkeeper.monitor.monitor as mod

    rng = np.random.default_rng(9)
    ref = pd.DataFrame({f"c{i}": rng.normal(size=3000) for i in range(4)})
    cur = pd.DataFrame({f"c{i}": rng.normal(0.1 * i, 1, 2000) for i in range(4)})
    serial = Monitor(n_jobs=1).fit(ref).check(cur)
    monkeypatch.setattr(mod, "_PARALLEL_MIN_VALUES", 0)
    threaded = Monitor(n_jobs=2).fit(ref).check(cur)
    assert threaded == serial


def test_report_round_trips_through_its_dict(frames):
    ref, cur, _ = frames
    report = Monitor().fit(ref).check(cur)
    assert DriftReport.from_dict(report.to_dict()) == report
