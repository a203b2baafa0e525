"""Time ``driftkeeper dashboard`` on a year of nights.

    python benchmarks/dashboard_speed.py [--nights 365] [--root DIR]

One real night runs (Keeper.init + one step, LightGBM, a small synthetic table); the other
nights are synthetic records cloned from its record (``driftkeeper.dashboard._synthetic``), so
they carry every key the current runner writes. Prints the page's size, the first build in this
process (plotly imported then: what a cron job pays) and the median of three more builds.
The target: under 5 s for 365 nights, a few MB.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def table(n: int, seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    df["cat"] = rng.choice(["a", "b", "c"], size=n)
    df["date"] = (pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, 7, n)), unit="D")).strftime("%Y-%m-%d %H:%M")
    df["y"] = 3 * df.x1 - 2 * df.x2 + df.x3 * df.x4 + (df.cat == "a") + rng.normal(scale=0.5, size=n)
    return df


def real_root(root: Path) -> None:
    import lightgbm as lgb

    from driftkeeper import Keeper

    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1)
    keeper = Keeper.init(root, model, table(600, 0, "2024-01-01"), target="y", time_column="date")
    keeper.step(table(150, 1, "2024-01-08"), html=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--root", type=Path, help="Keep the root here (default: a temp folder).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "root"
        real_root(root)
        from driftkeeper.dashboard._synthetic import add_nights

        add_nights(root, args.nights - 1, seed=0)
        t = time.perf_counter()
        from driftkeeper.dashboard.page import build_dashboard

        out = build_dashboard(root)
        first = time.perf_counter() - t
        again = []
        for _ in range(3):
            t = time.perf_counter()
            build_dashboard(root)
            again.append(time.perf_counter() - t)
        print(f"{args.nights} nights: page {out.stat().st_size / 1e6:.1f} MB; "
              f"first build {first:.2f} s (imports included), then {statistics.median(again):.2f} s (median of 3)")


if __name__ == "__main__":
    main()
