"""Scale: does a night's cost follow the batch or the history? (issue "Scale", goals 1-3)

Builds synthetic regression tables (``--cols`` float columns + one 20-level categorical, a
seeded linear-plus-interaction target, a level shift in the batches so the default policy has
something to correct) and runs the real CLI in subprocesses, measuring each step's wall time and
peak RSS (``os.wait4``: the child's own maximum resident set):

1. ``driftkeeper init`` on roots holding ``--history`` rows (default 1 M and 4 M);
2. on a copy of each root, the same ``--batch``-row batch (default 200 k) as
   (a) an update night (the shipped default policy: it decides a correction) and
   (b) a no-action night (policy ``never``);
   goal 1: the ratios of the largest root over the smallest, wall and peak RSS, ≤ 1.2;
3. the essential work of an update night done by hand in one process — read the batch parquet,
   predict with the root's model, ``Monitor.check`` against the root's reference, fit
   ``--rounds`` correction trees on the batch with plain LightGBM (``init_score``) — goal 2: the
   update night's wall ≤ 3× that, peak RSS ≤ 1.5 GB;
4. a retrain on the largest root (policy ``always-retrain``) against plain ``lightgbm.train``
   with the same parameters on the same rows loaded from the root's own parquet partitions —
   goal 3: wall ≤ 1.2×, peak RSS ≤ 1.3×.

Everything is printed side by side from one run, with the ratios and the goal verdicts. The
default sizes need several GB of RAM and most of an hour on 2 cores (the 4 M-row init alone);
``--history 50000 200000 --batch 10000 --cols 20`` runs the same protocol in ~10 minutes.

Run:  .venv/bin/python benchmarks/scale.py [--history 1000000 4000000] [--batch 200000] [--cols 50]
          [--roots DIR]   # keep the inits in DIR and reuse them on the next run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PY = sys.executable


def table(rows: int, cols: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols)).astype(np.float64)
    df = pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(cols)])
    df["cat"] = pd.Categorical(rng.integers(0, 20, size=rows).astype(str))
    w = np.linspace(1.0, 0.1, cols)
    y = X @ w + 0.5 * X[:, 0] * X[:, 1] + df["cat"].cat.codes.to_numpy() * 0.05 + rng.normal(0, 0.5, rows) + shift
    df["y"] = y
    return df


def write_table(path: Path, rows: int, cols: int, seed: int, shift: float = 0.0) -> None:
    """:func:`table` to a parquet file, built in a child process. The measuring process must stay
    small: Linux carries a process's peak RSS over ``fork`` + ``exec`` into the child's
    ``ru_maxrss``, so a child forked from a parent holding a 4 M-row frame (or Arrow's pool
    after writing it) reported the parent's size as its own peak (an earlier version of this
    script did: every night "peaked" at ~1.1 GB on the 1 M-row root and ~3.7 GB on the 4 M one)."""
    subprocess.run([PY, str(Path(__file__).resolve()), "--write-table", str(path), str(rows), str(cols), str(seed),
                    str(shift)], check=True)


def measure(args: list[str], **kw) -> dict:
    """Run ``args``; wall seconds, peak RSS (MB) of that child, exit code and its output's tail.
    The peak is only the child's own while this process stays small (see :func:`write_table`)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 2), "rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "code": code, "tail": out.strip().splitlines()[-3:]}


def cli(*args: str) -> list[str]:
    return [PY, "-m", "driftkeeper", *args]


BY_HAND = r"""
import sys, time, numpy as np, pandas as pd, lightgbm as lgb
from driftkeeper import Keeper
root, batch_path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
keeper = Keeper.open(root)
bundle = keeper.registry.load("champion")
adapter, monitor = bundle.adapter, bundle.monitor
t = time.perf_counter()
batch = pd.read_parquet(batch_path)
X, y = batch.drop(columns=["y"]), batch["y"].to_numpy()
pred = adapter.predict(X)
monitor.check(X.assign(prediction=pred) if "prediction" in getattr(monitor, "schema_", {}) else X)
raw = adapter.booster_.predict(adapter._matrix(X), raw_score=True)
params = dict(adapter.params_, learning_rate=0.1)
ds = lgb.Dataset(adapter._matrix(X), label=y, init_score=raw, categorical_feature=adapter.categorical_indices_, params=params)
lgb.train(params, ds, num_boost_round=rounds)
print(time.perf_counter() - t)
"""

