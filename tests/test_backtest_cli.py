"""`driftkeeper backtest` on real files: table, --json, --html, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from conftest import make_stream
from test_backtest import DAYS_POLICY
from typer.testing import CliRunner

from driftkeeper.cli import app


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "stream.csv"
    pd.concat(make_stream(5, rows=250, seed=4, change_at=3), ignore_index=True).to_csv(p, index=False)
    return p


def invoke(*args):
    return CliRunner().invoke(app, ["backtest", *map(str, args)])


def test_backtest_prints_a_table_and_writes_json_and_html(data_file, tmp_path):
    out_json, out_html = tmp_path / "bt.json", tmp_path / "bt.html"
    r = invoke(data_file, "--target", "y", "--time-column", "date", "--id-column", "row_id", "--every", "W",
               "--initial", "1000", "--policy", "default", "--compare", "never,default", "--json", out_json, "--html", out_html)
    assert r.exit_code == 0, r.output
    d = json.loads(out_json.read_text())
    assert d["dataset"] == "stream.csv" and d["metric"] == "rmse" and d["batches"] == 4
    assert [p["name"] for p in d["policies"]] == ["default", "never"]  # --policy first, deduplicated
    for p in d["policies"]:
        assert {"mean_error", "train_cpu_s", "monitor_cpu_s", "wall_s", "retrains", "updates", "rollbacks",
                "gate_refusals", "per_batch"} <= set(p)
        line = next(ln for ln in r.output.splitlines() if re.search(rf"\b{p['name']}\b", ln) and "│" in ln)
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[0] == p["name"]
        assert float(cells[1]) == pytest.approx(p["mean_error"], rel=1e-3)
        assert float(cells[2]) == pytest.approx(p["train_cpu_s"], abs=0.006)
        assert int(cells[5]) == p["retrains"] and int(cells[6]) == p["updates"]
    page = out_html.read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page


def test_png_output_and_rows_batches_without_time_column(data_file, tmp_path):
    df = pd.read_csv(data_file).drop(columns=["date"])
    p = tmp_path / "norows.csv"
    df.to_csv(p, index=False)
    png = tmp_path / "bt.png"
    r = invoke(p, "--target", "y", "--every", "250rows", "--initial", "1000", "--policy", "never", "--compare", "",
               "--exclude", "row_id", "--html", png, "--json", "-")
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert d["batches"] == 4 and d["policies"][0]["per_batch"][0]["time_min"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "price", "--every", "W", "--time-column", "date"], "--target 'price' is not a column"),
        (["--target", "y", "--every", "fortnightly", "--time-column", "date"], "--every must be"),
        (["--target", "y", "--every", "W"], "needs a time column"),
        (["--target", "y", "--every", "W", "--time-column", "date", "--policy", "nope"], "no policy named 'nope'"),
        (["--target", "y", "--every", "W", "--time-column", "date", "--compare", "defualt"], "no policy named 'defualt'"),
        (["--target", "y", "--every", "W", "--time-column", "when"], "time column 'when'"),
        (["--target", "y", "--every", "W", "--time-column", "date", "--html", "out.pdf"], "--html"),
        (["--target", "y", "--every", "W", "--time-column", "date", "--label-delay", "-1"],
         "--label-delay must be 0 or more batches; got -1"),
        (["--target", "y", "--every", "W", "--time-column", "date", "--label-delay", "later"],
         "--label-delay must be a number of batches (0, 4) or a time span"),
        (["--target", "y", "--every", "250rows", "--label-delay", "90D"],
         "--label-delay '90D' is a time span, but there is no time column"),
    ],
)
def test_bad_input_exits_2_with_one_line(data_file, args, message):
    r = invoke(data_file, *args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.output


def test_also_metric_adds_a_column_and_json_keys(data_file, tmp_path):
    out_json = tmp_path / "bt.json"
    r = invoke(data_file, "--target", "y", "--time-column", "date", "--id-column", "row_id", "--every", "W",
               "--initial", "1000", "--policy", "never", "--compare", "", "--metric", "mae", "--also-metric", "rmse",
               "--also-metric", "r2", "--json", out_json)
    assert r.exit_code == 0, r.output
    d = json.loads(out_json.read_text())
    assert d["metric"] == "mae" and d["other_metrics"] == ["rmse", "r2"]
    p = d["policies"][0]
    assert "mean rmse" in r.output and "1 - r2" in r.output
    line = next(ln for ln in r.output.splitlines() if re.search(r"\bnever\b", ln) and "│" in ln)
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    assert float(cells[2]) == pytest.approx(p["other_errors"]["rmse"], rel=1e-3) and p["other_errors"]["rmse"] > p["mean_error"]
    bad = invoke(data_file, "--target", "y", "--time-column", "date", "--every", "W", "--also-metric", "log_loss")
    assert bad.exit_code == 2 and "metric 'log_loss' is for classification" in bad.output


@pytest.fixture(scope="module")
def rows_file(data_file, tmp_path_factory):
    p = tmp_path_factory.mktemp("rows") / "norows.csv"
    pd.read_csv(data_file).drop(columns=["date"]).to_csv(p, index=False)
    return p


def test_a_failing_policy_is_reported_and_the_command_exits_0(rows_file, tmp_path):
    days = tmp_path / "days.yaml"
    days.write_text(DAYS_POLICY)
    out_json = tmp_path / "bt.json"
    r = invoke(rows_file, "--target", "y", "--every", "250rows", "--initial", "1000", "--id-column", "row_id",
               "--policy", "never", "--compare", f"periodic,{days}", "--json", out_json, "--html", tmp_path / "bt.png")
    assert r.exit_code == 0, r.output
    message = "batch 1 of 4: the policy's retrain window is in days, but this root has no time column; use {rows: N}"
    assert f"days-window failed: {message}" in r.output
    row = next(ln for ln in r.output.splitlines() if "days-window" in ln and "│" in ln)
    assert [c.strip() for c in row.strip("│ ").split("│")][:3] == ["days-window", "failed", "-"]
    d = json.loads(out_json.read_text())
    assert [(p["name"], p["error"]) for p in d["policies"]] == [("never", None), ("periodic", None), ("days-window", message)]
    # on stdout the JSON stays parseable; the failure goes to stderr
    r = invoke(rows_file, "--target", "y", "--every", "250rows", "--initial", "1000", "--id-column", "row_id",
               "--policy", "never", "--compare", str(days), "--json", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["policies"][1]["error"] == message
    assert r.stderr == f"warning: policy 'days-window' failed: {message}\n"


def test_the_command_exits_2_when_every_policy_fails(rows_file, tmp_path):
    days = tmp_path / "days.yaml"
    days.write_text(DAYS_POLICY)
    r = invoke(rows_file, "--target", "y", "--every", "250rows", "--initial", "1000", "--policy", days, "--compare", "")
    assert r.exit_code == 2
    assert r.output == "error: the policy's retrain window is in days, but this root has no time column; use {rows: N}\n"


def test_label_delay_delivers_labels_batches_later(data_file, tmp_path):
    out_json = tmp_path / "bt.json"
    r = invoke(data_file, "--target", "y", "--time-column", "date", "--id-column", "row_id", "--every", "W",
               "--initial", "1000", "--policy", "never", "--compare", "", "--label-delay", "1", "--json", out_json)
    assert r.exit_code == 0, r.output
    d = json.loads(out_json.read_text())
    assert d["label_delay"] == 1 and d["labels_never_delivered"] == 1
    assert [b["labels_of"] for b in d["policies"][0]["per_batch"]] == [[], [1], [2], [3]]
    assert "labels 1 batch late" in r.output and "never delivered" in r.output
    # a span over the time column: weekly batches, 8 days is two batches here
    r = invoke(data_file, "--target", "y", "--time-column", "date", "--every", "W", "--initial", "1000",
               "--policy", "never", "--compare", "", "--label-delay", "8D", "--json", "-")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert d["label_delay"] == "8D" and [b["labels_of"] for b in d["policies"][0]["per_batch"]] == [[], [], [1], [2]]
