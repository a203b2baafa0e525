"""`driftkeeper init` / `driftkeeper run` through the CLI, in-process and as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import make_stream, tree_snapshot
from typer.testing import CliRunner

from driftkeeper.cli import app

DK = [sys.executable, "-m", "driftkeeper"]

POLICY = """
name: cli-test
metric: rmse
rules:
  - name: perf
    when: performance_drop >= 0.5
    action: retrain
fallback: none
guards: {min_rows: 50}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 0.05}
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    batches = make_stream(4, seed=21, change_at=2)
    paths = []
    for i, b in enumerate(batches):
        p = tmp_path / f"b{i}.csv"
        b.to_csv(p, index=False)
        paths.append(p)
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    return paths, pol


def init_root(tmp_path, files, model="lightgbm"):
    paths, pol = files
    root = tmp_path / "root"
    r = invoke("init", root, "--data", paths[0], "--target", "y", "--model", model, "--policy", pol,
               "--time-column", "date", "--id-column", "row_id")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"initialised {root}: v0001 trained on 960 rows, holdout rmse ")
    return root


def test_init_then_runs_with_decisions_and_exit_codes(tmp_path, files):
    paths, _ = files
    root = init_root(tmp_path, files)
    r = invoke("run", root, "--batch", paths[1], "--no-html")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "none — no rule fired (fallback)"
    assert "serving v0001" in r.output
    r = invoke("run", root, "--batch", paths[2], "--no-html", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)
    assert rec["decision"]["action"] == "retrain" and rec["decision"]["rule"] == "perf"
    assert rec["promoted"] == 2 and rec["serving"] == 2 and rec["exit_code"] == 0
    assert (root / "runs" / rec["run_id"] / "record.json").exists()
    # the same batch again: nothing to do, exit 0
    r = invoke("run", root, "--batch", paths[2], "--no-html")
    assert r.exit_code == 0 and "was already processed" in r.output
    # history shows both versions, champion on v2
    h = json.loads(invoke("history", root, "--json").output)
    assert [v["version"] for v in h] == [2, 1]


def test_dry_run_prints_decision_and_changes_nothing(tmp_path, files):
    paths, _ = files
    root = init_root(tmp_path, files)
    invoke("run", root, "--batch", paths[1], "--no-html")
    before = tree_snapshot(root)
    r = invoke("run", root, "--batch", paths[2], "--dry-run")
    assert r.exit_code == 0
    assert r.output.startswith("retrain (window: all data) — rule 'perf' fired: performance_drop ")
    assert "dry run: nothing was changed" in r.output
    assert tree_snapshot(root) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "xgboost"], r"unknown model kind 'xgboost'"),
        (["--model", "sklearn:nowhere.Model"], r"cannot import nowhere.Model"),
        (["--policy", "defualt"], r"defualt"),
        (["--target", "price"], r"--target 'price' is not a column"),
    ],
)
def test_init_bad_options_exit_2_one_line(tmp_path, files, args, message):
    import re

    paths, pol = files
    base = {"--model": "lightgbm", "--policy": str(pol), "--target": "y"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    r = CliRunner().invoke(app, ["init", str(tmp_path / "root"), "--data", str(paths[0]), *flat])
    assert r.exit_code == 2, r.output
    assert re.search(message, r.output), r.output
    assert "Traceback" not in r.output


def test_run_bad_batch_exit_2_root_unchanged(tmp_path, files):
    paths, _ = files
    root = init_root(tmp_path, files)
    bad = tmp_path / "bad.csv"
    bad.write_text("row_id,x1\n1,2\n")
    before = tree_snapshot(root)
    r = invoke("run", root, "--batch", bad)
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0  # one line
    assert "missing column(s) ['x2', 'x3', 'x4', 'cat', 'date']" in r.output
    assert tree_snapshot(root) == before
    r = invoke("run", tmp_path / "nowhere", "--batch", bad)
    assert r.exit_code == 2 and "does not exist; create it with 'driftkeeper init'" in r.output


def test_real_processes_init_run_and_help_is_fast(tmp_path, files):
    paths, pol = files
    root = tmp_path / "root"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([*DK, "init", str(root), "--data", str(paths[0]), "--target", "y", "--policy", str(pol),
                        "--time-column", "date", "--id-column", "row_id"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([*DK, "run", str(root), "--batch", str(paths[1]), "--no-html"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "serving v0001" in p.stdout
    assert p.stderr == ""  # no progress output without a terminal (cron)
    p = subprocess.run([*DK, "run", str(root), "--batch", str(tmp_path / "missing.csv")], capture_output=True, text=True, env=env)
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: batch {str(tmp_path / 'missing.csv')!r} does not exist"
    p = subprocess.run([*DK, "--help"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "Exit codes" in p.stdout
