"""Crash safety and concurrency of the registry, with real processes killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftkeeper.exceptions import LockError
from driftkeeper.registry import Registry

pytestmark = pytest.mark.slow

CHILD = """
import sys
from driftkeeper.registry import Registry
reg = Registry(sys.argv[1], lock_timeout=30)
op = sys.argv[2]
if op == "register":
    reg.register({"child": True, "blob": list(range(2000))}, action="retrain", parent=1,
                 attachments={"drift.json": "{}", "drift.html": "<p></p>"}, decision={"action": "retrain"})
elif op == "promote":
    reg.promote(2, reason="child")
elif op == "rollback":
    reg.rollback(reason="child")
elif op == "gc":
    reg.gc(keep_last=1, force=True)
elif op == "many":
    for i in range(int(sys.argv[3])):
        reg.register({"pid": __import__("os").getpid(), "i": i}, action="manual")
print("done")
"""


def start(root: Path, op: str, *args: str, pause: str | None = None, hook: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("DRIFTKEEPER_PAUSE_AT", None)
    env.pop("DRIFTKEEPER_HOOK_FILE", None)
    if pause:
        assert hook is not None
        env.update(DRIFTKEEPER_HOOK_FILE=str(hook), DRIFTKEEPER_PAUSE_AT=pause)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), op, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def kill_at(root: Path, op: str, pause: str, hook: Path) -> None:
    """Run ``op`` in a child, wait until it reports ``pause``, SIGKILL it."""
    proc = start(root, op, pause=pause, hook=hook)
    deadline = time.monotonic() + 60
    while True:
        if hook.exists() and pause in hook.read_text().splitlines():
            break
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited with {proc.returncode} before reaching {pause}: {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"child never reached {pause}")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def reg1(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "reg", lock_timeout=10)
    reg.register({"first": True}, action="initial")
    reg.promote(1)
    return reg


REGISTER_POINTS = [
    ("registry:number-allocated", False, []),
    ("registry:artifact-temp-written", False, ["orphan-folder"]),
    ("registry:artifact-written", False, ["orphan-folder"]),
    ("registry:attachments-written", False, ["orphan-folder"]),
    ("registry:meta-written", False, ["orphan-folder"]),
    ("registry:before-commit", False, ["orphan-folder"]),
    ("registry:after-commit", True, []),
]


@pytest.mark.parametrize("pause,complete,leftovers", REGISTER_POINTS, ids=[p[0].split(":")[1] for p in REGISTER_POINTS])
def test_register_killed_leaves_nothing_or_a_complete_version(reg1, tmp_path, pause, complete, leftovers):
    kill_at(reg1.root, "register", pause, tmp_path / "hook.txt")
    reg = Registry(reg1.root, lock_timeout=5)  # the lock died with the process
    assert len(reg) == (2 if complete else 1)
    problems = reg.verify()
    assert [p.kind for p in problems] == leftovers
    assert all(p.removable for p in problems)
    if leftovers:
        assert problems[0].version == 2 and problems[0].path == reg.versions_dir / "v0002"
    if complete:
        v2 = reg.get(2)
        assert v2.parent == 1 and v2.decision == {"action": "retrain"} and sorted(v2.attachments) == ["decision.json", "drift.html", "drift.json"]
        assert reg.load(2)["child"] is True
    res = reg.gc()
    assert [p.name for p in res.removed_paths] == (["v0002"] if leftovers else [])
    assert reg.verify() == []
    new = reg.register({"after": True}, action="manual")
    assert new.version == 3  # number 2 was handed out before the crash: never reused
    assert reg.load(3) == {"after": True} and reg.aliases() == {"champion": 1}
    assert reg.verify() == []


def test_promote_and_rollback_killed_before_commit_change_nothing(reg1, tmp_path):
    reg1.register({"second": True}, action="retrain", parent=1)
    kill_at(reg1.root, "promote", "registry:promote-before-commit", tmp_path / "h1.txt")
    reg = Registry(reg1.root, lock_timeout=5)
    assert reg.aliases() == {"champion": 1} and len(reg.alias_history()) == 1
    reg.promote(2)
    kill_at(reg1.root, "rollback", "registry:rollback-before-commit", tmp_path / "h2.txt")
    assert reg.aliases() == {"champion": 2} and len(reg.alias_history()) == 2
    assert reg.rollback().version == 1
    assert reg.verify() == []


def test_gc_killed_after_commit_leaves_removable_orphans(reg1, tmp_path):
    for i in range(3):
        reg1.register({"i": i}, action="manual")
    kill_at(reg1.root, "gc", "registry:gc-after-commit", tmp_path / "h.txt")
    reg = Registry(reg1.root, lock_timeout=5)
    assert [m.version for m in reg.history()] == [4, 1]
    assert [(p.kind, p.version) for p in reg.verify()] == [("orphan-folder", 2), ("orphan-folder", 3)]
    reg.gc()
    assert reg.verify() == []
    assert reg.register({}, action="manual").version == 5


def test_writer_waits_then_lock_error_and_readers_see_only_complete_versions(reg1, tmp_path):
    hook = tmp_path / "hook.txt"
    proc = start(reg1.root, "register", pause="registry:before-commit", hook=hook)
    try:
        deadline = time.monotonic() + 60
        while not (hook.exists() and "registry:before-commit" in hook.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        # the child holds the lock with a complete folder and an uncommitted row
        assert (reg1.versions_dir / "v0002" / "meta.json").is_file()
        reader = Registry(reg1.root)
        assert [m.version for m in reader.history()] == [1] and len(reader) == 1
        writer = Registry(reg1.root, lock_timeout=0.3)
        with pytest.raises(LockError, match=r"^registry '.*' is locked by another writer \(.registry.lock\); gave up after waiting 0.3s$"):
            writer.register({}, action="manual")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.communicate()
    assert writer.register({}, action="manual").version == 3


def test_concurrent_writers_get_unique_numbers(tmp_path):
    root = tmp_path / "reg"
    reg = Registry(root)
    procs = [start(root, "many", "5") for _ in range(4)]
    seen_complete = 0
    while any(p.poll() is None for p in procs):  # readers never see half-written versions
        for mv in reg.history():
            assert isinstance(reg.load(mv.version), dict)
            seen_complete += 1
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "done"
    versions = sorted(m.version for m in reg.history())
    assert versions == list(range(1, 21))
    owners = {}
    for v in versions:
        obj = reg.load(v)
        owners.setdefault(obj["pid"], []).append(obj["i"])
    assert len(owners) == 4 and all(sorted(i) == list(range(5)) for i in owners.values())
    assert reg.verify() == []
