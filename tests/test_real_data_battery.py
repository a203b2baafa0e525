"""The real-data battery: tables shaped like public data, through the CLI (init, several runs,
backtest). Each runs end to end, or is refused with one line naming the column and the fix
(exit 2) and the stored root unchanged.

One "kitchen-sink" table carries every column quirk at once — a high-cardinality categorical
whose later batches bring unseen codes, nullable ``Int64`` with gaps, booleans, a date as a
feature, constant columns, an ``object`` column mixing numbers and text, names with spaces and
unicode — and is written as a ``;``-separated CSV with decimal commas, a UTF-8 BOM and CRLF line
ends; nights have 20 rows. A classifier's stream has a batch of one class only.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import tree_snapshot
from typer.testing import CliRunner

from driftkeeper._util.io import read_table
from driftkeeper.cli import app

#: trains on small batches: a retrain every other night, an update between
EVERY_NIGHT = """
name: every-night
rules:
  - name: second-night
    when: batches_since_retrain >= 2
    action: retrain
fallback: update
update: {rounds: 5}
guards: {min_rows: 10}
gate: {enabled: true, holdout: {fraction: 0.25}}
"""
SHIPPED = "never,always-retrain,always-update,periodic"


def kitchen_sink(n: int, i: int) -> pd.DataFrame:
    r = np.random.default_rng(i)
    x = r.normal(size=n)
    df = pd.DataFrame({"row_id": np.arange(n) + 10_000 * i, "x": x})
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * i)
    df["date"] = (start + pd.to_timedelta(np.sort(r.uniform(0, 7, n)), unit="D")).strftime("%Y-%m-%d %H:%M")
    df["flight"] = r.choice([f"KL{z}" for z in range(1_000 + 50 * i, 1_300 + 50 * i)], n)  # new codes every batch
    rooms = pd.array(r.integers(1, 8, n), dtype="Int64")
    rooms[::5] = pd.NA
    df["rooms"] = rooms
    df["garage"] = r.uniform(size=n) < 0.4
    df["listed"] = (pd.Timestamp("2023-06-01") + pd.to_timedelta(r.uniform(0, 200, n), unit="D")).strftime("%Y-%m-%d")
    df["country"], df["version"] = "NL", 3
    floors = r.integers(0, 4, n).astype(object)
    floors[::7] = "unknown"
    df["floors"] = floors
    df["Pool QC"] = r.choice(["Ex", "Gd", None], n)
    df["größe m²"] = r.normal(80, 20, n)
    df["y"] = 2 * x + 0.5 * df["rooms"].fillna(3).astype(float) + r.normal(scale=0.3, size=n)
    return df


def write_european(df: pd.DataFrame, path) -> None:
    """``;`` between fields, decimal commas, a UTF-8 BOM and CRLF line ends."""
    text = df.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    d = tmp_path_factory.mktemp("sink")
    frames = [kitchen_sink(200 if i == 0 else 20, i) for i in range(4)]
    for i, f in enumerate(frames):
        write_european(f, d / f"b{i}.csv")
    write_european(pd.concat(frames, ignore_index=True), d / "all.csv")
    (d / "every-night.yaml").write_text(EVERY_NIGHT)
    return d, frames


def invoke(*args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)  # never a traceback
    return r.exit_code, r.output


def test_the_european_csv_reads_as_the_table_it_was_written_from(sink):
    d, frames = sink
    got = read_table(d / "b1.csv")
    assert list(got.columns) == list(frames[1].columns)  # no BOM in the first name, unicode names intact
    assert got["x"].tolist() == pytest.approx(frames[1]["x"].tolist())  # decimal commas are numbers
    assert got["größe m²"].dtype == np.float64 and got["rooms"].isna().sum() == 4
    assert got["floors"].tolist() == frames[1]["floors"].astype(str).tolist()  # mixed: read as text


@pytest.mark.parametrize("model, compare", [("lightgbm", ""), ("river", SHIPPED)])  # every shipped policy on the fast model
def test_every_quirk_at_once_runs_init_nights_and_a_backtest_of_every_shipped_policy(sink, tmp_path, model, compare):
    d, _ = sink
    root = tmp_path / "root"
    code, out = invoke("init", root, "--data", d / "b0.csv", "--target", "y", "--time-column", "date",
                       "--id-column", "row_id", "--model", model, "--policy", d / "every-night.yaml")
    assert code == 0, out
    actions = []
    for i in (1, 2, 3):
        code, out = invoke("run", root, "--batch", d / f"b{i}.csv", "--no-html", "--json")
        assert code in (0, 1), out
        record = json.loads(out)
        assert record["status"] == "completed" and (record["training"] or {}).get("skipped") is None
        actions.append((record["training"] or {}).get("action"))
        flight = next(c for c in record["drift"]["columns"] if c["name"] == "flight")
        assert flight["unseen_share"] > 0.1 and record["drift"]["quality_issues"] == 1  # the new flight codes only
        listed = next(c for c in record["drift"]["columns"] if c["name"] == "listed")
        assert listed["kind"] == "numerical" and listed["score"] is not None  # a date feature: days since 1970
    assert actions == ["warm_start" if model == "lightgbm" else "online_update", "retrain",
                       "warm_start" if model == "lightgbm" else "online_update"]
    code, out = invoke("backtest", d / "all.csv", "--target", "y", "--every", "20rows", "--initial", "200",
                       "--time-column", "date", "--id-column", "row_id", "--model", model, "--policy", d / "every-night.yaml",
                       "--compare", compare, "--json", tmp_path / "bt.json")
    assert code == 0, out
    result = json.loads((tmp_path / "bt.json").read_text())
    assert {p["name"]: p["error"] for p in result["policies"]} == dict.fromkeys(["every-night", *filter(None, compare.split(","))])
    assert result["batches"] == 3 and result["policies"][0]["retrains"] + result["policies"][0]["updates"] >= 2


def test_a_batch_of_one_class_runs_for_a_classifier(tmp_path):
    frames = []
    for i in range(4):
        f = kitchen_sink(200 if i == 0 else 40, i)[["row_id", "x", "date", "flight", "y"]]
        f["y"] = np.where(f["y"] > 1.5, "yes", "no")
        if i == 2:
            f["y"] = "no"
        frames.append(f)
        f.to_csv(tmp_path / f"b{i}.csv", index=False)
    (tmp_path / "every-night.yaml").write_text(EVERY_NIGHT)
    root = tmp_path / "root"
    code, out = invoke("init", root, "--data", tmp_path / "b0.csv", "--target", "y", "--time-column", "date",
                       "--id-column", "row_id", "--policy", tmp_path / "every-night.yaml")
    assert code == 0, out
    for i in (1, 2, 3):
        code, out = invoke("run", root, "--batch", tmp_path / f"b{i}.csv", "--no-html", "--json")
        assert code in (0, 1), out
        record = json.loads(out)
        assert record["status"] == "completed" and record["registered"] is not None
    pd.concat(frames, ignore_index=True).to_csv(tmp_path / "all.csv", index=False)
    code, out = invoke("backtest", tmp_path / "all.csv", "--target", "y", "--every", "40rows", "--initial", "200",
                       "--time-column", "date", "--policy", tmp_path / "every-night.yaml", "--compare", "",
                       "--json", tmp_path / "bt.json")
    assert code == 0, out
    assert json.loads((tmp_path / "bt.json").read_text())["policies"][0]["error"] is None


@pytest.fixture(scope="module")
def sink_root(sink, tmp_path_factory):
    d, _ = sink
    root = tmp_path_factory.mktemp("sink-root") / "root"
    code, out = invoke("init", root, "--data", d / "b0.csv", "--target", "y", "--time-column", "date",
                       "--id-column", "row_id", "--model", "river", "--policy", d / "every-night.yaml")
    assert code == 0, out
    return root


REFUSED = [
    ("decimal-comma", lambda f: f.assign(x=f["x"].map(lambda v: f"{v:.3f}".replace(".", ","))), ",",
     (r"^error: column 'x' in batch '.*' should be numeric but arrived as object \(e\.g\. '-?\d+,\d{3}', a decimal comma\); "
      r"write numbers with a decimal point, or separate the fields with ';'$")),
    ("text-in-numbers", lambda f: f.assign(**{"größe m²": ["unknown"] + f["größe m²"].iloc[1:].tolist()}), ";",
     (r"^error: column 'größe m²' in batch '.*' should be numeric but arrived as object \(e\.g\. 'unknown'\); "
      r"fix the values that are not numbers, or leave those cells empty \(missing\)$")),
    ("not-a-date", lambda f: f.assign(listed=["next week"] + f["listed"].iloc[1:].tolist()), ";",
     (r"^error: column 'listed' in batch '.*' held dates at init but 'next week' is not a date; "
      r"write dates as YYYY-MM-DD \(a time may follow\), or leave the cell empty \(missing\)$")),
    # a renamed column is a schema change: retrained under the default, refused under schema_change: refuse
    # (tests/test_schema_change.py)
]


@pytest.mark.parametrize("mutate, sep, message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_cannot_be_fixed_for_the_user_is_refused_in_one_line_and_nothing_changes(sink, sink_root, tmp_path, mutate, sep, message):
    _, frames = sink
    bad = mutate(frames[1].copy())
    path = tmp_path / "bad.csv"
    if sep == ";":
        write_european(bad, path)
    else:
        bad.to_csv(path, index=False)
    before = tree_snapshot(sink_root)
    code, out = invoke("run", sink_root, "--batch", path, "--no-html")
    assert code == 2 and out.count("\n") == 1, out
    assert re.match(message, out.strip()), out
    assert tree_snapshot(sink_root) == before


def test_a_scikit_learn_pipeline_that_imputes_and_encodes_runs_the_same_nights(sink, tmp_path):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from driftkeeper import Keeper

    d, _ = sink
    model = make_pipeline(make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), make_column_selector(dtype_include="number")),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_include=["category", "object"]))), SGDRegressor(random_state=0))
    keeper = Keeper.init(tmp_path / "root", model, d / "b0.csv", target="y", policy=d / "every-night.yaml",
                         time_column="date", id_column="row_id")
    trained = [keeper.step(d / f"b{i}.csv", html=False).training["action"] for i in (1, 2, 3)]
    assert trained == ["online_update", "retrain", "online_update"]


def test_a_date_feature_is_days_since_1970_not_a_category():
    from driftkeeper.table import TableSpec

    df = pd.DataFrame({"listed": ["2024-01-01", "2024-02-03 12:00", None], "when": pd.to_datetime(["1970-01-02"] * 3),
                       "code": ["1", "2", "3"], "y": [1.0, 2.0, 3.0]})
    spec = TableSpec.from_frame(df, target="y")
    assert (spec.kinds, spec.dates) == ({"listed": "numerical", "when": "numerical", "code": "categorical"}, ["listed", "when"])
    X = spec.features_frame(df)
    assert X["listed"].tolist()[:2] == [19723.0, 19756.5] and np.isnan(X["listed"].iloc[2]) and X["when"].tolist() == [1.0] * 3
    assert TableSpec.from_dict(spec.to_dict()) == spec
