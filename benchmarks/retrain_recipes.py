"""Which maintenance *recipe* could meet the #9 goal on Bike? Plain LightGBM, no runner, no gate.

    .venv/bin/python benchmarks/retrain_recipes.py [--dataset bike|kc]

A fast probe for ideas before they are built into policies: the same model as
``benchmarks/maintenance.py`` (200 trees, learning rate 0.05, 31 leaves, one thread), weekly
batches, the first 20 % (to the end of that week) as the initial training set; each batch is
scored by the current model (MAE) before it is learned. Every recipe also retrains on all the
data once it has grown by ``g`` since the last full retrain (the default policy's
``data_growth`` rule). Printed: mean-error ratio and training-CPU ratio against a weekly full
retrain, measured in the same run.

Recipes:
* ``update R`` — warm start: R rounds at learning rate 0.1 on the batch plus as many replayed
  older rows (what the default policy's updates do, without the gate);
* ``sample N+M`` — weekly fresh 200-tree model on the newest N rows plus M uniformly sampled
  older rows;
* ``alternate k`` — the sampled retrain every k-th week, warm-start updates in between.

Measured 2026-11-25 (Bike, one run): update 10 ×1.149 error / ×0.089 CPU; update 30 ×1.153 /
×0.104; sample 2k+2k ×0.988 / ×0.514; sample 1k+1k ×1.035 / ×0.385; alternate 2 (1k+2k) ×1.020 /
×0.284; alternate 3 ×1.047 / ×0.185. A fresh 200-tree model costs ~0.1 s even on 2k rows
(per-tree overhead), so a weekly fresh model cannot fit a 20 % budget; warm starts are cheap
but fall ~15 % behind on Bike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import maintenance  # noqa: E402  (dataset loaders shared with the maintenance benchmark)

PARAMS = dict(objective="regression", learning_rate=0.05, num_leaves=31, verbose=-1, seed=0, deterministic=True,
              force_col_wise=True, num_threads=1)


def main() -> None:
    import lightgbm as lgb

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["bike", "kc"], default="bike")
    args = ap.parse_args()
    df, kw = maintenance.load(args.dataset)
    tcol = kw["time_column"]
    df = df.sort_values(tcol).reset_index(drop=True)
    ts = pd.to_datetime(df.pop(tcol))
    y = df.pop(kw["target"]).to_numpy(float)
    X = df.to_numpy(float)
    week = ((ts - ts.iloc[0]).dt.days // 7).to_numpy()
    first_week = week[int(len(df) * 0.2)]
    n0 = int(np.searchsorted(week, first_week))

    def fit(idx: np.ndarray):
        return lgb.train(PARAMS, lgb.Dataset(X[idx], y[idx]), 200)

    def run(step: Callable) -> tuple[float, float]:
        rng = np.random.default_rng(0)
        model, last_full, cpu, errors, k = fit(np.arange(n0)), n0, 0.0, [], 0
        for w in range(first_week, week.max() + 1):
            idx = np.flatnonzero(week == w)
            if not len(idx):
                continue
            errors.append(float(np.mean(np.abs(model.predict(X[idx], num_threads=1) - y[idx]))))
            end, k = int(idx[-1]) + 1, k + 1
            t = time.process_time()
            model, last_full = step(model, end, idx, rng, last_full, k)
            cpu += time.process_time() - t
        return float(np.mean(errors)), cpu

    def always(model, end, idx, rng, last_full, k):
        return fit(np.arange(end)), end

    def update(rounds: int, growth: float):
        def step(model, end, idx, rng, last_full, k):
            if end >= last_full * (1 + growth):
                return fit(np.arange(end)), end
            old = rng.choice(end - len(idx), size=min(len(idx), end - len(idx)), replace=False)
            rows = np.concatenate([old, idx])
            new = lgb.train(dict(PARAMS, learning_rate=0.1), lgb.Dataset(X[rows], y[rows]), rounds,
                            init_model=model, keep_training_booster=True)
            return new.free_dataset(), last_full
        return step

    def sample(n_new: int, n_old: int, growth: float):
        def step(model, end, idx, rng, last_full, k):
            if end >= last_full * (1 + growth):
                return fit(np.arange(end)), end
            cut = max(1, end - n_new)
            old = rng.choice(cut, size=min(n_old, cut), replace=False)
            return fit(np.concatenate([old, np.arange(cut, end)])), last_full
        return step

    def alternate(every: int, n_new: int, n_old: int, growth: float):
        up, sm = update(10, growth), sample(n_new, n_old, growth)
        return lambda *a: (sm if a[-1] % every == 0 else up)(*a)

    base_err, base_cpu = run(always)
    print(f"{args.dataset}: weekly full retrain MAE {base_err:.4g}, training CPU {base_cpu:.2f} s")
    print(f"{'recipe':28} {'error ×':>8} {'CPU ×':>7}")
    for name, step in [
        ("update 10 (growth 0.25)", update(10, 0.25)),
        ("update 30 (growth 0.25)", update(30, 0.25)),
        ("sample 2k+2k (growth 0.25)", sample(2000, 2000, 0.25)),
        ("sample 1k+1k (growth 0.5)", sample(1000, 1000, 0.5)),
        ("alternate 2, 1k+2k (g 0.5)", alternate(2, 1000, 2000, 0.5)),
        ("alternate 3, 1k+2k (g 0.5)", alternate(3, 1000, 2000, 0.5)),
    ]:
        err, cpu = run(step)
        print(f"{name:28} {err / base_err:8.3f} {cpu / base_cpu:7.3f}")


if __name__ == "__main__":
    main()
