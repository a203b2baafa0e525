"""Shared fixtures: seeded synthetic streams for runner, CLI and backtest tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_stream(
    n_batches: int = 6,
    rows: int = 300,
    *,
    seed: int = 0,
    change_at: int | None = None,
    shift_at: int | None = None,
    task: str = "regression",
    start: str = "2024-01-01",
    with_ids: bool = True,
) -> list[pd.DataFrame]:
    """Time-ordered batches (one per week). Batch 0 is the initial training data (4x larger).

    ``change_at``: from this batch on, the target relation flips (concept change; features
    unchanged). ``shift_at``: from this batch on, ``x1`` and ``x2`` shift by +2 (data drift).
    """
    rng = np.random.default_rng(seed)
    out, next_id = [], 1
    t0 = pd.Timestamp(start)
    for b in range(n_batches):
        n = rows * 4 if b == 0 else rows
        x = rng.normal(size=(n, 4))
        if shift_at is not None and b >= shift_at:
            x[:, 0] += 2.0
            x[:, 1] += 2.0
        cat = rng.choice(["a", "b", "c"], size=n)
        sign = -1.0 if change_at is not None and b >= change_at else 1.0
        signal = sign * (3 * x[:, 0] - 2 * x[:, 1]) + x[:, 2] * x[:, 3] + np.where(cat == "a", 1.0, 0.0)
        days = t0 + pd.to_timedelta(7 * b + rng.uniform(0, 7, size=n), unit="D")
        df = pd.DataFrame({f"x{i + 1}": x[:, i] for i in range(4)})
        df["cat"] = cat
        df["date"] = days.floor("min").sort_values().strftime("%Y-%m-%d %H:%M")
        if with_ids:
            df.insert(0, "row_id", np.arange(next_id, next_id + n))
            next_id += n
        if task == "regression":
            df["y"] = signal + rng.normal(scale=0.5, size=n)
        else:
            p = 1 / (1 + np.exp(-signal))
            df["y"] = np.where(rng.uniform(size=n) < p, "yes", "no")
        out.append(df)
    return out


@pytest.fixture
def stream():
    return make_stream


def tree_snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare before/after to prove nothing changed."""
    from pathlib import Path

    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# Roots the dashboard, `driftkeeper runs` and metrics-file tests share (their helpers live in
# test_dashboard_data.py). The real root is built once a session; a test that changes it gets a copy.
@pytest.fixture(scope="session")
def real_root(tmp_path_factory):
    from test_dashboard_data import make_root

    return make_root(tmp_path_factory.mktemp("real") / "root")


@pytest.fixture
def root(real_root, tmp_path):
    """A copy of the real root a test may change."""
    import shutil

    return shutil.copytree(real_root, tmp_path / "root")


@pytest.fixture
def v01(tmp_path):
    """A copy of the root written by driftkeeper 0.1 (tests/data/root-v0.1)."""
    import shutil
    from pathlib import Path

    return Path(shutil.copytree(Path(__file__).parent / "data" / "root-v0.1", tmp_path / "v01"))
