"""What an update's training CPU is made of, and the floor it puts under the default's CPU ratio.

Runs the default policy and ``always-retrain`` with :func:`driftkeeper.run_backtest` on streams of
``benchmarks/streams.py`` (LightGBM, one thread; the configurations of ``maintenance.py``) and
splits every update's training CPU — what the run record counts, and what a budget spends and
``maintenance.py`` sums — into

* ``read``: reading its rows from the store (the record's ``read_cpu_s``);
* ``lgb setup``: building LightGBM's Datasets and Booster (``lightgbm.Booster.__init__``, which
  bins the rows, and ``Booster.add_valid``);
* ``rounds``: the boosting rounds (``lightgbm.Booster.update``, which also updates the held-out
  rows' scores), the patience rounds included, with the count and the cost of one;
* ``rest``: everything else inside the clock — typing the frame, the model's matrix, the base
  model's scores of the rows, the replay reservoir, the held-out rows' metric and the stopping
  callback after each round, cutting the patience rounds.

The CPU of the LightGBM calls is measured around them, only while an update trains. Then the
*floor*: the default's training CPU × ``always-retrain`` with the updates' boosting rounds taken
out — what the default would cost if every correction kept no round at all, its retrains, initial
fit and every other part of its updates as measured. A stream whose floor is near the goal's 0.20
cannot meet it with an update every batch, however few rounds a correction keeps.

Run:  .venv/bin/python benchmarks/update_cost.py [--streams fried-gsg lending bike] [--configs both]
Latest numbers: ``benchmarks/RESULTS.md`` ("What an update costs, and the floor it sets").
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from maintenance import CONFIGS, _records, model  # noqa: E402
from streams import load, names  # noqa: E402

PARTS = ("read", "lgb setup", "rounds", "rest")


class Clock:
    """CPU seconds spent in the wrapped LightGBM calls while an update trains."""

    def __init__(self) -> None:
        self.on = False
        self.reset()

    def reset(self) -> None:
        self.spent = {"lgb setup": 0.0, "rounds": 0.0}
        self.n_rounds = 0

    def timed(self, fn: Any, part: str) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return fn(*args, **kwargs)
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[part] += time.process_time() - t
                self.n_rounds += part == "rounds"
        return wrapper


def instrument() -> Clock:
    """Wrap the LightGBM calls (in this process, for good) and switch the clock on for the
    duration of each update (``keeper.apply._update``, which ``apply.train`` calls by name)."""
    import lightgbm as lgb

    from driftkeeper.keeper import apply

    clock = Clock()
    lgb.Booster.__init__ = clock.timed(lgb.Booster.__init__, "lgb setup")
    lgb.Booster.add_valid = clock.timed(lgb.Booster.add_valid, "lgb setup")
    lgb.Booster.update = clock.timed(lgb.Booster.update, "rounds")
    update = apply._update

    @functools.wraps(update)
    def _update(*args: Any, **kwargs: Any) -> Any:
        clock.on = True
        try:
            return update(*args, **kwargs)
        finally:
            clock.on = False

    apply._update = _update
    return clock


def run(name: str, config: str, overrides: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from driftkeeper import run_backtest
    from driftkeeper.table import infer_task

    df, kw = load(name)
    task = infer_task(df[kw["target"]])
    out: dict[str, Any] = {"stream": name, "config": config}
    for policy in ("default", "always-retrain"):
        clock.reset()
        work = Path(tempfile.mkdtemp(prefix="update-cost-"))
        try:
            d = run_backtest(df, policies=[policy], model=model(task, overrides), dataset=name, workdir=work, **kw).to_dict()
            (p,) = d["policies"]
            out[policy] = {"cpu": p["train_cpu_s"], "error": p["mean_error"], "retrains": p["retrains"], "updates": p["updates"]}
            if policy == "default":
                (root,) = [r for r in work.iterdir() if r.is_dir()]
                trainings = [r["training"] for r in _records(root) if r.get("training")]
                ups = [t for t in trainings if t.get("action") != "retrain" and not t.get("skipped") and t.get("cpu_s")]
                total = sum(float(t["cpu_s"]) for t in ups)
                read = sum(float(t.get("read_cpu_s") or 0.0) for t in ups)
                parts = {"read": read, **clock.spent}
                parts["rest"] = total - sum(parts.values())
                out["updates"] = {"n": len(ups), "cpu": total, "parts": parts, "rounds": clock.n_rounds}
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


def table(rows: list[dict[str, Any]]) -> None:
    print("\nan update's training CPU, ms per update (share of it):")
    print(f"{'stream':15} {'config':7} {'updates':>7} {'total':>7} " + " ".join(f"{p:>15}" for p in PARTS)
          + f" {'rounds':>6} {'ms/round':>8}")
    for r in rows:
        u = r["updates"]
        n = max(u["n"], 1)
        cells = " ".join(f"{1e3 * u['parts'][p] / n:7.1f} ({u['parts'][p] / u['cpu']:4.0%})" if u["cpu"] else f"{'-':>15}" for p in PARTS)
        per_round = 1e3 * u["parts"]["rounds"] / u["rounds"] if u["rounds"] else float("nan")
        print(f"{r['stream']:15} {r['config']:7} {u['n']:7d} {1e3 * u['cpu'] / n:7.1f} {cells} {u['rounds'] / n:6.1f} {per_round:8.2f}")
    print("\nthe default's training CPU × always-retrain's, and its floor (the updates' boosting rounds taken out):")
    print(f"{'stream':15} {'config':7} {'error ×':>8} {'CPU ×':>7} {'updates ×':>9} {'retrains+init ×':>15} {'floor ×':>8}  rt/up")
    for r in rows:
        d, a, u = r["default"], r["always-retrain"], r["updates"]
        ar = a["cpu"] or float("nan")
        print(f"{r['stream']:15} {r['config']:7} {d['error'] / a['error']:8.3f} {d['cpu'] / ar:7.3f} {u['cpu'] / ar:9.3f} "
              f"{(d['cpu'] - u['cpu']) / ar:15.3f} {(d['cpu'] - u['parts']['rounds']) / ar:8.3f}  {d['retrains']}/{d['updates']}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", nargs="+", default=["fried-gsg", "lending", "bike"],
                    help="stream names or groups of benchmarks/streams.py")
    ap.add_argument("--configs", choices=sorted(CONFIGS), default="both")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    clock = instrument()  # once: the wrappers only count while an update trains
    rows = []
    for name in names(args.streams):
        for config, overrides in CONFIGS[args.configs]:
            rows.append(run(name, config, overrides, clock))
            u = rows[-1]["updates"]
            print(f"{name} {config}: {u['n']} updates, {u['cpu']:.2f} s", flush=True)
    table(rows)
    print(f"total wall {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
