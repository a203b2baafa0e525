"""Update vs retrain on real drifting data: CPU seconds and next-batch error per adapter.

Protocol (prequential, weekly batches): fit on the first ``--warmup`` weeks, then for every later
week (1) score each track on that week *before* it learns from it (next-batch error), then
(2) let each track learn it:

* ``static``   – never changes after the warm-up fit (the "no action" baseline),
* ``update``   – ``adapter.update(week)`` (warm start / online learning),
* ``update lr=0.02`` – boosted models: the added trees use ``learning_rate=0.02`` (per-call override),
* ``update lr=0.02+replay`` – LightGBM: the same with ``replay_fraction=0.3``,
* ``retrain``  – ``adapter.fit(all weeks so far)``.

CPU seconds are ``time.process_time()`` around ``fit``/``update`` only (prediction excluded), with
LightGBM ``num_threads=1`` and OpenMP pools (HistGradientBoosting) limited to one thread, so the
numbers compare work, not parallelism. River models are online learners whose retrain on all data in
time order repeats the same pass, so only their update track is run.

Datasets (see ../shared/data/README.md): Bike Sharing hourly (time ``dteday``+``hr``, target ``cnt``,
leaking ``casual``/``registered``/``instant`` dropped; MAE) and Elec2 (row order is time, 48 rows a
day, 336 a week, target ``class`` UP/DOWN, ``date`` dropped; error rate).

Run:  .venv/bin/python benchmarks/update_vs_retrain.py [--datasets bike elec2] [--max-weeks N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from driftkeeper.adapters import LightGBMAdapter, ModelAdapter, RiverAdapter, SklearnAdapter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_bike() -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    df = pd.read_csv(DATA / "bike_sharing_hour.csv.gz")
    ts = pd.to_datetime(df["dteday"]) + pd.to_timedelta(df["hr"], unit="h")
    df = df.assign(_ts=ts).sort_values("_ts", kind="stable").reset_index(drop=True)
    week = ((df["_ts"] - df["_ts"].iloc[0]).dt.days // 7).to_numpy()
    X = df.drop(columns=["instant", "dteday", "casual", "registered", "cnt", "_ts"])
    return X, df["cnt"].astype(float), week


def load_elec2() -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    df = pd.read_csv(DATA / "elec2_elecNormNew.csv.gz")
    week = np.arange(len(df)) // (48 * 7)
    return df.drop(columns=["date", "class"]), df["class"], week


def adapters(task: str) -> dict[str, Callable[[], ModelAdapter]]:
    import lightgbm as lgb
    from river import linear_model, optim, preprocessing, tree
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import SGDClassifier, SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = task == "regression"
    lgbm = (lgb.LGBMRegressor if reg else lgb.LGBMClassifier)(n_estimators=100, learning_rate=0.1, num_leaves=31)
    hgb = (HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier)(max_iter=100, random_state=0)
    sgd = SGDRegressor(random_state=0) if reg else SGDClassifier(loss="log_loss", random_state=0)
    # Bike: SGD's default 0.01 diverges on rare 0/1 columns (holiday) once standardised; 0.001 does not.
    river_lin = preprocessing.StandardScaler() | (
        linear_model.LinearRegression(optimizer=optim.SGD(0.001)) if reg else linear_model.LogisticRegression())
    river_tree = tree.HoeffdingAdaptiveTreeRegressor(seed=0) if reg else tree.HoeffdingAdaptiveTreeClassifier(seed=0)
    return {
        "lightgbm": lambda: LightGBMAdapter(lgbm, update_rounds=10, num_threads=1),
        "sklearn-hgb": lambda: SklearnAdapter(hgb, update_rounds=10),
        "sklearn-sgd": lambda: SklearnAdapter(make_pipeline(StandardScaler(), sgd)),
        "river-linear": lambda: RiverAdapter(river_lin),
        "river-hat": lambda: RiverAdapter(river_tree),
    }


def error(task: str, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(pred - y) if task == "regression" else (pred != y).astype(float)


def run(name: str, X: pd.DataFrame, y: pd.Series, week: np.ndarray, task: str, warmup: int, max_weeks: int | None) -> list[dict]:
    weeks = np.unique(week)
    if max_weeks:
        weeks = weeks[: warmup + max_weeks]
    first = week < weeks[warmup]
    rows = []
    for label, make in adapters(task).items():
        tracks = {"static": {}, "update": {}}
        if label in ("lightgbm", "sklearn-hgb"):
            tracks["update lr=0.02"] = {"learning_rate": 0.02}
        if label == "lightgbm":
            tracks["update lr=0.02+replay"] = {"learning_rate": 0.02, "replay_fraction": 0.3}
        tracks["retrain"] = {}
        if label.startswith("river"):
            tracks.pop("retrain")
        for track, kw in tracks.items():
            adapter = make()
            t0 = time.process_time()
            adapter.fit(X[first], y[first])
            cpu_fit = time.process_time() - t0
            cpu, errs = cpu_fit, []
            for w in weeks[warmup:]:
                mask = week == w
                errs.append(error(task, adapter.predict(X[mask]), y[mask].to_numpy()))
                if track == "static":
                    continue
                t0 = time.process_time()
                if track == "retrain":
                    adapter.fit(X[week <= w], y[week <= w])
                else:
                    adapter.update(X[mask], y[mask], **kw)
                cpu += time.process_time() - t0
            rows.append({
                "dataset": name, "adapter": label, "track": track,
                "cpu_s": cpu, "cpu_fit0_s": cpu_fit,
                ("MAE" if task == "regression" else "error"): float(np.concatenate(errs).mean()),
                "n_trees": adapter.n_trees, "size_kb": adapter.describe()["size_bytes"] / 1024,
            })
            print(f"  {name:6s} {label:13s} {track:22s} cpu={cpu:7.2f}s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["bike", "elec2"], choices=["bike", "elec2"])
    parser.add_argument("--warmup", type=int, default=8, help="weeks in the first fit (default 8)")
    parser.add_argument("--max-weeks", type=int, default=None, help="evaluate at most this many weeks after warm-up")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    adapters("regression")  # import LightGBM, River and scikit-learn first, so the limit reaches their OpenMP pools
    results = []
    with threadpool_limits(limits=1):
        for name in args.datasets:
            X, y, week = load_bike() if name == "bike" else load_elec2()
            task = "regression" if name == "bike" else "classification"
            n_eval = len(np.unique(week)) - args.warmup if not args.max_weeks else args.max_weeks
            print(f"{name}: {len(X)} rows, {len(np.unique(week))} weeks, warm-up {args.warmup}, evaluated {n_eval}", flush=True)
            results += run(name, X, y, week, task, args.warmup, args.max_weeks)
    table = pd.DataFrame(results)
    print()
    for name, part in table.groupby("dataset", sort=False):
        part = part.dropna(axis=1, how="all").drop(columns="dataset")
        part["n_trees"] = part["n_trees"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
        metric = "MAE (next week)" if "MAE" in part else "error rate (next week)"
        print(f"{name}: {metric}; cpu_s = fit + all updates/retrains, cpu_fit0_s = the warm-up fit")
        print(part.to_string(index=False, float_format="{:.3f}".format))
        print()


if __name__ == "__main__":
    main()
