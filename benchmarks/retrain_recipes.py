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
  older rows (what the default policy's updates do, without the gate); variants replay 3× as
  many, and/or also re-learn the previous 4 weeks (``+4 weeks``; 168 rows a week on Bike);
* ``sample N+M`` — weekly fresh 200-tree model on the newest N rows plus M uniformly sampled
  older rows;
* ``alternate k`` — the sampled retrain every k-th week, warm-start updates in between.

Measured 2026-11-25 (Bike, one run; error × / CPU ×): update 10: 1.149 / 0.083; update 30:
1.153 / 0.099; 3× replay: 1.118 / 0.106; +4 weeks: 1.101 / 0.122; +4 weeks, 3× replay, growth
0.15: 1.045 / 0.160; sample 2k+2k: 0.988 / 0.490; sample 1k+1k: 1.035 / 0.422; alternate 2:
1.020 / 0.290; alternate 3: 1.047 / 0.184. More rounds do not help a warm start; more context
does (older replayed rows, the last weeks again). A fresh 200-tree model costs ~0.1 s even on
2k rows (per-tree overhead), so a weekly fresh model cannot fit a 20 % budget.
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

    def update(rounds: int, growth: float, replay: int = 1, recent: int = 0):
        def step(model, end, idx, rng, last_full, k):
            if end >= last_full * (1 + growth):
                return fit(np.arange(end)), end
            start = int(idx[0])
            old = rng.choice(start, size=min(replay * len(idx), start), replace=False)
            rows = np.unique(np.concatenate([old, np.arange(max(0, start - recent), start), idx]))
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
    print(f"{'recipe':30} {'error ×':>8} {'CPU ×':>7}")
    for name, step in [
        ("update 10 (growth 0.25)", update(10, 0.25)),
        ("update 30 (growth 0.25)", update(30, 0.25)),
        ("update 10, 3x replay (g 0.25)", update(10, 0.25, replay=3)),
        ("update 10, +4 weeks (g 0.25)", update(10, 0.25, recent=4 * 168)),
        ("update 10, +4wk 3x (g 0.15)", update(10, 0.15, replay=3, recent=4 * 168)),
        ("sample 2k+2k (growth 0.25)", sample(2000, 2000, 0.25)),
        ("sample 1k+1k (growth 0.5)", sample(1000, 1000, 0.5)),
        ("alternate 2, 1k+2k (g 0.5)", alternate(2, 1000, 2000, 0.5)),
        ("alternate 3, 1k+2k (g 0.5)", alternate(3, 1000, 2000, 0.5)),
    ]:
        err, cpu = run(step)
        print(f"{name:30} {err / base_err:8.3f} {cpu / base_cpu:7.3f}")


if __name__ == "__main__":
    main()
