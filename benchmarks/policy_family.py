"""Can any policy of a family of default variants meet the maintenance goal on every cell?

``maintenance.py`` judges one policy, the shipped default. This script asks the question behind
a miss: is the goal (error ≤ 1.02× ``always-retrain`` at ≤ 0.20 of its training CPU) out of reach
of the default's *constants*, or of the *kind* of policy? It runs ``always-retrain`` once and
every variant of the family below on each stream × LightGBM configuration, in one process, one
after the other (the ratios are side by side in one run), and prints for each cell

* each variant's error × and training CPU × of ``always-retrain`` (and its work ×: rows × trees
  trained, which the clock's noise does not move), marked ``*`` where it meets the goal;
* whether *some* variant meets it there (a per-stream choice, made with hindsight), and how
  many cells each variant meets (one policy for all).

The variants change what earlier screens named as the levers (``benchmarks/RESULTS.md``):
fewer updates (``fallback: none``: an update only when the error or the data moved), smaller
updates (two relearned batches, 20 rounds), rarer retrains (data growth 1.0), a budget that
aims to bound spending (``budget: 0.2`` / ``0.15``), and two combinations; and the other way, for a
stream whose miss is its error: retrains sooner after a drop (0.15, 0.1) and bigger corrections
(ten relearned batches, 80 rounds). ``--variants`` runs some of them. It is an analysis, not a
tuning of the default: the default ships unchanged whatever it prints.

Run:  .venv/bin/python benchmarks/policy_family.py --streams synth --configs both --jsonl out.jsonl
      .venv/bin/python benchmarks/policy_family.py --summary out1.jsonl out2.jsonl   (the table again)
Latest numbers: ``benchmarks/RESULTS.md`` ("Is the goal within reach of any variant?").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from maintenance import CONFIGS, GOAL_CPU, GOAL_ERROR, run_one  # noqa: E402
from streams import names  # noqa: E402

#: name → (top-level keys, edits of ``driftkeeper.backtest.tuning.apply_edits``)
FAMILY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "shipped": ({}, {}),
    "budget-0.2": ({"budget": 0.2}, {}),
    "budget-0.15": ({"budget": 0.15}, {}),
    "no-fallback": ({"fallback": "none"}, {}),
    "relearn-2": ({}, {"relearn_batches": 2}),
    "growth-1": ({}, {"data_growth": 1.0}),
    "small-updates": ({}, {"relearn_batches": 2, "rounds": 20}),
    "no-fallback+growth-1": ({"fallback": "none"}, {"data_growth": 1.0}),
    "cheapest": ({"fallback": "none"}, {"relearn_batches": 2, "rounds": 20, "data_growth": 1.0}),
    # the other way: retrain sooner after a drop (the tune space's eager end), for a stream whose
    # miss is its error
    "drop-0.15": ({}, {"drop_since_retrain": 0.15}),
    "drop-0.1": ({}, {"drop_since_retrain": 0.1}),
    # ... or learn more in each correction
    "relearn-10": ({}, {"relearn_batches": 10}),
    "big-updates": ({}, {"relearn_batches": 10, "rounds": 80}),
}


def write_family(folder: Path, labels: list[str]) -> list[str]:
    """One YAML file per variant ``labels`` of the shipped default (named after it); their paths."""
    import yaml

    from driftkeeper.backtest.tuning import apply_edits
    from driftkeeper.policy import load_policy

    base = yaml.safe_load(load_policy("default").text)
    paths = []
    for label in labels:
        top, edits = FAMILY[label]
        data = apply_edits(base, edits)
        data.update(top, name=label, description=f"benchmarks/policy_family.py: the default with {top or ''} {edits or ''}".strip())
        path = folder / f"{label}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        load_policy(path)  # refuse a variant the policy schema refuses, before any run
        paths.append(str(path))
    return paths


def cell(d: dict[str, Any]) -> dict[str, Any]:
    """A stream × configuration's result: each variant's ratios to ``always-retrain``."""
    # a policy the backtest could not run is reported under its file's path: keyed by its stem
    pols = {Path(p["name"]).stem if str(p["name"]).endswith(".yaml") else p["name"]: p for p in d["policies"]}
    ref = pols.get("always-retrain")
    out: dict[str, Any] = {"stream": d["dataset"], "config": d["config"], "batches": d.get("batches"), "variants": {}}
    if ref is None or ref.get("error"):
        out["error"] = (ref or {}).get("error", "always-retrain missing")
        return out
    out["always-retrain"] = {"error": ref["mean_error"], "cpu": ref["train_cpu_s"], "work": ref["work"]}
    for label in FAMILY:
        p = pols.get(label)
        if p is None:
            continue  # not run on this cell
        if p.get("error"):
            out["variants"][label] = {"failed": (p or {}).get("error", "missing")}
            continue
        out["variants"][label] = {
            "error": p["mean_error"] / max(ref["mean_error"], 1e-12), "cpu": p["train_cpu_s"] / max(ref["train_cpu_s"], 1e-9),
            "work": p["work"] / max(ref["work"], 1), "retrains": p["retrains"], "updates": p["updates"],
        }
    return out


def meets(v: dict[str, Any], cpu: str = "cpu") -> bool:
    return "failed" not in v and v["error"] <= GOAL_ERROR and v[cpu] <= GOAL_CPU


def matrix(cells: list[dict[str, Any]], labels: list[str]) -> None:
    """Every cell on one line: each variant's error × / CPU ×, ``*`` where it meets the goal."""
    shown = [k for k in labels if any(k in c["variants"] for c in cells)]
    print("\nerror × / CPU × of always-retrain, one line per cell (* meets the goal; - not run)")
    print(f"{'cell':21} " + " ".join(f"{k[:12]:>12}" for k in shown))
    for c in cells:
        out = []
        for k in shown:
            v = c["variants"].get(k)
            out.append(f"{'-':>12}" if v is None else f"{'failed':>12}" if "failed" in v
                       else f"{v['error']:.3f}/{v['cpu']:.3f}{'*' if meets(v) else ' '}".rjust(12))
        print(f"{c['stream'] + '@' + c['config']:21} " + " ".join(out))


