"""`driftkeeper report`: in-process with CliRunner on real files, plus real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.monitor import DriftReport

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "driftkeeper"
KC_HOUSE = ROOT / "examples" / "data" / "kc_house_data.csv.gz"
SHIFTED = ["a", "c", "g"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Reference CSV, drifted current CSV.gz and parquet; the shift is in a, c and g."""
    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(32)

    def frame(n, shift):
        return pd.DataFrame({
            "a": rng.normal(1.0 if shift else 0.0, 1, n),
            "b": rng.normal(0, 1, n),
            "c": rng.normal(0, 2.0 if shift else 1.0, n),
            "d": rng.uniform(0, 1, n),
            "g": rng.choice(["u", "v", "w"], n, p=[0.1, 0.2, 0.7] if shift else [0.4, 0.4, 0.2]),
            "h": rng.choice(["u", "v"], n),
            "y": rng.normal(0, 1, n),
        })

    ref, cur, same = frame(1500, False), frame(500, True), frame(500, False)
    paths = {"ref": tmp / "ref.csv", "cur": tmp / "cur.csv.gz", "same": tmp / "same.parquet"}
    ref.to_csv(paths["ref"], index=False)
    cur.to_csv(paths["cur"], index=False, compression="gzip")
    same.to_parquet(paths["same"], index=False)
    paths["renamed"] = tmp / "renamed.csv"
    cur.rename(columns={"b": "bb"}).to_csv(paths["renamed"], index=False)
    paths["text"] = tmp / "text.csv"
    cur.assign(a=cur["a"].map(lambda v: f"{v:.1f}%")).to_csv(paths["text"], index=False)
    return paths


def run(*args):
    return CliRunner().invoke(app, ["report", *map(str, args)])


def test_report_prints_drifted_columns_first_and_a_summary(files, tmp_path):
    out = tmp_path / "r.json"
    res = run(files["ref"], files["cur"], "--target", "y", "--json", out)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    body = [ln for ln in lines if ln.startswith("│")]
    names = [ln.split("│")[1].strip() for ln in body]
    assert set(names[:3]) == set(SHIFTED) and names[-1] == "y (target)"
    assert "no dataset drift: 3 of 6 columns drifted (50.0%; threshold 50%)" not in res.output
    assert "DATASET DRIFT: 3 of 6 columns drifted (50.0%; threshold 50%); reference 1500 rows, current 500 rows" in res.output
    report = DriftReport.from_dict(json.loads(out.read_text()))
    assert sorted(report.drifted_columns) == SHIFTED
    assert report.target is not None and report.target.name == "y"
    assert [c.name for c in report.columns] == ["a", "b", "c", "d", "g", "h"]


def test_fail_on_drift_exits_1_and_no_drift_exits_0(files):
    assert run(files["ref"], files["cur"], "--target", "y", "--fail-on-drift").exit_code == 1
    assert run(files["ref"], files["cur"], "--target", "y", "--fail-on-drift", "--drift-share", "0.6").exit_code == 0
    assert run(files["ref"], files["cur"], "--target", "y").exit_code == 0  # drift without the flag: done
    res = run(files["ref"], files["same"], "--fail-on-drift", "--target", "y")
    assert res.exit_code == 0, res.output
    assert "no dataset drift: 0 of 6 columns drifted" in res.output


def test_columns_method_threshold_options(files, tmp_path):
    out = tmp_path / "r.json"
    res = run(files["ref"], files["cur"], "--columns", "a,b", "--columns", "g", "--method", "psi",
              "--method", "a=ks", "--threshold", "0.2", "--threshold", "g=0.3", "--json", out)
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    got = {c["name"]: (c["method"], c["threshold"]) for c in d["columns"]}
    assert got == {"a": ("ks", 0.2), "b": ("psi", 0.2), "g": ("psi", 0.3)}


def test_sample_and_seed_are_recorded(files, tmp_path):
    out = tmp_path / "r.json"
    res = run(files["ref"], files["cur"], "--sample", "200", "--seed", "3", "--json", out)
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["sample"] == {"rows": 200, "seed": 3} and d["current_rows"] == 200
    assert "checked a sample of 200 rows (seed 3)" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{ref}", "{missing}"], r"^error: current '.*nope\.csv' does not exist$"),
        (["{ref}", "{renamed}"], r"^error: current batch does not match the reference schema: missing columns \['b'\] "
                                 r"and unexpected columns \['bb'\] \(renamed\? 'bb' -> 'b'\)$"),
        (["{ref}", "{text}"], r"^error: column 'a' in the current batch holds object values \(e\.g\. '.*%'\); expected numbers$"),
        (["{ref}", "{cur}", "--method", "g=ks"], r"^error: column 'g': method 'ks' does not apply to categorical columns; "),
        (["{ref}", "{cur}", "--method", "wasserstien"], r"^error: column 'a': unknown drift method 'wasserstien' \(did you mean 'wasserstein'\?\)"),
        (["{ref}", "{cur}", "--threshold", "high"], r"^error: --threshold 'high' is not a number; expected a float such as 0\.1$"),
        (["{ref}", "{cur}", "--drift-share", "3"], r"^error: The 'drift_share' parameter of Monitor must be a float in the range \[0, 1\]\. Got 3\.0 instead\.$"),
        (["{ref}", "{cur}", "--target", "price"], r"^error: target column 'price' is not in the reference$"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, args, message):
    fmt = {k: str(v) for k, v in files.items()} | {"missing": str(files["ref"].parent / "nope.csv")}
    res = CliRunner().invoke(app, ["report", *[a.format(**fmt) for a in args]])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip() if hasattr(res, "stderr") and res.stderr else res.output.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output
    assert __import__("re").match(message, err), err


def test_html_page_written(files, tmp_path):
    page = tmp_path / "page.html"
    res = run(files["ref"], files["cur"], "--columns", "a,g", "--html", page)
    assert res.exit_code == 0, res.output
    assert page.stat().st_size > 10_000 and f"HTML report written to {page}" in res.output


@pytest.mark.slow
def test_subprocess_on_the_example_house_data(tmp_path):
    df = pd.read_csv(KC_HOUSE)
    df.iloc[:3000].to_csv(tmp_path / "ref.csv", index=False)
    df.iloc[-1000:].to_csv(tmp_path / "cur.csv", index=False)
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [str(EXE), "report", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--target", "price",
         "--columns", "sqft_living,grade,zipcode,bedrooms,waterfront", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(out.read_text())
    kinds = {c["name"]: (c["kind"], c["method"]) for c in d["columns"]}
    assert kinds["sqft_living"] == ("numerical", "wasserstein")
    assert kinds["bedrooms"] == ("categorical", "jensenshannon")  # 9 distinct ints: categorical, as Evidently
    assert kinds["zipcode"] == ("numerical", "wasserstein")  # 70 distinct ints: numerical, as Evidently
    assert kinds["waterfront"] == ("categorical", "jensenshannon")
    assert d["target"]["name"] == "price" and d["target"]["kind"] == "numerical"


@pytest.mark.slow
def test_subprocess_bad_input_exit_2_without_traceback(tmp_path):
    proc = subprocess.run([str(EXE), "report", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: reference {str(tmp_path / 'a.csv')!r} does not exist"


def test_importing_driftkeeper_and_the_cli_does_not_import_evidently():
    code = ("import driftkeeper, driftkeeper.cli, driftkeeper.monitor.monitor; import sys; "
            "assert 'evidently' not in sys.modules, 'evidently imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
