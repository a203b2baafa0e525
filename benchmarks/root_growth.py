"""How ROOT grows over 100 nights, with and without retention settings.

Runs the real runner (always-retrain-like policy, LightGBM, 200-row nightly batches of a seeded
synthetic stream) twice side by side and prints the size of each part of ROOT every 20 nights.
With retention, ROOT stops growing once the windows are full: versions, run records and the
data store stay bounded.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import make_stream  # noqa: E402

from driftkeeper import Keeper  # noqa: E402

POLICY = """
name: growth
metric: rmse
rules: []
fallback: retrain
retrain: {window: all}
guards: {min_rows: 10}
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 1.0}
"""
NIGHTS = 100


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dk-growth-"))
    pol = tmp / "p.yaml"
    pol.write_text(POLICY)
    batches = make_stream(NIGHTS + 1, rows=200, seed=7)
    keepers = {}
    for name, retention in (("no retention", None), ("versions=10 runs=30 data_rows=3000", {"versions": 10, "runs": 30, "data_rows": 3000})):
        model = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, random_state=0, verbose=-1, n_jobs=1)
        root = tmp / name.split()[0]
        keepers[name] = Keeper.init(root, model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id", retention=retention)
    print(f"{'night':>5}  {'setting':<36} {'versions':>9} {'runs':>9} {'data':>9} {'total':>9}  (KiB)")
    t0 = time.perf_counter()
    for night, b in enumerate(batches[1:], start=1):
        for name, k in keepers.items():
            k.step(b, html=False)
            if night % 20 == 0:
                r = k.root
                print(f"{night:>5}  {name:<36} {size(r / 'versions') / 1024:>9.0f} {size(r / 'runs') / 1024:>9.0f} "
                      f"{size(r / 'data') / 1024:>9.0f} {size(r) / 1024:>9.0f}")
    print(f"{NIGHTS} nights x 2 roots in {time.perf_counter() - t0:.0f} s; roots under {tmp}")


if __name__ == "__main__":
    main()