PLAIN_RETRAIN = r"""
import sys, glob, numpy as np, pandas as pd, pyarrow.parquet as pq, lightgbm as lgb
from driftkeeper import Keeper
root = sys.argv[1]
keeper = Keeper.open(root)
adapter = keeper.registry.load("champion").adapter
params, rounds = adapter._base_params()
frames = [pq.read_table(p).to_pandas() for p in sorted(glob.glob(root + "/data/b*.parquet"))]
df = pd.concat(frames, ignore_index=True)
del frames
df = df[df["y"].notna()]
X = df.drop(columns=[c for c in df.columns if c == "y" or c.startswith("__dk")])
X["cat"] = X["cat"].astype("category")
ds = lgb.Dataset(X, label=df["y"].to_numpy(), params=params, free_raw_data=True)
del df
lgb.train(params, ds, num_boost_round=rounds)
"""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-table"]:  # the child of write_table
        path, rows, cols, seed, shift = argv[1:6]
        table(int(rows), int(cols), int(seed), float(shift)).to_parquet(path)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, nargs=2, default=[1_000_000, 4_000_000], metavar=("SMALL", "LARGE"))
    ap.add_argument("--batch", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=40, help="correction trees fitted by hand (the default policy's rounds)")
    ap.add_argument("--skip-retrain", action="store_true")
    ap.add_argument("--only-retrain", action="store_true",
                    help="step 4 alone: init the LARGE root only and compare its retrain with plain lightgbm.train")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--roots", type=Path, default=None, metavar="DIR",
                    help="keep the initialised roots (and the batch) in DIR and reuse those already there: the "
                    "nights and the retrain are measured again without repeating the inits (their figures are "
                    "then left out)")
    ap.add_argument("--skip-nights", action="store_true", help="steps 1-3 left out (with --roots: the retrain alone)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dk-scale-"))
    keep = args.roots
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    results: dict = {"history": args.history, "batch": args.batch, "cols": args.cols}
    print(f"this process: {_own_rss_mb():.0f} MB resident (a floor under every child's reported peak)", flush=True)
    try:
        batch = (keep or work) / f"batch{args.batch}x{args.cols}.parquet"
        if not batch.exists():
            write_table(batch, args.batch, args.cols, seed=99, shift=1.0)
        for h in (args.history[1:] if args.only_retrain else args.history):
            root = (keep or work) / f"root{h}x{args.cols}"
            if (root / "state.json").exists():
                print(f"init {h:>9,} rows: reused {root}", flush=True)
            else:
                shutil.rmtree(root, ignore_errors=True)  # an init that did not finish
                data = work / f"hist{h}.parquet"
                write_table(data, h, args.cols, seed=h % 1000)
                r = measure(cli("init", str(root), "--data", str(data), "--target", "y"), env=env)
                results[f"init_{h}"] = r
                print(f"init {h:>9,} rows: {r['wall_s']:7.1f} s wall, {r['rss_mb']:8.0f} MB peak (exit {r['code']})", flush=True)
                data.unlink()
            if args.only_retrain or args.skip_nights:
                continue
            for night, policy in (("update", "default"), ("none", "never")):
                copy = work / f"root{h}-{night}"
                shutil.copytree(root, copy)
                (copy / "policy.yaml").write_text(_shipped(policy))
                r = measure(cli("run", str(copy), "--batch", str(batch), "--no-html", "--json"), env=env)
                results[f"{night}_{h}"] = r
                print(f"  {night:>6} night on {h:>9,}: {r['wall_s']:7.1f} s wall, {r['rss_mb']:8.0f} MB peak (exit {r['code']})", flush=True)
                shutil.rmtree(copy)
            if h == args.history[0]:
                r = measure([PY, "-c", BY_HAND, str(root), str(batch), str(args.rounds)], env=env)
                results["by_hand"] = r
                print(f"  by hand (read+predict+check+{args.rounds} trees): {r['wall_s']:7.1f} s wall, {r['rss_mb']:8.0f} MB peak", flush=True)
        big = (keep or work) / f"root{args.history[1]}x{args.cols}"
        if not args.skip_retrain:
            copy = work / "retrain"
            shutil.copytree(big, copy)
            (copy / "policy.yaml").write_text(_shipped("always-retrain"))
            results["retrain"] = measure(cli("run", str(copy), "--batch", str(batch), "--no-html", "--json"), env=env)
            results["plain_retrain"] = measure([PY, "-c", PLAIN_RETRAIN, str(copy)], env=env)
        _report(results, args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _own_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shipped(name: str) -> str:
    """The text of a shipped policy."""
    from importlib import resources

    return (resources.files("driftkeeper") / "policies" / f"{name}.yaml").read_text()


def _report(res: dict, args) -> None:
    small, large = args.history

    def ratio(a: str, b: str, key: str) -> float:
        return res[a][key] / max(res[b][key], 1e-9)

    print()
    print(f"{'goal':<48} {'measured':>10} {'goal':>6}  verdict")
    rows = [] if args.only_retrain or args.skip_nights else [
        (f"1. update night wall, {large:,} / {small:,} rows", ratio(f"update_{large}", f"update_{small}", "wall_s"), 1.2),
        (f"1. update night peak RSS, {large:,} / {small:,}", ratio(f"update_{large}", f"update_{small}", "rss_mb"), 1.2),
        (f"1. no-action night wall, {large:,} / {small:,}", ratio(f"none_{large}", f"none_{small}", "wall_s"), 1.2),
        (f"1. no-action night peak RSS, {large:,} / {small:,}", ratio(f"none_{large}", f"none_{small}", "rss_mb"), 1.2),
        ("2. update night wall / by hand", ratio(f"update_{small}", "by_hand", "wall_s"), 3.0),
    ]
    if "retrain" in res:
        rows += [("3. retrain wall / plain lightgbm.train", ratio("retrain", "plain_retrain", "wall_s"), 1.2),
                 ("3. retrain peak RSS / plain lightgbm.train", ratio("retrain", "plain_retrain", "rss_mb"), 1.3)]
    for name, value, goal in rows:
        print(f"{name:<48} {value:>10.2f} {goal:>6}  {'met' if value <= goal else 'NOT met'}")
    if "retrain" in res:
        for step in ("retrain", "plain_retrain"):
            r = res[step]
            print(f"{step:<48} {r['wall_s']:>8.1f} s {r['rss_mb']:>8.0f} MB peak  (exit {r['code']})")
    if args.only_retrain or args.skip_nights:
        return
    rss = res[f"update_{small}"]["rss_mb"]
    print(f"{'2. update night peak RSS (MB)':<48} {rss:>10.0f} {1536:>6}  {'met' if rss <= 1536 else 'NOT met'}")


if __name__ == "__main__":
    main()
