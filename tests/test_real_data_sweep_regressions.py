"""What the real-data sweep (``benchmarks/real_data_sweep.py``) found, on small generated tables:
``driftkeeper backtest`` with default options on data as it comes.

* dates written day first (``3/09/2016``, as Melbourne's house sales) are read day first, not
  month first where the day allows it;
* rows whose target never came (a house passed in without a price) are left out and counted,
  not a reason to refuse the history;
* a 0/1 target with gaps (read as floats) is still a classification;
* ``--model river`` builds the same two-class model for a backtest as for ``init``;
* the default River regression learns prices (a target in the hundreds of thousands) and lot
  sizes with far outliers instead of diverging.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.exceptions import SchemaError
from driftkeeper.table import TableSpec, infer_task


def invoke(*args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)  # never a traceback
    return r.exit_code, r.output


def daily_sales(seed: int = 0) -> pd.DataFrame:
    """One sale a day through the first half of 2016, dates written d/mm/yyyy, rows sorted by
    suburb (not by date)."""
    r = np.random.default_rng(seed)
    days = pd.date_range("2016-01-01", "2016-06-30", freq="D")
    df = pd.DataFrame({"Date": [f"{d.day}/{d.month:02d}/{d.year}" for d in days],
                       "Suburb": r.choice(["Abbotsford", "Brunswick", "Carlton"], len(days)),
                       "Rooms": r.integers(1, 6, len(days))})
    df["Price"] = 200_000 * df["Rooms"] + r.normal(0, 50_000, len(days))
    return df.sort_values("Suburb", kind="stable").reset_index(drop=True)


def test_day_first_dates_are_read_day_first_in_every_batch():
    spec = TableSpec.from_frame(daily_sales(), target="Price", time_column="Date")
    assert spec.day_first is True and TableSpec.from_dict(spec.to_dict()) == spec
    # a batch of days 1-12 alone cannot tell the order: the initial data's order holds
    got = spec.times(pd.DataFrame({"Date": ["3/02/2016", "12/02/2016"]}))
    assert got.dt.strftime("%Y-%m-%d").tolist() == ["2016-02-03", "2016-02-12"]
    with pytest.raises(SchemaError, match=r"^time column 'Date' in batch puts the month first, but the initial data put "
                                          r"the day first; write dates as YYYY-MM-DD$"):
        spec.times(pd.DataFrame({"Date": ["2/13/2016"]}))
    with pytest.raises(SchemaError, match=r"mixes day-first \('13/02/2016'\) and month-first \('2/13/2016'\) dates"):
        TableSpec.from_frame(pd.DataFrame({"Date": ["13/02/2016", "2/13/2016"], "x": [1, 2], "y": [1.0, 2.0]}),
                             target="y", time_column="Date")


def test_iso_and_undecided_dates_parse_as_before():
    spec = TableSpec.from_frame(pd.DataFrame({"t": ["2016-02-03", "2016-12-01"], "x": [1, 2], "y": [1.0, 2.0]}),
                                target="y", time_column="t")
    assert spec.day_first is None
    assert spec.times(pd.DataFrame({"t": ["2016-02-03"]})).dt.strftime("%Y-%m-%d").tolist() == ["2016-02-03"]
    assert TableSpec.from_dict({k: v for k, v in spec.to_dict().items() if k != "day_first"}) == spec  # older keeper.json


def test_a_backtest_batches_day_first_dates_by_their_true_month(tmp_path):
    sales = daily_sales()
    path = tmp_path / "sales.csv"
    sales.to_csv(path, index=False)
    code, out = invoke("backtest", path, "--target", "Price", "--time-column", "Date", "--every", "M",
                       "--policy", "never", "--compare", "", "--json", tmp_path / "bt.json")
    assert code == 0, out
    batches = json.loads((tmp_path / "bt.json").read_text())["policies"][0]["per_batch"]
    # the first 20 % (36 days) train version 1, to the end of February; then one batch a month
    assert [(b["time_min"][:10], b["time_max"][:10], b["rows"]) for b in batches] == [
        ("2016-03-01", "2016-03-31", 31), ("2016-04-01", "2016-04-30", 30),
        ("2016-05-01", "2016-05-31", 31), ("2016-06-01", "2016-06-30", 30)]


def test_rows_without_a_target_are_left_out_and_counted(tmp_path):
    sales = daily_sales()
    sales.loc[sales.index % 5 == 0, "Price"] = np.nan  # passed in, withdrawn: no price
    path = tmp_path / "sales.csv"
    sales.to_csv(path, index=False)
    code, out = invoke("backtest", path, "--target", "Price", "--time-column", "Date", "--every", "M",
                       "--compare", "never", "--json", tmp_path / "bt.json")
    assert code == 0, out
    result = json.loads((tmp_path / "bt.json").read_text())
    n_missing = int(sales["Price"].isna().sum())
    assert result["unlabelled_rows"] == n_missing == 37
    labelled = result["initial_rows"] + sum(b["rows"] for b in result["policies"][0]["per_batch"])
    assert labelled == len(sales) - n_missing
    assert all(p["error"] is None for p in result["policies"])
    code, out = invoke("backtest", path, "--target", "Price", "--time-column", "Date", "--every", "M", "--compare", "")
    assert code == 0 and f"{n_missing} row(s) without a target were left out" in out, out


def test_a_target_missing_everywhere_is_refused_in_one_line(tmp_path):
    sales = daily_sales().assign(Price=np.nan)
    sales.to_csv(tmp_path / "sales.csv", index=False)
    code, out = invoke("backtest", tmp_path / "sales.csv", "--target", "Price", "--time-column", "Date", "--every", "M")
    assert code == 2 and out.strip() == ("error: target 'Price' is missing on every row of the data; "
                                         "a backtest needs labelled rows"), out


def test_a_binary_target_with_gaps_is_a_classification():
    assert infer_task(pd.Series([0.0, 1.0, np.nan, 1.0])) == "classification"
    assert infer_task(pd.Series([0.0, 1.0, 1.0])) == "regression"  # floats without gaps: as before
    assert infer_task(pd.Series([0.5, 1.0, np.nan])) == "regression"
    assert infer_task(pd.Series([0.0, 1.0, 2.0, np.nan])) == "regression"


def test_backtest_builds_the_two_class_river_model_init_builds(tmp_path, monkeypatch):
    import driftkeeper.cli._backtest as backtest_cli

    built = []
    real = backtest_cli.build_model

    def spy(spec, task, n_classes=None):
        built.append((spec, task, n_classes))
        return real(spec, task, n_classes)

    monkeypatch.setattr(backtest_cli, "build_model", spy)
    r = np.random.default_rng(1)
    df = pd.DataFrame({"x": r.normal(size=600)})
    df["y"] = np.where(df["x"] + r.normal(scale=0.5, size=600) > 0, "up", "down")
    df.to_csv(tmp_path / "d.csv", index=False)
    code, out = invoke("backtest", tmp_path / "d.csv", "--target", "y", "--every", "120rows", "--model", "river",
                       "--policy", "never", "--compare", "")
    assert code == 0, out
    assert built == [("river", "classification", 2)]


def test_the_default_river_regression_learns_a_price_scale_target_with_far_outliers():
    """House prices (hundreds of thousands) and lot sizes with a long tail: plain SGD on the raw
    target diverged on King County and Bike Sharing (RMSE 1e10 under every policy)."""
    from driftkeeper.adapters import RiverAdapter
    from driftkeeper.adapters.river_prep import default_river_model

    r = np.random.default_rng(0)
    n = 2_000
    X = pd.DataFrame({"area": r.normal(150, 40, n), "lot": r.lognormal(8, 3.0, n), "lot2": r.lognormal(8, 3.0, n),
                      "zip": r.choice([f"9{z:04d}" for z in range(60)], n)})
    y = (2_000 * X["area"] + r.normal(0, 50_000, n) + 300_000).to_numpy()
    adapter = RiverAdapter(default_river_model("regression")).fit(X.iloc[:1_000], y[:1_000])
    rmse = float(np.sqrt(np.mean((adapter.predict(X.iloc[1_000:]) - y[1_000:]) ** 2)))
    assert rmse < 0.7 * y[1_000:].std()  # the noise is 0.53 of it; the unscaled model's error was 6.5x it


def test_scaled_target_keeps_the_same_running_scale_one_row_or_many_and_clones_empty():
    from river import linear_model

    from driftkeeper.adapters.river_prep import ScaledTarget

    y = pd.Series([3.0, 5.0, 10.0, 2.0])
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    one, many = ScaledTarget(linear_model.LinearRegression()), ScaledTarget(linear_model.LinearRegression())
    for (_, row), v in zip(X.iterrows(), y):
        one.learn_one(row.to_dict(), v)
    many.learn_many(X.iloc[:2], y.iloc[:2])
    many.learn_many(X.iloc[2:], y.iloc[2:])
    assert (one.count, one.mean, one._std()) == (many.count, many.mean, pytest.approx(many._std()))
    assert (one.mean, one._std()) == (5.0, pytest.approx(float(y.std(ddof=0))))
    assert isinstance(one.predict_one({"x": 2.0}), float) and len(many.predict_many(X)) == 4
    assert one.clone().count == 0
