"""``driftkeeper run --metrics-file``: the Prometheus text file node_exporter's textfile collector reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_stream, tree_snapshot
from prometheus_client.parser import text_string_to_metric_families
from test_dashboard_data import V01, invoke, make_root, records

from driftkeeper.dashboard.prom import MetricsFile, families
from driftkeeper.exceptions import ConfigError, LockError


def parse(path: Path) -> dict[str, dict[tuple, float]]:
    """``{sample name: {label items without root: value}}``; every sample must carry the root label."""
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(path.read_text()):
        for s in fam.samples:
            labels = dict(s.labels)
            assert labels.pop("root")
            out.setdefault(s.name, {})[tuple(sorted(labels.items()))] = s.value
    return out


def one(metrics: dict, name: str, **labels) -> float:
    return metrics[name][tuple(sorted(labels.items()))]


@pytest.fixture
def batch(tmp_path) -> Path:
    """The next batch of a fresh make_root(nights=2) root."""
    path = tmp_path / "next.csv"
    make_stream(4, rows=120, seed=5, shift_at=2)[3].to_csv(path, index=False)
    return path


def test_families_of_a_recorded_night_parse_with_their_values(v01, tmp_path):
    recs = records(v01)
    out = tmp_path / "m.prom"
    assert MetricsFile(out, v01).write_run(recs[-1]) is None
    m = parse(out)
    last = recs[-1]
    assert one(m, "driftkeeper_last_run_status", status="completed") == 1
    assert one(m, "driftkeeper_last_run_exit_code") == 0
    assert one(m, "driftkeeper_serving_version") == last["serving"] == 4
    assert one(m, "driftkeeper_drift_share") == last["drift"]["drift_share"]
    assert one(m, "driftkeeper_metric", metric="rmse") == last["champion_metric"]["value"]
    assert one(m, "driftkeeper_training_seconds") == last["training"]["cpu_s"]
    # totals over the three recorded nights: two updates, one retrain (refused by the gate)
    assert one(m, "driftkeeper_actions_total", action="warm_start") == 2
    assert one(m, "driftkeeper_actions_total", action="retrain") == 1
    assert one(m, "driftkeeper_actions_total", action="rollback") == 0
    assert one(m, "driftkeeper_candidates_refused_total") == 1
    assert one(m, "driftkeeper_runs_total") == 3
    assert "driftkeeper_estimated_metric" not in m  # not in 0.1 records: no series rather than a made-up one


def test_estimated_metric_and_budget_are_exported_when_records_have_them():
    rec = {"status": "completed", "exit_code": 0, "champion_metric": {"metric": "rmse", "value": 1.5},
           "estimated_metric": {"metric": "rmse", "value": 1.25}, "costs": {"budget": 0.2, "budget_spent": 0.75}}
    text = "".join(f"{s.name} {s.value}\n" for f in families("r", rec, [rec], now=0) for s in f.samples)
    assert "driftkeeper_estimated_metric 1.25" in text and "driftkeeper_metric 1.5" in text
    assert "driftkeeper_budget_spent 0.75" in text
    rec["costs"]["budget"] = None  # the ledger of a policy without a budget is not a budget
    assert "budget_spent" not in "".join(f.name for f in families("r", rec, [rec], now=0))


def test_failures_write_status_and_exit_code_only(v01, tmp_path):
    out = tmp_path / "m.prom"
    for exc, status, code in ((ConfigError("bad"), "failed", 2), (LockError("busy"), "locked", 3), (RuntimeError("x"), "crashed", 1)):
        assert MetricsFile(out, v01).write_failure(exc) is None
        m = parse(out)
        assert set(m) == {"driftkeeper_last_run_timestamp_seconds", "driftkeeper_last_run_status", "driftkeeper_last_run_exit_code"}
        assert one(m, "driftkeeper_last_run_status", status=status) == 1
        assert one(m, "driftkeeper_last_run_exit_code") == code


def test_a_failing_write_keeps_the_previous_file_whole(v01, tmp_path, monkeypatch):
    import prometheus_client.exposition as exposition

    out = tmp_path / "m.prom"
    MetricsFile(out, v01).write_run(records(v01)[-1])
    before = out.read_bytes()

    def broken_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exposition.os, "rename", broken_rename)
    problem = MetricsFile(out, v01).write_failure(ConfigError("bad"))
    assert problem == f"--metrics-file {str(out)!r} not written: No space left on device"
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.prom", "v01"]  # the temp file was removed


def test_a_writer_killed_mid_write_never_leaves_half_a_file(v01, tmp_path):
    out = tmp_path / "m.prom"
    MetricsFile(out, v01).write_run(records(v01)[-1])
    before = out.read_bytes()
    # the process dies after the new text is on disk, before the rename: what a kill -9 can do
    code = (
        "import os, sys; import prometheus_client.exposition as e\n"
        "e.os.rename = lambda a, b: os._exit(9)\n"
        "from driftkeeper.dashboard.prom import MetricsFile\n"
        "MetricsFile(sys.argv[1], sys.argv[2]).write_failure(RuntimeError())\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(out), str(v01)], capture_output=True, text=True)
    assert p.returncode == 9, p.stderr
    assert out.read_bytes() == before
    assert [q.name for q in tmp_path.glob("*.prom")] == ["m.prom"]  # the collector reads *.prom only


def test_bad_paths_are_refused_before_the_night_runs(v01, tmp_path):
    before = tree_snapshot(v01)
    for path, message in ((tmp_path / "m.txt", "must end in .prom"), (tmp_path / "no" / "m.prom", "does not exist")):
        r = invoke("run", v01, "--batch", V01.parent / "root-v0.1-next-batch.csv", "--metrics-file", path)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert tree_snapshot(v01) == before


@pytest.mark.slow
def test_run_writes_the_file_after_a_night_and_after_a_failure(tmp_path, batch):
    root = make_root(tmp_path / "root", nights=2)
    out = tmp_path / "textfile" / "dk.prom"
    out.parent.mkdir()
    r = invoke("run", root, "--batch", batch, "--no-html", "--metrics-file", out)
    assert r.exit_code == 0, r.output
    last = records(root)[-1]
    m = parse(out)
    assert one(m, "driftkeeper_last_run_exit_code") == 0
    assert one(m, "driftkeeper_serving_version") == last["serving"]
    assert one(m, "driftkeeper_drift_share") == last["drift"]["drift_share"]
    assert sum(m["driftkeeper_actions_total"].values()) == 3 == one(m, "driftkeeper_runs_total")
    r = invoke("run", root, "--batch", tmp_path / "missing.csv", "--metrics-file", out)
    assert r.exit_code == 2
    m = parse(out)
    assert one(m, "driftkeeper_last_run_status", status="failed") == 1
    assert one(m, "driftkeeper_last_run_exit_code") == 2
    assert "driftkeeper_serving_version" not in m


def test_a_dry_run_reports_its_status(v01, tmp_path):
    out = tmp_path / "dk.prom"
    r = invoke("run", v01, "--batch", V01.parent / "root-v0.1-next-batch.csv", "--dry-run", "--metrics-file", out)
    assert r.exit_code == 0, r.output
    m = parse(out)
    assert one(m, "driftkeeper_last_run_status", status="dry_run") == 1
    assert one(m, "driftkeeper_runs_total") == 3  # the dry run changed nothing, so it is not a recorded night
    assert one(m, "driftkeeper_serving_version") == 4
