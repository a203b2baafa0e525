"""Real data does not stop the night: what only a person can fix is refused, what the model can
live with is reported (a mostly-missing column, a stream without a time column)."""

from __future__ import annotations

import json
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream
from typer.testing import CliRunner

import driftkeeper
from driftkeeper import DriftReport, Keeper, Monitor
from driftkeeper.cli import app
from driftkeeper.exceptions import DataQualityError, SchemaError
from driftkeeper.table import TableSpec


def test_version_prints_the_installed_version_and_exits_0():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output == f"driftkeeper {driftkeeper.__version__}\n"


def test_version_imports_no_heavy_library():
    code = ("import sys\nfrom driftkeeper.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('evidently', 'lightgbm', 'river', 'sklearn') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.splitlines() == [f"driftkeeper {driftkeeper.__version__}", "[]"]


# ----------------------------------------------------------------------------- mostly-missing columns
def with_alley(batches, *, present: float = 0.1, seed: int = 0):
    """Every batch gets ``Alley`` (categorical) and ``Lot`` (numerical), present on ~``present`` of rows."""
    rng = np.random.default_rng(seed)
    for d in batches:
        keep = rng.uniform(size=len(d)) < present
        d["Alley"] = np.where(keep, rng.choice(["Grvl", "Pave"], size=len(d)), None)
        d["Lot"] = np.where(keep, rng.normal(size=len(d)), np.nan)
    return batches


def frames():
    ref, cur = with_alley(make_stream(2, rows=400, seed=3))
    ref, cur = ref.drop(columns=["row_id", "date", "y"]), cur.drop(columns=["row_id", "date", "y"])
    cur["x1"] += 1.0
    return ref, cur.assign(Alley=None, Lot=np.nan)


def test_a_column_missing_on_every_row_of_the_batch_is_a_finding_and_the_others_are_scored():
    ref, cur = frames()
    report = Monitor().fit(ref).check(cur)
    # the other columns score exactly as they would without the missing ones
    others = Monitor().fit(ref.drop(columns=["Alley", "Lot"])).check(cur.drop(columns=["Alley", "Lot"]))
    assert [c for c in report.columns if c.name not in ("Alley", "Lot")] == list(others.columns)
    assert report.drifted_columns == ["x1"] and report.n_columns == 7
    assert report.drift_share == 1 / 5  # over the five columns with a score
    for name, kind, method in (("Alley", "categorical", "z"), ("Lot", "numerical", "ks")):
        c = report.column(name)
        assert (c.kind, c.method, c.score, c.drifted, c.rows, c.missing_share) == (kind, method, None, False, 400, 1.0)
    assert report.warnings == (
        "Alley: entirely missing in the current batch (400 rows; 89.8% missing in the reference); drift not computed",
        "Lot: entirely missing in the current batch (400 rows; 89.8% missing in the reference); drift not computed",
    )
    assert DriftReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False))) == report


def test_a_column_missing_on_every_row_of_the_reference_is_reported_on_every_check():
    ref, cur = frames()
    mon = Monitor().fit(ref.assign(Lot=np.nan))
    report = mon.check(frames()[0])
    assert report.column("Lot").score is None and report.column("x1").score is not None
    assert report.warnings == ("Lot: entirely missing in the reference, 10.3% present in the current batch; drift not computed",)
    assert mon.check(cur).warnings[-1] == "Lot: entirely missing in the reference and in the current batch; drift not computed"


def test_the_evidently_page_leaves_out_the_columns_without_a_score():
    ref, cur = frames()
    mon = Monitor().fit(ref)
    _, cols = mon.evidently_report(cur)
    report = mon.check(cur)
    assert sorted(cols) == sorted(c.name for c in report.columns if c.score is not None)
    assert cols["x1"].score == pytest.approx(report.column("x1").score, rel=1e-9)


def test_a_spec_passes_a_column_missing_on_every_row_and_types_it_as_at_init():
    ref, _ = frames()
    data = ref.assign(y=1.0)
    spec = TableSpec.from_frame(data, target="y")
    assert (spec.kinds["Alley"], spec.kinds["Lot"]) == ("categorical", "numerical")
    batch = data.assign(Alley=None, Lot=None)  # None in object columns, as a JSON feed delivers it
    assert spec.validate(batch) is True
    X = spec.features_frame(batch)
    assert X["Lot"].dtype == np.float64 and X["Lot"].isna().all()
    assert list(X["Alley"].cat.categories) == ["Grvl", "Pave"] and X["Alley"].isna().all()
    with pytest.raises(SchemaError, match=r"^column 'Lot' in batch should be numeric but arrived as object \(e\.g\. 'n/a'\); "
                       r"fix the values that are not numbers, or leave those cells empty \(missing\)$"):
        spec.validate(batch.assign(Lot=["n/a"] + [None] * (len(batch) - 1)))


def small_lgbm():
    return lgb.LGBMRegressor(n_estimators=10, num_leaves=7, learning_rate=0.2, random_state=0, deterministic=True,
                             verbose=-1, n_jobs=1)


