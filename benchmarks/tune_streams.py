"""``driftkeeper tune`` on the benchmark's streams: what a per-stream choice gives on batches it never saw.

``benchmarks/policy_family.py`` shows that no one policy meets the maintenance goal on every
stream, while per stream some variant does, chosen with hindsight. This script asks whether
:func:`driftkeeper.backtest.tune` finds such a choice *without* hindsight: it chooses on the
earlier 60 % of each stream's batches (its default space, optionally a ``--budget``) and the
chosen policy and ``always-retrain`` then run on the later 40 %, trained on everything before
them. Beside it, the shipped default on the same later batches (same split, same initial rows),
so the two later-part ratios are side by side in one process.

Run:  .venv/bin/python benchmarks/tune_streams.py --cells bike@lgb100 agrawal-small@lgb200 [--budget 0.2]
Latest numbers: ``benchmarks/RESULTS.md`` ("``tune`` on the hardest cells").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from maintenance import CONFIGS, GOAL_CPU, GOAL_ERROR, model  # noqa: E402
from streams import load  # noqa: E402

OVERRIDES = {name: overrides for pairs in CONFIGS.values() for name, overrides in pairs}


def one(cell: str, budget: float | None) -> dict[str, Any]:
    from driftkeeper import run_backtest
    from driftkeeper.backtest.replay import split_batches
    from driftkeeper.backtest.tuning import _parts, tune
    from driftkeeper.table import infer_task

    stream, _, config = cell.partition("@")
    df, kw = load(stream)
    task = infer_task(df[kw["target"]])
    lgbm = OVERRIDES[config or "lgb200"]
    t = time.perf_counter()
    res = tune(df, model=model(task, lgbm), budget=budget, dataset=stream, **{k: v for k, v in kw.items() if k != "also_metrics"})
    # the shipped default on the same later batches: tune's split, tune's initial rows
    init, batches = split_batches(df, every=kw["every"], time_column=kw.get("time_column"), initial=kw.get("initial"))
    k = res.earlier_batches
    assert len(init) == res.initial_rows and k == _parts(len(batches), res.split), "not tune's split"
    earlier = pd.concat([init, *batches[:k]], ignore_index=True)
    everything = pd.concat([earlier, *batches[k:]], ignore_index=True)
    settings = {key: v for key, v in kw.items() if key not in ("initial", "also_metrics")}
    d = run_backtest(everything, policies=["default"], model=model(task, lgbm), initial=len(earlier), dataset=stream,
                     **settings).to_dict()
    (dflt,) = d["policies"]
    ref = res.reference_later
    return {
        "cell": cell, "budget": budget, "chosen": res.chosen.label(), "budget_met": res.budget_met,
        "earlier_cpu": res.chosen.cpu_ratio, "later": res.later_ratios(),
        "default_later": {"error": dflt["mean_error"] / ref.mean_error if ref.mean_error else None,
                          "train_cpu": dflt["train_cpu_s"] / ref.train_cpu_s if ref.train_cpu_s else None},
        "batches": (res.earlier_batches, res.later_batches), "wall_s": round(time.perf_counter() - t),
    }


def cell(v: dict[str, Any]) -> str:
    """``error × / CPU ×``, ``*`` where it meets the goal; ``-`` when a ratio is unknown."""
    if v["error"] is None or v["train_cpu"] is None:
        return f"{'-':>13}"
    ok = v["error"] <= GOAL_ERROR and v["train_cpu"] <= GOAL_CPU
    return f"{v['error']:.3f}/{v['train_cpu']:.3f}{'*' if ok else ' '}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=["bike@lgb100", "agrawal-small@lgb200"],
                    help="stream@config (lgb200 or lgb100) of benchmarks/streams.py")
    ap.add_argument("--budget", type=float, help="tune's --budget (a share of always-retrain's training CPU)")
    args = ap.parse_args(argv)
    for cell in args.cells:
        if cell.partition("@")[2] not in ("", *OVERRIDES):
            raise SystemExit(f"{cell!r}: the configuration after @ must be one of {sorted(OVERRIDES)}")
    rows = []
    for cell in args.cells:
        rows.append(one(cell, args.budget))
        print(f"{cell}: {rows[-1]['wall_s']} s wall", flush=True)
    print(f"\nlater batches (never read while choosing): error × / training CPU × of always-retrain; goal ≤{GOAL_ERROR} at ≤{GOAL_CPU}")
    print(f"{'cell':22} {'budget':>6} {'batches':>8}  {'tuned':>13}  {'default':>13}  chosen (earlier CPU ×)")
    for r in rows:
        lat, dl = r["later"], r["default_later"]
        earlier = "-" if r["earlier_cpu"] is None else f"{r['earlier_cpu']:.3f}"
        print(f"{r['cell']:22} {str(r['budget'] or '-'):>6} {'%d+%d' % r['batches']:>8}  {cell(lat)}  {cell(dl)}  "
              f"{r['chosen']} ({earlier}){'' if r['budget_met'] else ' [none within budget]'}")


if __name__ == "__main__":
    main()