def summary(cells: list[dict[str, Any]]) -> None:
    labels = list(FAMILY)
    print(f"\nerror × / training CPU × (work ×) of always-retrain; * = meets the goal (≤{GOAL_ERROR} error, ≤{GOAL_CPU} CPU)")
    for c in cells:
        print(f"\n{c['stream']}@{c['config']} ({c['batches']} batches)")
        if c.get("error"):
            print(f"  always-retrain failed: {c['error']}")
            continue
        for label in labels:
            if label not in c["variants"]:
                continue
            v = c["variants"][label]
            if "failed" in v:
                print(f"  {label:22} failed: {v['failed']}")
                continue
            mark = "*" if meets(v) else " "
            print(f"  {label:22} {v['error']:6.3f} / {v['cpu']:6.3f} ({v['work']:5.3f}) {mark}  {v['retrains']}/{v['updates']}")
    ok = [c for c in cells if not c.get("error")]
    matrix(ok, labels)
    print("\nper cell: does some variant meet the goal? (measured CPU | by work)")
    for c in ok:
        by_cpu = [k for k in labels if meets(c["variants"].get(k, {"failed": 1}))]
        by_work = [k for k in labels if meets(c["variants"].get(k, {"failed": 1}), "work")]
        print(f"  {c['stream'] + '@' + c['config']:24} {'yes' if by_cpu else 'NO ':3} ({len(by_cpu)}) | "
              f"{'yes' if by_work else 'NO ':3} ({len(by_work)})   {', '.join(by_cpu) or '-'}")
    print("\nper variant: cells met of the cells it ran on (measured CPU | by work)")
    for label in labels:
        ran = [c["variants"][label] for c in ok if label in c["variants"]]
        if ran:
            print(f"  {label:22} {sum(map(meets, ran)):3d} | {sum(meets(v, 'work') for v in ran):3d}  of {len(ran)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", nargs="+", default=["small"], help="stream names or groups of benchmarks/streams.py")
    ap.add_argument("--configs", choices=sorted(CONFIGS), default="both",
                    help="LightGBM configurations: default (200 trees), second (100 trees, learning rate 0.1, 63 leaves) or both")
    ap.add_argument("--variants", nargs="+", choices=list(FAMILY), default=list(FAMILY),
                    help="the variants to run (default: all of them)")
    ap.add_argument("--jsonl", type=Path, help="append each cell's result to this file as it is measured")
    ap.add_argument("--summary", nargs="+", type=Path, help="print the table of these --jsonl files and stop")
    args = ap.parse_args(argv)
    if args.summary:
        summary([json.loads(line) for f in args.summary for line in f.read_text().splitlines() if line.strip()])
        return
    t = time.perf_counter()
    cells = []
    with tempfile.TemporaryDirectory(prefix="policy-family-") as tmp:
        paths = write_family(Path(tmp), args.variants)
        for name in names(args.streams):
            for config, overrides in CONFIGS[args.configs]:
                d = run_one(name, ["always-retrain", *paths], quick=False, lgbm=overrides, config=config)
                cells.append(cell(d))
                if args.jsonl:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(cells[-1]) + "\n")
                print(f"{name}@{config}: {d.get('wall_s')} s wall", flush=True)
    summary(cells)
    print(f"total wall {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