def test_lightgbm_keeper_runs_nights_where_a_mostly_missing_column_is_entirely_missing(tmp_path):
    batches = with_alley(make_stream(4, rows=200, seed=5))
    batches[1] = batches[1].assign(Alley=None, Lot=np.nan)
    keeper = Keeper.init(tmp_path / "root", small_lgbm(), batches[0], target="y", policy="always-retrain",
                         time_column="date", id_column="row_id")
    first = keeper.step(batches[1], html=False)
    assert first.status == "completed" and first.promoted == 2
    assert first.warnings[:2] == [
        "Alley: entirely missing in the current batch (200 rows; 91.1% missing in the reference); drift not computed",
        "Lot: entirely missing in the current batch (200 rows; 91.1% missing in the reference); drift not computed",
    ]
    cols = {c["name"]: c["score"] for c in first.drift["columns"]}
    assert cols["Alley"] is None and cols["Lot"] is None
    assert all(cols[f"x{i}"] is not None for i in range(1, 5)) and cols["cat"] is not None
    second = keeper.step(batches[2], html=False)  # the column is back: scored again
    assert second.status == "completed" and not [w for w in second.warnings if "not computed" in w]


def test_lightgbm_keeper_starts_on_data_where_a_column_was_never_filled(tmp_path):
    batches = with_alley(make_stream(3, rows=200, seed=6))
    batches[0] = batches[0].assign(Alley=None, Lot=np.nan)
    keeper = Keeper.init(tmp_path / "root", small_lgbm(), batches[0], target="y", time_column="date", id_column="row_id")
    record = keeper.step(batches[1], html=False)
    assert record.status == "completed"
    assert "Lot: entirely missing in the reference, 14.0% present in the current batch; drift not computed" in record.warnings


def test_a_river_model_that_cannot_take_missing_values_is_refused_at_init_with_the_fix(tmp_path):
    from river import compose, linear_model, preprocessing

    data = make_stream(1, rows=240, seed=7)[0]
    data.loc[data.index[::20], "x2"] = np.nan
    model = compose.Select("x1", "x2", "x3", "x4") | preprocessing.StandardScaler() | linear_model.LinearRegression()
    with pytest.raises(DataQualityError, match=(
        r"^prediction 'prediction' is missing on all 768 reference rows: a model that cannot take missing values "
        r"predicts NaN, and the data has them in 'x2' \(5\.1%\); impute them in a pipeline, "
        r"e\.g\. sklearn's SimpleImputer / driftkeeper\.adapters\.river_prep\.TabularPrep$")):
        Keeper.init(tmp_path / "root", model, data, target="y", time_column="date", id_column="row_id")
    assert not (tmp_path / "root").exists()


def test_predictions_missing_without_missing_features_say_so():
    ref = pd.DataFrame({"x": np.arange(10.0), "p": np.nan})
    with pytest.raises(DataQualityError, match=r"^prediction 'p' is missing on all 10 reference rows: the model predicted NaN on every row; expected its predictions$"):
        Monitor().fit(ref, prediction="p")
    with pytest.raises(DataQualityError, match=r"^target 'p' is missing on all 10 reference rows; expected a target value on at least one row$"):
        Monitor().fit(ref, target="p")


def test_a_sklearn_model_without_an_imputer_is_told_to_impute_at_init_and_at_night(tmp_path):
    from sklearn.linear_model import SGDRegressor

    from driftkeeper import Keeper
    from driftkeeper.exceptions import DataQualityError

    batches = [b.drop(columns=["cat"]) for b in make_stream(2, seed=4)]
    gappy = batches[0].copy()
    gappy.loc[::20, "x2"] = np.nan
    with pytest.raises(DataQualityError, match=r"^SGDRegressor cannot fit on missing values: .*'x2' \(5\.0%\); impute them in a pipeline"):
        Keeper.init(tmp_path / "a", SGDRegressor(random_state=0), gappy, target="y", time_column="date", id_column="row_id")
    keeper = Keeper.init(tmp_path / "b", SGDRegressor(random_state=0), batches[0], target="y", time_column="date", id_column="row_id")
    night = batches[1].copy()
    night.loc[::10, "x3"] = np.nan
    with pytest.raises(DataQualityError, match=r"^SGDRegressor cannot predict on missing values: .*'x3' \(10\.0%\)"):
        keeper.step(night, html=False)


def test_a_river_model_predicting_nan_stops_the_night_with_the_fix_and_changes_nothing(tmp_path):
    from conftest import tree_snapshot
    from river import linear_model, preprocessing

    from driftkeeper import Keeper
    from driftkeeper.exceptions import DataQualityError

    batches = [b.drop(columns=["cat"]) for b in make_stream(2, seed=6)]
    model = preprocessing.StandardScaler() | linear_model.LinearRegression()
    keeper = Keeper.init(tmp_path / "r", model, batches[0], target="y", time_column="date", id_column="row_id")
    before = tree_snapshot(keeper.root)
    night = batches[1].copy()
    night.loc[::4, "x1"] = np.nan
    with pytest.raises(DataQualityError, match=r"^the serving model predicted NaN on \d+ of 300 rows: .*'x1' \(25\.0%\); impute"):
        keeper.step(night, html=False)
    assert tree_snapshot(keeper.root) == before
