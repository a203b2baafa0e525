"""Model maintenance on real drifting data: error × training CPU of each policy, with the runner.

Runs :func:`driftkeeper.run_backtest` (the production runner, policy, adapter, gate and
registry; a temporary root per policy) on the four datasets of ../shared/data with LightGBM
(``build_model("lightgbm")``: 200 trees, learning rate 0.05, 31 leaves; one thread so CPU
seconds compare work):

* Bike Sharing hourly — weekly batches of ``dteday``+``hr``; ``casual``/``registered``/``instant`` dropped;
* King County house sales — weekly batches of ``date``; ``id`` dropped;
* Elec2 — no usable time column: row order, 336-row batches (one week of half hours); ``date`` dropped;
* LendingClub 2007–2011 — file reversed into time order, 1,000-row batches; ``revol_util``
  ("83.70%") and ``term`` ("36 months") turned into numbers.

The first 20 % of the rows (to the end of that week for weekly batches) train version 1.
Errors are MAE (regression) and error rate (classification), lower is better, scored on each
batch by the serving model before it learns from it; each policy decides with its own metric.
The same predictions are also scored with RMSE (regression), log loss and 1 - ROC AUC
(classification): LendingClub's error rate is a weak judge — 14.5 % of its loans are charged
off, so "never predict a charge-off" has an error rate of 0.145, below every model's.

Printed per dataset: every policy's mean error and training CPU, then the goal check of the
default policy against ``always-retrain``: error ratio ≤ 1.02 at ≤ 20 % of the training CPU
(and the ratios of every other policy). ``--breakdown`` adds each policy's training CPU by
action and rule (e.g. how much the performance-drop retrains cost). Latest numbers and what was
tried: ``benchmarks/RESULTS.md``.

Run:  .venv/bin/python benchmarks/maintenance.py [--datasets bike kc elec2 lending]
          [--policies default always-retrain never periodic] [--quick] [--jobs 2] [--json out.json]
          [--breakdown] [--lgbm n_estimators=100 learning_rate=0.1 ...]
``--quick`` keeps the first 40 % of each dataset. ``--policy FILE`` benchmarks another default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GOAL_ERROR, GOAL_CPU = 1.02, 0.20


def load(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame and the backtest arguments of one dataset."""
    if name == "bike":
        df = pd.read_csv(DATA / "bike_sharing_hour.csv.gz")
        df["ts"] = (pd.to_datetime(df["dteday"]) + pd.to_timedelta(df["hr"], unit="h")).dt.strftime("%Y-%m-%d %H:%M")
        df = df.drop(columns=["instant", "casual", "registered", "dteday"])
        return df, dict(target="cnt", time_column="ts", every="W", metric="mae", also_metrics=["rmse"])
    if name == "kc":
        df = pd.read_csv(DATA / "kc_house_data.csv.gz").drop(columns=["id"])
        df["date"] = pd.to_datetime(df["date"], format="%Y%m%dT%H%M%S").dt.strftime("%Y-%m-%d")
        return df, dict(target="price", time_column="date", every="W", metric="mae", also_metrics=["rmse"])
    if name == "elec2":
        df = pd.read_csv(DATA / "elec2_elecNormNew.csv.gz").drop(columns=["date"])
        return df, dict(target="class", every="336rows", metric="error_rate", also_metrics=["log_loss", "roc_auc"])
    if name == "lending":
        df = pd.read_csv(DATA / "lendingclub_loanstats3a_2007_2011_subset.csv.gz").iloc[::-1].reset_index(drop=True)
        df["revol_util"] = pd.to_numeric(df["revol_util"].astype(str).str.rstrip("%"), errors="coerce")
        df["term"] = pd.to_numeric(df["term"].astype(str).str.extract(r"(\d+)")[0], errors="coerce")
        return df, dict(target="loan_status", every="1000rows", metric="error_rate", also_metrics=["log_loss", "roc_auc"])
    raise SystemExit(f"unknown dataset {name!r}; expected bike, kc, elec2, lending")


def model(task: str, overrides: dict[str, Any] | None = None):
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    params = dict(n_estimators=200, learning_rate=0.05, num_leaves=31, random_state=0, deterministic=True, verbose=-1, n_jobs=1)
    return cls(**{**params, **(overrides or {})})


