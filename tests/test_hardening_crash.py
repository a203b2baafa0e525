"""A nightly run killed with SIGKILL at every dangerous moment loses and corrupts nothing.

Each test starts `driftkeeper run` as a real process that pauses at a named checkpoint
(`driftkeeper._util.testhooks`), waits until the process says it got there (no sleeps that guess),
kills it with SIGKILL, then checks: `verify` reports only removable leftovers and `gc` clears
them, every earlier version loads with its recorded sha256, the champion moved only if the
killed run had committed the promotion, and the next run succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import lightgbm as lgb
import pytest
from conftest import make_stream
from typer.testing import CliRunner

from driftkeeper import Keeper, Registry
from driftkeeper.cli import app

pytestmark = pytest.mark.slow

POLICY = """
name: crash-test
metric: rmse
rules:
  - name: perf
    when: performance_drop >= 0.5
    action: retrain
fallback: none
guards: {min_rows: 50}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 0.05}
"""

# (checkpoint, does the champion move?)
KILL_POINTS = [
    ("store:before-rename", False),  # during the data-store write
    ("runner:training", False),  # during training
    ("registry:artifact-temp-written", False),  # during the artifact write
    ("registry:before-commit", False),  # during the catalog commit
    ("registry:after-commit", False),  # version committed, not promoted
    ("registry:promote-before-commit", False),
    ("registry:promote-after-commit", True),  # promotion committed, run record not yet
    ("runner:before-state", True),  # everything but the runner's own state
]


def wait_for(path, name, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and name in path.read_text().split():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended (exit {proc.returncode}) before {name}: {err}")
        time.sleep(0.02)
    raise AssertionError(f"checkpoint {name} not reached in {timeout} s")


def run_killed_at(root, batch, point, tmp_path):
    """``driftkeeper run ROOT --batch BATCH`` in a real process, SIGKILLed once it reaches the
    checkpoint ``point`` (``DRIFTKEEPER_PAUSE_AT`` holds it there)."""
    hook = tmp_path / "hook.txt"
    env = {**os.environ, "DRIFTKEEPER_HOOK_FILE": str(hook), "DRIFTKEEPER_PAUSE_AT": point, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "driftkeeper", "run", str(root), "--batch", str(batch), "--no-html"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(hook, point, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("point, moves", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_kill_during_run(tmp_path, point, moves):
    batches = make_stream(4, seed=31, change_at=1)
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    root = tmp_path / "root"
    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, random_state=0, deterministic=True, verbose=-1, n_jobs=1)
    Keeper.init(root, model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id")
    paths = []
    for i, b in enumerate(batches[1:], start=1):
        paths.append(tmp_path / f"b{i}.csv")
        b.to_csv(paths[-1], index=False)
    reg = Registry(root)
    before = {v.version: v.sha256 for v in reg.history()}
    champion_before = reg.get("champion").version

    run_killed_at(root, paths[0], point, tmp_path)

    runner = CliRunner()
    r = runner.invoke(app, ["verify", str(root)])
    if r.exit_code != 0:
        # only removable leftovers are allowed
        assert r.exit_code == 1, r.output
        assert "removable" in r.output, r.output
        g = runner.invoke(app, ["gc", str(root)])
        assert g.exit_code == 0, g.output
        r = runner.invoke(app, ["verify", str(root)])
    assert r.exit_code == 0, r.output

    reg = Registry(root)
    for version, sha in before.items():
        assert reg.get(version).sha256 == sha
        reg.load(version)  # checks the sha256 before unpickling
    champion_after = reg.get("champion").version
    if moves:
        assert champion_after == 2
    else:
        assert champion_after == champion_before

    # the next run succeeds (the killed batch again, then the next one)
    r = runner.invoke(app, ["run", str(root), "--batch", str(paths[0]), "--no-html"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", str(root), "--batch", str(paths[1]), "--no-html"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["verify", str(root)]).exit_code == 0
    assert not list((root / "data").glob(".*tmp*"))


def test_two_runs_at_once_one_exits_3(tmp_path):
    """A real second process is refused with exit 3 naming the holder; after the holder is
    killed, the lock is free at once (an OS lock dies with its process)."""
    batches = make_stream(3, seed=32)
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    root = tmp_path / "root"
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, random_state=0, verbose=-1, n_jobs=1)
    Keeper.init(root, model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id")
    b1 = tmp_path / "b1.csv"
    batches[1].to_csv(b1, index=False)
    hook = tmp_path / "hook.txt"
    env = {**os.environ, "DRIFTKEEPER_HOOK_FILE": str(hook), "DRIFTKEEPER_PAUSE_AT": "runner:data-written", "PYTHONWARNINGS": "ignore"}
    holder = subprocess.Popen([sys.executable, "-m", "driftkeeper", "run", str(root), "--batch", str(b1), "--no-html"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(hook, "runner:data-written", holder)
        second = subprocess.run([sys.executable, "-m", "driftkeeper", "run", str(root), "--batch", str(b1), "--no-html"],
                                capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert second.returncode == 3, second.stderr
        assert second.stderr.startswith(f"error: another run holds the lock on {root} (pid {holder.pid} on ")
        assert second.stderr.count("\n") == 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    r = CliRunner().invoke(app, ["run", str(root), "--batch", str(b1), "--no-html"])
    assert r.exit_code == 0, r.output
