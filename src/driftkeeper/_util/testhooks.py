"""Deterministic kill points for crash-safety tests (no sleeps that guess).

Production code calls :func:`checkpoint` at the moments a crash would hurt (artifact written,
catalog about to commit, ...). It costs one dict lookup when the variables below are unset.

Test harnesses set, in the child process's environment:

``DRIFTKEEPER_PAUSE_AT``
    a checkpoint name (or a comma-separated list). When the process reaches it, the name is
    appended to ``DRIFTKEEPER_HOOK_FILE`` (one line, flushed and fsynced) and the process
    sleeps until it is killed. The test waits for the line, then sends SIGKILL.
``DRIFTKEEPER_HOOK_FILE``
    where reached checkpoints are written. With ``DRIFTKEEPER_PAUSE_AT`` unset, every
    checkpoint reached is still logged there, which lets a test list them.
"""

from __future__ import annotations

import os
import time

__all__ = ["checkpoint"]


def checkpoint(name: str) -> None:
    """Mark that the process reached ``name``; pause there if a test asked for it."""
    hook_file = os.environ.get("DRIFTKEEPER_HOOK_FILE")
    if not hook_file:
        return
    with open(hook_file, "a", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    pause = os.environ.get("DRIFTKEEPER_PAUSE_AT", "")
    if name in {p.strip() for p in pause.split(",") if p.strip()}:
        while True:  # wait for SIGKILL from the test
            time.sleep(0.05)
