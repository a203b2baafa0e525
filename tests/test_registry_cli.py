"""The registry commands: history, show, promote, rollback, served-at, verify, gc."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.registry import Registry

runner = CliRunner()
EXE = Path(sys.executable).with_name("driftkeeper")


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    reg = Registry(tmp_path / "reg")
    reg.register({"a": 1}, action="initial", metrics={"mae": 1.23456})
    reg.register({"a": 2}, action="retrain", parent=1, metrics={"mae": 0.5})
    reg.register({"a": 3}, action="online_update", parent=2)
    reg.promote(1)
    reg.promote(2)
    return reg.root


def test_history_table_and_json(root):
    res = run("history", root)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "(UTC)", "ACTION", "PARENT", "ALIASES", "SHA256", "METRICS"]
    assert [ln.split()[0] for ln in lines[1:]] == ["v0003", "v0002", "v0001"]
    assert lines[2].split()[3:6] == ["retrain", "v0001", "champion"] and lines[2].endswith("mae=0.5")
    assert lines[3].endswith("mae=1.235")
    res = run("history", root, "--json", "--limit", "2")
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert [d["version"] for d in data] == [3, 2] and data[1]["aliases"] == ["champion"]
    assert data[1] == Registry(root).get(2).to_dict()
    res = run("history", root, "--limit", "0")
    assert res.exit_code == 2 and res.output.strip() == "error: --limit must be >= 1, got 0"


def test_show(root):
    res = run("show", root, "champion")
    assert res.exit_code == 0
    d = json.loads(res.output)
    assert d["version"] == 2 and d["action"] == "retrain" and d["metrics"] == {"mae": 0.5} and d["aliases"] == ["champion"]
    res = run("show", root, "v9")
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"error: version 'v9' is not in registry {str(root)!r}; it holds versions v0001..v0003 (3 in all); aliases: champion -> v0002"
    )
    res = run("show", root, "best")
    assert res.exit_code == 2 and res.output.startswith("error: alias 'best' is not set in registry")


def test_promote_rollback_and_served_at(root):
    t_before = datetime.now(timezone.utc).isoformat()
    res = run("promote", root, "3", "--reason", "nightly gate passed")
    assert res.exit_code == 0 and res.output.strip() == "champion: v0002 -> v0003"
    assert run("promote", root, "v3").output.strip() == "v0003 already holds champion; nothing changed"
    res = run("promote", root, "1", "--alias", "challenger")
    assert res.output.strip() == "challenger: none -> v0001"
    res = run("rollback", root, "--reason", "bad")
    assert res.exit_code == 0 and res.output.strip() == "champion: v0003 -> v0002 (rollback)"
    res = run("rollback", root, "--to", "v1")
    assert res.output.strip() == "champion: v0002 -> v0001 (rollback)"
    res = run("rollback", root)
    assert res.exit_code == 2
    assert res.output.strip() == "error: cannot roll back champion: v0001 is the earliest champion left in its history, there is no earlier one (promote a version instead)"
    assert Registry(root).alias_history("champion")[-3].reason == "nightly gate passed"
    res = run("served-at", root, t_before)
    assert res.exit_code == 0 and res.output.strip() == f"v0002 held champion at {t_before}"
    res = run("served-at", root, "2000-01-01T00:00:00Z")
    assert res.output.strip() == "no version held champion at 2000-01-01T00:00:00Z"
    res = run("served-at", root, "2024-01-01T00:00")
    assert res.exit_code == 2 and res.output.startswith("error: time '2024-01-01T00:00:00' has no timezone")
    res = run("promote", root, "1", "--alias", "V1")
    assert res.exit_code == 2 and res.output.startswith("error: alias name 'V1' is invalid")


def test_verify_and_gc(root):
    res = run("verify", root)
    assert res.exit_code == 0 and res.output.strip() == "ok: 3 versions verified, no problems"
    (root / "versions" / "v0003" / "model.joblib").write_bytes(b"tampered")
    (root / "versions" / "v0007").mkdir()
    res = run("verify", root)
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("altered-artifact: v0003: artifact ") and "catalog records" in lines[0]
    assert lines[1] == f"orphan-folder: v0007: folder {str(root / 'versions' / 'v0007')!r} has no catalog row (left by an interrupted register) (removable: run gc)"
    res = run("gc", root, "--keep-last", "0", "--dry-run")
    assert res.exit_code == 0
    assert res.output.splitlines() == [
        f"would remove {root / 'versions' / 'v0003'}",
        f"would remove {root / 'versions' / 'v0007'}",
        "would remove 1 versions (v0003); kept (held an alias): v0001, v0002",
    ]
    assert (root / "versions" / "v0007").is_dir()
    res = run("gc", root, "--keep-last", "0")
    assert res.exit_code == 0 and res.output.splitlines()[-1] == "removed 1 versions (v0003); kept (held an alias): v0001, v0002"
    assert run("verify", root).exit_code == 0
    res = run("gc", root, "--keep-last", "-1")
    assert res.exit_code == 2 and res.output.strip() == "error: keep_last must be an int >= 0 or None, got -1"


@pytest.mark.parametrize(
    "args",
    [["history"], ["show", "1"], ["verify"], ["served-at", "2024-01-01T00:00:00Z"], ["promote", "1"], ["rollback"], ["gc"]],
    ids=lambda a: a[0],
)
def test_missing_root_is_an_error_and_creates_nothing(tmp_path, args):
    missing = tmp_path / "missing"
    res = run(args[0], missing, *args[1:])
    assert res.exit_code == 2
    assert res.output.strip() == f"error: registry root {str(missing)!r} does not exist"
    assert not missing.exists()


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "stuff.csv").write_text("a\n1\n")
    res = run("history", tmp_path)
    assert res.exit_code == 2 and "is not a driftkeeper registry" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stuff.csv"]


@pytest.mark.slow
def test_real_subprocess(root):
    exe = str(EXE) if EXE.exists() else shutil.which("driftkeeper")
    assert exe, "driftkeeper console script not installed in the venv"
    out = subprocess.run([exe, "history", str(root), "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [d["tag"] for d in json.loads(out.stdout)] == ["v0003", "v0002", "v0001"]
    out = subprocess.run([exe, "show", str(root), "nope"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().startswith("error: alias 'nope' is not set in registry") and len(out.stderr.strip().splitlines()) == 1
    from filelock import FileLock

    with FileLock(str(root / ".registry.lock")):
        code = "from driftkeeper.cli import main; import driftkeeper.registry.registry as r; r.Registry.__init__.__kwdefaults__['lock_timeout'] = 0.2; main()"
        out = subprocess.run([sys.executable, "-c", code, "promote", str(root), "3"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and out.stderr.strip().startswith(f"error: registry {str(root)!r} is locked by another writer")


@pytest.mark.parametrize("args", [["promote", "1"], ["rollback"], ["gc", "--keep-last", "0"]], ids=lambda a: a[0])
def test_write_commands_on_an_empty_folder_change_nothing(tmp_path, args):
    res = run(args[0], tmp_path, *args[1:])
    if args[0] == "gc":
        assert res.exit_code == 0 and res.output.strip() == "removed 0 versions (none)"
    else:
        assert res.exit_code == 2
        assert res.output.strip() == f"error: registry {str(tmp_path)!r} is empty (no catalog.sqlite yet) and was opened with create=False"
    assert list(tmp_path.iterdir()) == []
