"""A drift check of 10M rows x 50 float columns on a local two-worker Dask cluster next to the
pandas path, printed side by side: wall time of fit + check, the client's peak memory, and how
far the Dask scores are from the exact ones (auto picks wasserstein: bounded, see
``driftkeeper.monitor.partials``).

    python benchmarks/dask_scale.py                 # 10M x 50 (about 4 GB a frame in pandas)
    python benchmarks/dask_scale.py --rows 1000000 --cols 10

The data is generated on the workers partition by partition (seeded), so the Dask side never
holds a whole frame; the pandas side builds both frames in memory and stops (says so) when they
would not fit in the memory this machine has available.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

ROWS_PER_PART = 500_000


def _part(seed: int, rows: int, cols: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (rows, cols))
    x[:, ::5] += shift  # every fifth column drifts
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(cols)])


def _sizes(rows: int) -> list[int]:
    return [min(ROWS_PER_PART, rows - i) for i in range(0, rows, ROWS_PER_PART)]


def _dask_frame(rows: int, cols: int, shift: float, seed: int):
    import dask.dataframe as dd

    meta = _part(0, 0, cols, 0.0)
    return dd.from_map(lambda a: _part(*a), [(seed * 1000 + i, n, cols, shift) for i, n in enumerate(_sizes(rows))],
                       meta=meta)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            info = dict(line.split(":", 1) for line in fh)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError):  # pragma: no cover - not Linux
        return 1 << 62


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cols", type=int, default=50)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    from driftkeeper.monitor import Monitor

    rows, cols = args.rows, args.cols
    print(f"drift check: {rows:,} reference rows and {rows:,} current rows x {cols} float columns")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        t = time.perf_counter()
        monitor = Monitor().fit(_dask_frame(rows, cols, 0.0, 1))
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        on_dask = monitor.check(_dask_frame(rows, cols, 0.15, 2))
        check_s = time.perf_counter() - t
    dask_row = (fit_s, check_s, _peak_mb())
    need = 2 * rows * cols * 8 * 3  # both frames plus the monitor's sorted copies and scratch
    if need > _available_bytes():
        print(f"pandas path: stops here, it needs about {need / 2**30:.1f} GB and "
              f"{_available_bytes() / 2**30:.1f} GB are available")
        pandas_row = None
    else:
        ref = pd.concat([_part(1000 + i, n, cols, 0.0) for i, n in enumerate(_sizes(rows))], ignore_index=True)
        cur = pd.concat([_part(2000 + i, n, cols, 0.15) for i, n in enumerate(_sizes(rows))], ignore_index=True)
        t = time.perf_counter()
        exact_monitor = Monitor().fit(ref)
        fit_p = time.perf_counter() - t
        t = time.perf_counter()
        exact = exact_monitor.check(cur)
        pandas_row = (fit_p, time.perf_counter() - t, _peak_mb())
    print(f"{'':22}{'fit s':>10}{'check s':>10}{'client peak MB':>16}")
    print(f"{'dask, 2 workers':22}{dask_row[0]:>10.1f}{dask_row[1]:>10.1f}{dask_row[2]:>16.0f}")
    if pandas_row is not None:
        print(f"{'pandas, one process':22}{pandas_row[0]:>10.1f}{pandas_row[1]:>10.1f}{pandas_row[2]:>16.0f}")
        err = max(abs(d.score - e.score) for d, e in zip(on_dask.columns, exact.columns))
        width = max(d.score_bounds[1] - d.score_bounds[0] for d in on_dask.columns if d.score_bounds)
        held = all(d.score_bounds[0] <= e.score <= d.score_bounds[1] for d, e in zip(on_dask.columns, exact.columns))
        same = [d.drifted for d in on_dask.columns] == [e.drifted for e in exact.columns]
        print(f"dask vs exact: largest score error {err:.2g}, widest bound {width:.2g}, every exact score inside its "
              f"bounds: {held}, verdicts equal: {same}")
    print(f"drifted columns (dask): {on_dask.n_drifted} of {on_dask.n_columns}")


if __name__ == "__main__":
    main()