def parse_lgbm(items: list[str]) -> dict[str, Any]:
    """``["n_estimators=100", "learning_rate=0.1"]`` → a dict of ints, floats or strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--lgbm {item!r}: expected KEY=VALUE, e.g. n_estimators=100")
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def run_one(name: str, policies: list[str], quick: bool, lgbm: dict[str, Any] | None = None) -> dict[str, Any]:
    from driftkeeper.table import infer_task
    from driftkeeper import run_backtest

    df, kw = load(name)
    if quick:
        df = df.iloc[: int(len(df) * 0.4)]
    task = infer_task(df[kw["target"]])
    from driftkeeper.exceptions import DriftkeeperError

    t = time.perf_counter()
    meta: dict[str, Any] = {"dataset": name, "metric": kw["metric"], "batches": 0}
    rows: list[dict[str, Any]] = []
    for pol in policies:  # one at a time, so a policy that cannot run here (a {days: N} window
        try:              # on row batches) is reported instead of aborting the dataset
            d = run_backtest(df, policies=[pol], model=model(task, lgbm), dataset=name, **kw).to_dict()
        except DriftkeeperError as exc:
            rows.append({"name": str(pol), "error": str(exc)})
            continue
        rows += d.pop("policies")
        meta = d
    out = {**meta, "policies": rows}
    out["wall_s"] = round(time.perf_counter() - t, 1)
    return out


def ratios(d: dict[str, Any], name: str, base: str = "always-retrain") -> tuple[float, float] | None:
    pols = {p["name"]: p for p in d["policies"]}
    if name not in pols or base not in pols:
        return None
    a, b = pols[name], pols[base]
    if "error" in a or "error" in b:
        return None
    return a["mean_error"] / b["mean_error"], a["train_cpu_s"] / max(b["train_cpu_s"], 1e-9)


def cpu_breakdown(p: dict[str, Any]) -> str:
    """Training CPU of one policy by (action, rule), largest first: where the budget goes."""
    parts: dict[tuple[str, str], list[float]] = {}
    for b in p.get("per_batch", []):
        if b.get("train_cpu_s"):
            acc = parts.setdefault((b["action"], b.get("rule") or "-"), [0, 0.0])
            acc[0] += 1
            acc[1] += b["train_cpu_s"]
    items = sorted(parts.items(), key=lambda kv: -kv[1][1])
    return ", ".join(f"{a} by {r} {n}× {s:.2f} s" for (a, r), (n, s) in items) or "no training"


def print_table(results: list[dict[str, Any]], primary: str, breakdown: bool = False) -> None:
    from driftkeeper.metrics import get_metric

    print(f"{'dataset':8} {'policy':16} {'metric':10} {'mean error':>11} {'train CPU s':>12} {'retrains':>9} {'updates':>8} {'refused':>8} {'trees':>6}")
    for d in results:
        for p in d["policies"]:
            if "error" in p:
                print(f"{d['dataset']:8} {p['name']:16} cannot run here: {p['error']}")
                continue
            print(f"{d['dataset']:8} {p['name']:16} {d['metric']:10} {p['mean_error']:11.4g} {p['train_cpu_s']:12.2f} "
                  f"{p['retrains']:9d} {p['updates']:8d} {p['gate_refusals']:8d} {str(p['model_trees']):>6}")
        for p in d["policies"]:
            r = ratios(d, p["name"])
            if r and p["name"] not in (primary, "always-retrain"):
                print(f"{d['dataset']:8} {p['name']} vs always-retrain: error ×{r[0]:.3f}, training CPU ×{r[1]:.3f}")
        if breakdown:
            for p in d["policies"]:
                if "error" not in p:
                    print(f"{d['dataset']:8} {p['name']} training CPU: {cpu_breakdown(p)}")
        for m in d.get("other_metrics", []):
            pols = {p["name"]: p for p in d["policies"] if "error" not in p}
            if primary in pols and "always-retrain" in pols:
                a, b = pols[primary]["other_errors"][m], pols["always-retrain"]["other_errors"][m]
                label = f"1 - {m}" if get_metric(m).higher_is_better else m  # reported as errors
                print(f"{d['dataset']:8} also {label}: {primary} {a:.4g}, always-retrain {b:.4g} → ×{a / b:.3f}")
        r = ratios(d, primary)
        if r:
            ok = r[0] <= GOAL_ERROR and r[1] <= GOAL_CPU
            print(f"{d['dataset']:8} {primary} vs always-retrain: error ×{r[0]:.3f}, training CPU ×{r[1]:.3f} → goal "
                  f"(≤{GOAL_ERROR} error, ≤{GOAL_CPU:.0%} CPU) {'MET' if ok else 'NOT met'}   [{d['batches']} batches, {d['wall_s']} s wall]")
        print()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["bike", "kc", "elec2", "lending"])
    ap.add_argument("--policies", nargs="+", default=["default", "always-retrain", "never"],
                    help="shipped names or files ('periodic' has a {days: 180} window: it cannot run on elec2/lending)")
    ap.add_argument("--policy", default=None, help="policy file benchmarked in place of 'default'")
    ap.add_argument("--quick", action="store_true", help="first 40%% of each dataset")
    ap.add_argument("--jobs", type=int, default=2, help="datasets run in parallel processes")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--breakdown", action="store_true", help="also print each policy's training CPU by action and rule")
    ap.add_argument("--lgbm", nargs="+", default=[], metavar="KEY=VALUE",
                    help="LightGBM parameters in place of the defaults (e.g. n_estimators=100 learning_rate=0.1): "
                    "does the default policy hold for another model?")
    args = ap.parse_args(argv)
    policies = [args.policy if (p == "default" and args.policy) else p for p in args.policies]
    lgbm = parse_lgbm(args.lgbm)
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(run_one, n, policies, args.quick, lgbm) for n in args.datasets]
        results = [f.result() for f in futs]
    print_table(results, results[0]["policies"][0]["name"], breakdown=args.breakdown)
    print(f"total wall {time.perf_counter() - t:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
