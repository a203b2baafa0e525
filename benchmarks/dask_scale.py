"""A drift check of 10M rows x 50 float columns on a local two-worker Dask cluster next to the
pandas path, printed side by side: wall time of fit + check, the client's peak memory, and how
far the Dask scores are from the exact ones (auto picks wasserstein: bounded, see
``driftkeeper.monitor.partials``).

    python benchmarks/dask_scale.py                 # 10M x 50 (about 4 GB a frame in pandas)
    python benchmarks/dask_scale.py --rows 1000000 --cols 10
    python benchmarks/dask_scale.py --only retrain --retrain-rows 200000 --cols 10

Then a LightGBM retrain (200 trees) of ``--retrain-rows`` rows through ``lightgbm.dask`` on the
same two workers (``driftkeeper.adapters._lightgbm_dask.fit``, what ``--dask-scheduler`` runs)
next to ``LightGBMAdapter.fit`` in this process: wall time and the RMSE of each on fresh rows.

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


def _labelled(seed: int, rows: int, cols: int) -> tuple[pd.DataFrame, np.ndarray]:
    X = _part(seed, rows, cols, 0.0)
    y = X["f0"] * 2 + np.sin(3 * X["f1"]) + X.iloc[:, 2:].sum(axis=1) * 0.1
    return X, (y + np.random.default_rng(seed + 1).normal(0.0, 0.3, rows)).to_numpy()


def _retrain(rows: int, cols: int) -> None:
    """A LightGBM retrain on the two-worker cluster (pieces made on the workers) next to the
    local fit on the same rows."""
    import dask
    import lightgbm as lgb
    from distributed import Client, LocalCluster

    from driftkeeper.adapters import _lightgbm_dask, make_adapter

    model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, random_state=0, verbose=-1, n_jobs=1)
    sizes = [len(a) for a in np.array_split(np.arange(rows), max(2, len(_sizes(rows))))]  # a piece per worker at least
    X_test, y_test = _labelled(99, 100_000, cols)
    rmse = lambda m: float(np.sqrt(np.mean((m.predict(X_test) - y_test) ** 2)))  # noqa: E731
    print(f"retrain: {rows:,} rows x {cols} float columns, 200 trees")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pieces = [(dask.delayed(_labelled, pure=True)(3000 + i, n, cols), n) for i, n in enumerate(sizes)]
        t = time.perf_counter()
        on_dask = _lightgbm_dask.fit(make_adapter(model), pieces, _part(0, 1, cols, 0.0).iloc[:0], client)
        dask_s = time.perf_counter() - t
        workers = client.run(_peak_mb)
    print(f"workers' peak MB: {', '.join(f'{v:.0f}' for v in workers.values())}; client {_peak_mb():.0f}")
    need = rows * cols * 8 * 4  # the frame, LightGBM's float matrix, its bins and scratch
    print(f"{'':22}{'train s':>10}{'test rmse':>12}")
    print(f"{'dask, 2 workers':22}{dask_s:>10.1f}{rmse(on_dask):>12.4f}")
    if need > _available_bytes():
        print(f"pandas path: stops here, it needs about {need / 2**30:.1f} GB and "
              f"{_available_bytes() / 2**30:.1f} GB are available")
        return
    parts = [_labelled(3000 + i, n, cols) for i, n in enumerate(sizes)]
    X, y = pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts])
    del parts
    t = time.perf_counter()
    local = make_adapter(model).fit(X, y)
    print(f"{'pandas, one process':22}{time.perf_counter() - t:>10.1f}{rmse(local):>12.4f}   (peak {_peak_mb():.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--retrain-rows", type=int, default=2_000_000)
    ap.add_argument("--only", choices=("drift", "retrain", "both"), default="both")
    args = ap.parse_args()
    if args.only != "drift":
        _retrain(args.retrain_rows, args.cols)
    if args.only != "retrain":
        _drift(args.rows, args.cols)


def _drift(rows: int, cols: int) -> None:
    from distributed import Client, LocalCluster

    from driftkeeper.monitor import Monitor

    print(f"drift check: {rows:,} reference rows and {rows:,} current rows x {cols} float columns")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        monitor = Monitor().fit(_dask_frame(rows, cols, 0.0, 1))
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        on_dask = monitor.check(_dask_frame(rows, cols, 0.15, 2))
        check_s = time.perf_counter() - t
        workers = client.run(_peak_mb)  # each worker process's own peak
    dask_row = (fit_s, check_s, _peak_mb())
    print(f"workers' peak MB: {', '.join(f'{v:.0f}' for v in workers.values())}")
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
