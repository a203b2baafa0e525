"""``driftkeeper runs``: one line per night, newest first (plain when piped, a table on a terminal, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_dashboard_data import invoke, make_root, records
from typer.testing import CliRunner

import driftkeeper.cli._runs  # noqa: F401  (registers the command on the app)
from driftkeeper.cli import app


@pytest.fixture(scope="module")
def real_root(tmp_path_factory) -> Path:
    return make_root(tmp_path_factory.mktemp("runs") / "root", nights=3)


def test_plain_lines_newest_first_on_a_root_of_the_previous_release(v01):
    r = invoke("runs", v01)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "BATCH", "DECISION", "RULE", "RMSE", "SERVING", "EXIT", "DURATION"]
    assert [line.split()[:2] for line in lines[1:]] == [["2024-01-28", "22:24"], ["2024-01-21", "23:57"], ["2024-01-14", "22:57"]]
    assert lines[2].split()[2:] == ["batch", "(150", "rows)", "retrain", "(refused)", "data-grown", "1.23", "v0002", "0", "0.2", "s"]
    assert lines[1].split()[6:] == ["fallback", "1.273", "v0004", "0", "0.2", "s"]


def test_json_limit_and_since_on_a_real_root(real_root):
    recs = records(real_root)
    r = invoke("runs", real_root, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["run_id"] for row in rows] == [rec["run_id"] for rec in reversed(recs)]
    assert [row["metric"] for row in rows] == [rec["champion_metric"]["value"] for rec in reversed(recs)]
    assert [row["serving"] for row in rows] == [rec["serving"] for rec in reversed(recs)]
    assert [row["duration_s"] for row in rows] == [rec["timings"]["total_s"] for rec in reversed(recs)]
    r = invoke("runs", real_root, "--json", "--limit", "1")
    assert [row["run_id"] for row in json.loads(r.output)] == [recs[-1]["run_id"]]
    r = invoke("runs", real_root, "--json", "--since", rows[1]["time"])
    assert [row["run_id"] for row in json.loads(r.output)] == [rows[0]["run_id"], rows[1]["run_id"]]
    r = invoke("runs", real_root, "--since", "2100-01-01")
    assert r.exit_code == 0 and r.output.strip() == f"no runs under {str(real_root)!r} since 2100-01-01"


def test_a_table_on_a_terminal(v01):
    # rich draws its table when it writes to a terminal; FORCE_COLOR makes it believe it does
    r = CliRunner(env={"FORCE_COLOR": "1", "COLUMNS": "140"}).invoke(app, ["runs", str(v01)])
    assert r.exit_code == 0, r.output
    assert "┃" in r.output and "\x1b[" in r.output
    assert r.output.index("2024-01-28 22:24") < r.output.index("2024-01-14 22:57")


def test_records_with_few_keys_show_dashes(v01):
    run = v01 / "runs" / "20991231T000000000000Z-deadbeef"
    run.mkdir()
    (run / "record.json").write_text(json.dumps({"run_id": run.name, "status": "dry_run", "batch": {}}))
    r = invoke("runs", v01, "--limit", "1")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1].split() == ["2099-12-31", "00:00", "-", "none", "(dry", "run)", "-", "-", "-", "0", "dry_run", "-"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--limit", "0"], "--limit must be >= 1, got 0"),
        (["--since", "last week"], "--since 'last week' is not a date"),
    ],
)
def test_bad_options_exit_2_with_one_line(v01, args, message):
    r = invoke("runs", v01, *args)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_missing_or_foreign_roots_exit_2(tmp_path):
    r = invoke("runs", tmp_path / "nowhere")
    assert r.exit_code == 2 and "does not exist; create one with 'driftkeeper init'" in r.output
    r = invoke("runs", tmp_path)
    assert r.exit_code == 2 and "is not a driftkeeper root" in r.output


def test_a_broken_record_exits_2_naming_it(v01):
    bad = sorted((v01 / "runs").glob("*/record.json"))[1]
    bad.write_text("[1, 2")
    r = invoke("runs", v01)
    assert r.exit_code == 2 and str(bad) in r.output and "move it out of runs/" in r.output


@pytest.mark.parametrize("command", ["runs", "dashboard", "tune"])
def test_the_command_is_registered_on_the_driftkeeper_cli(command):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "driftkeeper", command, "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"Usage: driftkeeper {command}" in " ".join(p.stdout.split())
