"""The files of a root and the run lock: where a keeper keeps its config, state, policy and runs.

```
ROOT/keeper.json   schema and format version      ROOT/state.json   runner state (the commit point)
ROOT/policy.yaml   the policy this root runs      ROOT/runs/<id>/   record.json (+ drift.html)
ROOT/.run.lock     the run lock (an OS file lock; ROOT/.run.lock.info names its holder)
```
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError, LockError
from .state import FORMAT_VERSION, RunnerState

__all__ = ["CONFIG_FILE", "LOCK_FILE", "POLICY_FILE", "STATE_FILE", "acquire_lock", "leftovers", "read_config", "read_state"]

CONFIG_FILE = "keeper.json"
STATE_FILE = "state.json"
POLICY_FILE = "policy.yaml"
LOCK_FILE = ".run.lock"


def read_config(root: Path) -> dict[str, Any]:
    """``ROOT/keeper.json``, checked: the root exists, is initialised, and this release reads it."""
    cfg = root / CONFIG_FILE
    if not root.is_dir():
        raise ConfigError(f"{root} does not exist; create it with 'driftkeeper init'")
    if not cfg.exists():
        raise ConfigError(f"{root} is not an initialised driftkeeper root (no {CONFIG_FILE}); run 'driftkeeper init' first")
    try:
        config = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{cfg} is unreadable: {exc}") from exc
    fv = config.get("format_version", 0)
    if fv > FORMAT_VERSION:
        raise ConfigError(f"{root} was written by a newer driftkeeper (format {fv}, this one reads {FORMAT_VERSION}); upgrade driftkeeper")
    return config


def read_state(root: Path) -> RunnerState:
    p = root / STATE_FILE
    if not p.exists():
        raise ConfigError(f"{root} has no {STATE_FILE}; it was not initialised completely — run 'driftkeeper init' again in a new folder")
    return RunnerState.from_dict(json.loads(p.read_text()))


def acquire_lock(root: Path):
    """Take the run lock at once or raise :class:`LockError` naming the holder. An OS file lock
    dies with its process, so a killed run never blocks the next."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(root / LOCK_FILE), timeout=0)
    info = root / (LOCK_FILE + ".info")
    try:
        lock.acquire()
    except Timeout:
        holder = "unknown process"
        try:
            h = json.loads(info.read_text())
            holder = f"pid {h['pid']} on {h['host']}, started {h['started']}"
        except (OSError, ValueError, KeyError):
            pass
        raise LockError(f"another run holds the lock on {root} ({holder}); try again when it finishes") from None
    info.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    return lock


def release_lock(root: Path, lock: Any) -> None:
    (root / (LOCK_FILE + ".info")).unlink(missing_ok=True)
    lock.release()


def leftovers(root: Path) -> list[Path]:
    """Temp files a killed run left in the runner's folders (the registry reports its own)."""
    found = []
    for folder in (root, root / "data", *(root / "runs").glob("*")):
        if folder.is_dir():
            found.extend(p for p in folder.glob(".*.tmp-*") if p.is_file())
    return sorted(found)
