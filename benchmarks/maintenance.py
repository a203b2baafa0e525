"""Model maintenance on drifting data: error × training CPU of each policy, with the runner.

Runs :func:`driftkeeper.run_backtest` (the production runner, policy, adapter, gate and
registry; a temporary root per policy) on the streams of ``benchmarks/streams.py`` with LightGBM
(one thread so CPU seconds compare work). The four real datasets the default policy was tuned
on (``real4``, the default):

* Bike Sharing hourly — weekly batches of ``dteday``+``hr``; ``casual``/``registered``/``instant`` dropped;
* King County house sales — weekly batches of ``date``; ``id`` dropped;
* Elec2 — no usable time column: row order, 336-row batches (one week of half hours); ``date`` dropped;
* LendingClub 2007–2011 — file reversed into time order, 1,000-row batches; ``revol_util``
  ("83.70%") and ``term`` ("36 months") turned into numbers.

and streams it was not tuned on (``new``): Melbourne housing (log price, weekly), Airlines
(6,000-row batches) and eight seeded ``river.datasets.synth`` drift streams (``synth``: abrupt,
recurring, gradual and incremental drift; 400-row batches; and ``small``: two short streams of
40- and 100-row batches). ``streams.py`` says how each is built.

The first 20 % of the rows (to the end of that week for weekly batches) train version 1.
Errors are MAE (regression) and error rate (classification), lower is better, scored on each
batch by the serving model before it learns from it; each policy decides with its own metric.
The same predictions are also scored with RMSE (regression), log loss and 1 - ROC AUC
(classification): LendingClub's error rate is a weak judge — 14.5 % of its loans are charged
off, so "never predict a charge-off" has an error rate of 0.145, below every model's.

Model configurations (``--configs``): ``default`` = ``build_model("lightgbm")``'s 200 trees,
learning rate 0.05, 31 leaves (label ``lgb200``); ``second`` = 100 trees, learning rate 0.1,
63 leaves (``lgb100``); ``both`` runs every stream × both. ``--lgbm KEY=VALUE ...`` runs one
custom configuration instead (label ``custom``).

Printed per stream (× configuration): every policy's mean error and training CPU, then the goal
check of the default policy against ``always-retrain``: error ratio ≤ 1.02 at ≤ 20 % of the
training CPU (and the ratios of every other policy). ``--breakdown`` adds each policy's
training CPU by action and rule (e.g. how much the performance-drop retrains cost). Last, one
summary table of every stream × configuration: error ratio, CPU ratio and a deterministic work
count beside the CPU seconds — rows × trees trained, summed over every training (the initial fit
included, refused candidates too), read from the run records: a retrain is its training rows ×
``n_estimators``; an update its rows (relearned + new) × the boosting rounds it ran (with early
stopping: the rounds kept + the patience, at most the policy's ``rounds``), plus any holdout
rows learned afterwards × their rounds. A stream or policy the runner refuses is printed as a
failed row (the error and the batch it failed on) instead of aborting the benchmark. Latest
numbers and what was tried: ``benchmarks/RESULTS.md``.

``--label-delay N`` (or a span like ``90D`` for streams with a time column) replays every
stream with late labels: batch *i*'s labels reach the runner with batch *i + N* (the runner's
late-labels path; streams without an id column are numbered), each batch still scored on its
true labels. The tables are the same; every stream's label says ``/delay N``.

``--estimates off`` runs every policy with ``estimates: off`` (a copy of its file with that key,
named ``<policy>-estimates-off``): its performance signals and learning debt wait for realised
labels. ``--estimates both`` runs the primary policy both ways and prints the two side by side
(error and training CPU of the policy with its estimates over the same policy without) — under a
label delay, what acting on the estimated metric buys.

Run:  .venv/bin/python benchmarks/maintenance.py [--streams bike kc elec2 lending | real4 | new | synth | small | all]
          [--policies default always-retrain never periodic] [--configs default|second|both]
          [--quick] [--jobs 2] [--json out.json] [--breakdown] [--lgbm n_estimators=100 learning_rate=0.1 ...]
          [--label-delay 4] [--estimates auto|off|both]
``--quick`` keeps the first 40 % of each stream. ``--policy FILE`` benchmarks another default.
``--datasets`` is the old name of ``--streams``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streams import DATA, REAL4, load, names  # noqa: E402,F401  (load: also used by retrain_recipes.py)

GOAL_ERROR, GOAL_CPU = 1.02, 0.20
SECOND = dict(n_estimators=100, learning_rate=0.1, num_leaves=63)
CONFIGS = {"default": [("lgb200", {})], "second": [("lgb100", SECOND)], "both": [("lgb200", {}), ("lgb100", SECOND)]}


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


def _records(root: Path) -> list[dict[str, Any]]:
    """The run records a policy's keeper root holds, in run order (run ids start with the UTC time)."""
    return [json.loads(f.read_text()) for f in sorted(root.glob("runs/*/record.json"))]


def _initial_train_rows(root: Path) -> int | None:
    """Rows version 1 was fitted on (the initial rows less the holdout its baseline is scored on)."""
    try:
        return int(json.loads((root / "versions" / "v0001" / "meta.json").read_text())["metrics"]["train_rows"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def training_work(tr: dict[str, Any] | None, fit_trees: int) -> tuple[int, int]:
    """(training rows, rows × trees trained) of one run record's ``training``; (0, 0) when none ran.

    A retrain fits ``fit_trees`` trees on its rows. An update boosts its rows (relearned + new)
    for ``params.rounds`` rounds, or with early stopping until ``early_stopping_rounds`` rounds
    after the best one (``rounds_kept``), at most ``rounds``. A holdout learned after the gate
    adds its rows × ``holdout_rounds``. Binary and regression models grow one tree per round.
    """
    if not tr or tr.get("skipped") or not tr.get("rows"):
        return 0, 0
    rows = int(tr["rows"])
    if tr.get("action") == "retrain":
        return rows, rows * fit_trees
    params = tr.get("params") or {}
    rounds = int(params.get("rounds") or 10)
    if params.get("early_stopping_rounds") and tr.get("rounds_kept") is not None:
        rounds = min(int(tr["rounds_kept"]) + int(params["early_stopping_rounds"]), rounds)
    work = rows * rounds
    if tr.get("holdout_learned") and tr.get("holdout_rounds"):
        work += int(tr["holdout_learned"]) * int(tr["holdout_rounds"])
    return rows, work


def run_one(name: str, policies: list[str], quick: bool, lgbm: dict[str, Any] | None = None,
            config: str | None = None, label_delay: int | str = 0) -> dict[str, Any]:
    """One stream under each policy (one backtest each). A stream that cannot be loaded, or a
    policy the runner refuses on it, becomes a row with ``error`` (and ``failed_at_batch``:
    the batch the run stopped at) instead of an exception."""
    import shutil
    import tempfile
    import traceback

    from driftkeeper.table import infer_task
    from driftkeeper import run_backtest

    t = time.perf_counter()
    meta: dict[str, Any] = {"dataset": name, "metric": "-", "batches": 0, "label_delay": label_delay}
    out_extra = {"config": config, "lgbm": dict(lgbm or {})}
    rows: list[dict[str, Any]] = []
    try:
        df, kw = load(name)
    except Exception as exc:  # noqa: BLE001  (e.g. the data folder is not there)
        rows = [{"name": str(p), "error": f"cannot load the stream: {type(exc).__name__}: {exc}"} for p in policies]
        return {**meta, **out_extra, "policies": rows, "wall_s": round(time.perf_counter() - t, 1)}
    if quick:
        df = df.iloc[: int(len(df) * 0.4)]
    task = infer_task(df[kw["target"]])
    meta["metric"] = kw["metric"]
    fit_trees = int(model(task, lgbm).get_params()["n_estimators"])
    # one policy at a time, in its own keeper root: a policy that cannot run here (a {days: N}
    # window on row batches, a batch the runner refuses) is reported instead of aborting the stream
    for pol in policies:
        work = Path(tempfile.mkdtemp(prefix="maintenance-"))
        try:
            try:
                d = run_backtest(df, policies=[pol], model=model(task, lgbm), dataset=name, workdir=work,
                                 label_delay=label_delay, **kw).to_dict()
            except Exception as exc:  # noqa: BLE001
                done = sum(len(_records(r)) for r in work.iterdir() if r.is_dir())
                last = traceback.extract_tb(exc.__traceback__)[-1]
                rows.append({"name": str(pol), "error": f"{type(exc).__name__}: {exc}", "failed_at_batch": done + 1,
                             "raised_at": f"{Path(last.filename).name}:{last.lineno}"})
                continue
            (p,) = d.pop("policies")
            if p.get("error"):  # the backtest reports a refused policy itself ("batch 7 of 53: ...")
                rows.append({"name": p["name"], "error": p["error"]})
                meta = d
                continue
            roots = [r for r in work.iterdir() if r.is_dir()]
            trainings = [r.get("training") for root in roots for r in _records(root)]
            per = [training_work(tr, fit_trees) for tr in trainings]
            init_rows = _initial_train_rows(roots[0]) if len(roots) == 1 else None
            p["init_train_rows"] = init_rows if init_rows is not None else d["initial_rows"]
            p["work_init"] = p["init_train_rows"] * fit_trees
            p["work"] = p["work_init"] + sum(w for _, w in per)
            p["train_rows"] = p["init_train_rows"] + sum(n for n, _ in per)
            # the part of the training CPU spent reading rows from the store (updates, and
            # retrains of a window small enough to be read before the fit; a larger window is
            # read as it is fitted, not measured apart)
            p["read_cpu_s"] = round(sum(float(tr.get("read_cpu_s") or 0.0) for tr in trainings if tr), 4)
            if len(per) == len(p["per_batch"]):  # one record per batch (none for an already-seen batch)
                for b, (n, w) in zip(p["per_batch"], per):
                    b["train_rows"], b["work"] = n, w
            rows.append(p)
            meta = d
        finally:
            shutil.rmtree(work, ignore_errors=True)
    out = {**meta, **out_extra, "policies": rows}
    out["wall_s"] = round(time.perf_counter() - t, 1)
    return out


def ratios(d: dict[str, Any], name: str, base: str = "always-retrain") -> tuple[float, float] | None:
    pols = {p["name"]: p for p in d["policies"]}
    if name not in pols or base not in pols:
        return None
    a, b = pols[name], pols[base]
    if a.get("error") or b.get("error"):
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


def label(d: dict[str, Any], multi: bool) -> str:
    """The row label: the stream, with its model configuration unless it is the only, default one,
    and its label delay unless labels come with their batch."""
    name = f"{d['dataset']}@{d['config']}" if multi or d.get("config") not in (None, "lgb200") else d["dataset"]
    return name if d.get("label_delay") in (None, 0, "0") else f"{name}/delay{d['label_delay']}"


OFF_SUFFIX = "-estimates-off"


def estimates_off(policy: str, folder: Path) -> str:
    """A copy of ``policy`` (a shipped name or a file) with ``estimates: off``, written in
    ``folder`` and named ``<name>-estimates-off``; returns its path."""
    import yaml

    from driftkeeper.policy import load_policy

    loaded = load_policy(policy)
    data = yaml.safe_load(loaded.text)
    data.update(name=f"{loaded.name}{OFF_SUFFIX}", estimates="off")
    path = folder / f"{loaded.name}{OFF_SUFFIX}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def with_estimates(policies: list[str], mode: str, folder: Path) -> list[str]:
    """The policies to run for ``--estimates``: as they are (``auto``), each with ``estimates: off``
    (``off``), or the primary one both ways (``both``: its copy right after it)."""
    if mode == "off":
        return [estimates_off(p, folder) for p in policies]
    if mode == "both":
        return [policies[0], estimates_off(policies[0], folder), *policies[1:]]
    return list(policies)


def print_estimates_effect(results: list[dict[str, Any]], primary: str) -> None:
    """Every stream where the primary policy ran both ways: its error and training CPU with the
    estimated signals over the same policy with them switched off."""
    rows = [(label(d, False), ratios(d, primary, primary + OFF_SUFFIX)) for d in results]
    rows = [(n, r) for n, r in rows if r is not None]
    if not rows:
        return
    print(f"{primary} (estimates: auto) vs {primary}{OFF_SUFFIX} (goal: clearly better under a label delay)")
    for name, (err, cpu) in rows:
        print(f"  {name:24} error ×{err:.3f}, training CPU ×{cpu:.3f}")
    print()


def print_table(results: list[dict[str, Any]], primary: str, breakdown: bool = False) -> None:
    from driftkeeper.metrics import get_metric

    multi = len({d.get("config") for d in results}) > 1
    w = max([8, *(len(label(d, multi)) for d in results)])
    print(f"{'dataset':{w}} {'policy':16} {'metric':10} {'mean error':>11} {'train CPU s':>12} {'retrains':>9} {'updates':>8} {'refused':>8} {'trees':>6}")
    for d in results:
        name = label(d, multi)
        for p in d["policies"]:
            if p.get("error"):
                at = f" (batch {p['failed_at_batch']} of {d['batches'] or '?'})" if p.get("failed_at_batch") else ""
                print(f"{name:{w}} {p['name']:16} cannot run here{at}: {p['error']}")
                continue
            print(f"{name:{w}} {p['name']:16} {d['metric']:10} {p['mean_error']:11.4g} {p['train_cpu_s']:12.2f} "
                  f"{p['retrains']:9d} {p['updates']:8d} {p['gate_refusals']:8d} {str(p['model_trees']):>6}")
        for p in d["policies"]:
            r = ratios(d, p["name"])
            if r and p["name"] not in (primary, "always-retrain"):
                print(f"{name:{w}} {p['name']} vs always-retrain: error ×{r[0]:.3f}, training CPU ×{r[1]:.3f}")
        if breakdown:
            for p in d["policies"]:
                if not p.get("error"):
                    print(f"{name:{w}} {p['name']} training CPU: {cpu_breakdown(p)}")
        for m in d.get("other_metrics", []):
            pols = {p["name"]: p for p in d["policies"] if not p.get("error")}
            if primary in pols and "always-retrain" in pols:
                a, b = pols[primary]["other_errors"][m], pols["always-retrain"]["other_errors"][m]
                label_m = f"1 - {m}" if get_metric(m).higher_is_better else m  # reported as errors
                print(f"{name:{w}} also {label_m}: {primary} {a:.4g}, always-retrain {b:.4g} → ×{a / b:.3f}")
        r = ratios(d, primary)
        if r:
            ok = r[0] <= GOAL_ERROR and r[1] <= GOAL_CPU
            print(f"{name:{w}} {primary} vs always-retrain: error ×{r[0]:.3f}, training CPU ×{r[1]:.3f} → goal "
                  f"(≤{GOAL_ERROR} error, ≤{GOAL_CPU:.0%} CPU) {'MET' if ok else 'NOT met'}   [{d['batches']} batches, {d['wall_s']} s wall]")
        print()


def summary_rows(results: list[dict[str, Any]], primary: str) -> list[dict[str, Any]]:
    """One row per stream × configuration: the primary policy against ``always-retrain``."""
    out = []
    for d in results:
        pols = {p["name"]: p for p in d["policies"]}
        row: dict[str, Any] = {"stream": d["dataset"], "config": d.get("config"), "batches": d["batches"],
                               "label_delay": d.get("label_delay", 0)}
        a, b = pols.get(primary), pols.get("always-retrain")
        failed = [p for p in (a, b) if p is not None and p.get("error")]
        if a is None or b is None or failed:
            row["failed"] = "; ".join(f"{p['name']}: {p['error']}" for p in failed) or "policy missing"
            out.append(row)
            continue
        err_r, cpu_r = ratios(d, primary)
        work_r = a["work"] / max(b["work"], 1)
        row.update(error=a["mean_error"], base_error=b["mean_error"], error_ratio=err_r,
                   cpu=a["train_cpu_s"], base_cpu=b["train_cpu_s"], cpu_ratio=cpu_r,
                   work=a["work"], base_work=b["work"], work_ratio=work_r,
                   met=err_r <= GOAL_ERROR and cpu_r <= GOAL_CPU, met_by_work=err_r <= GOAL_ERROR and work_r <= GOAL_CPU,
                   retrains=a["retrains"], updates=a["updates"])
        n = pols.get("never")
        if n is not None and not n.get("error"):
            row["never_ratio"] = n["mean_error"] / b["mean_error"]
        if a.get("read_cpu_s") is not None and b.get("read_cpu_s") is not None:
            row["read_cpu_s"], row["base_read_cpu_s"] = a["read_cpu_s"], b["read_cpu_s"]
        out.append(row)
    return out


def print_reads(rows: list[dict[str, Any]], primary: str) -> None:
    """How much of each side's training CPU was reading rows from the store (a training's CPU
    holds the reading of its rows, an update's as a retrain's)."""
    rows = [r for r in rows if "failed" not in r and r.get("read_cpu_s") is not None]
    if not rows:
        return
    print(f"reading the store, part of the training CPU: {primary} | always-retrain")
    w = max([15, *(len(_stream(r)) for r in rows)])
    for r in rows:
        print(f"  {_stream(r):{w}} {str(r['config']):7} {r['read_cpu_s']:7.2f} s of {r['cpu']:7.2f}"
              f" | {r['base_read_cpu_s']:7.2f} s of {r['base_cpu']:7.2f}")


def _stream(row: dict[str, Any]) -> str:
    delay = row.get("label_delay")
    return row["stream"] if delay in (None, 0, "0") else f"{row['stream']}/delay{delay}"


def print_summary(rows: list[dict[str, Any]], primary: str) -> None:
    """The table of every stream × configuration (work in millions of rows × trees)."""
    print(f"{primary} vs always-retrain, every stream × configuration (goal: error ≤ ×{GOAL_ERROR} at ≤ {GOAL_CPU:.0%} "
          f"of the training CPU; work = rows × trees trained, millions)")
    w = max([15, *(len(_stream(r)) for r in rows)])
    print(f"{'stream':{w}} {'config':7} {'batches':>7} {'error':>10} {'always':>10} {'error ×':>8} {'never ×':>8} "
          f"{'CPU s':>7} {'always':>7} {'CPU ×':>6} {'work M':>8} {'always':>8} {'work ×':>6} {'rt/up':>7}  goal")
    for r in rows:
        head = f"{_stream(r):{w}} {str(r['config']):7} {r['batches']:7d}"
        if "failed" in r:
            print(f"{head} FAILED: {r['failed']}")
            continue
        never = f"{r['never_ratio']:8.3f}" if "never_ratio" in r else f"{'-':>8}"
        goal = "MET" if r["met"] else "NOT MET"
        miss = [] if r["met"] else [x for x, bad in (("error", r["error_ratio"] > GOAL_ERROR), ("CPU", r["cpu_ratio"] > GOAL_CPU)) if bad]
        if miss:
            goal += f" ({' and '.join(miss)})"
        if r["met_by_work"] != r["met"]:
            goal += f"; by work {'MET' if r['met_by_work'] else 'NOT MET'}"
        print(f"{head} {r['error']:10.4g} {r['base_error']:10.4g} {r['error_ratio']:8.3f} {never} "
              f"{r['cpu']:7.2f} {r['base_cpu']:7.2f} {r['cpu_ratio']:6.3f} {r['work'] / 1e6:8.1f} {r['base_work'] / 1e6:8.1f} "
              f"{r['work_ratio']:6.3f} {r['retrains']:3d}/{r['updates']:<3d}  {goal}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", "--datasets", dest="streams", nargs="+", default=list(REAL4),
                    help="stream names (see benchmarks/streams.py) or groups: real4 (default), new, new-real, synth, small, all")
    ap.add_argument("--policies", nargs="+", default=["default", "always-retrain", "never"],
                    help="shipped policy names or policy files")
    ap.add_argument("--policy", default=None, help="policy file benchmarked in place of 'default'")
    ap.add_argument("--configs", choices=sorted(CONFIGS), default="default",
                    help="LightGBM configuration(s): default (200 trees, lr 0.05, 31 leaves), second (100 trees, "
                    "lr 0.1, 63 leaves) or both (every stream × both)")
    ap.add_argument("--quick", action="store_true", help="first 40%% of each stream")
    ap.add_argument("--jobs", type=int, default=2, help="streams (× configurations) run in parallel processes")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--breakdown", action="store_true", help="also print each policy's training CPU by action and rule")
    ap.add_argument("--lgbm", nargs="+", default=[], metavar="KEY=VALUE",
                    help="LightGBM parameters in place of the defaults (e.g. n_estimators=100 learning_rate=0.1): "
                    "does the default policy hold for another model? (one 'custom' configuration; not with --configs)")
    ap.add_argument("--label-delay", default="0", metavar="N",
                    help="labels reach the runner N batches late (or a time span like 90D on streams with a time "
                    "column); each batch is still scored on its true labels")
    ap.add_argument("--estimates", choices=("auto", "off", "both"), default="auto",
                    help="auto: the policies as they are; off: each with 'estimates: off' (signals wait for realised "
                    "labels); both: the primary policy both ways, side by side")
    ap.add_argument("--from-json", type=Path, default=None, metavar="FILE",
                    help="print the tables of an earlier run's --json file instead of running")
    args = ap.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        primary = results[0]["policies"][0]["name"]
        print_table(results, primary, breakdown=args.breakdown)
        summary = summary_rows(results, primary)
        print_summary(summary, primary)
        print_reads(summary, primary)
        print_estimates_effect(results, primary)
        return
    policies = [args.policy if (p == "default" and args.policy) else p for p in args.policies]
    streams = names(args.streams)
    lgbm = parse_lgbm(args.lgbm)
    if lgbm and args.configs != "default":
        raise SystemExit("--lgbm defines one custom configuration: leave --configs out")
    configs = [("custom", lgbm)] if lgbm else CONFIGS[args.configs]
    from driftkeeper.backtest import parse_label_delay
    from driftkeeper.exceptions import ConfigError

    try:  # a bad delay fails before any stream runs (a span is checked per stream: it needs a time column)
        delay = parse_label_delay(args.label_delay, time_column="?")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    delay = delay if isinstance(delay, int) else args.label_delay.strip()
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="maintenance-policies-") as folder, \
            ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        policies = with_estimates(policies, args.estimates, Path(folder))
        futs = [ex.submit(run_one, n, policies, args.quick, cfg, label_, delay) for n in streams for label_, cfg in configs]
        results = [f.result() for f in futs]
    primary = results[0]["policies"][0]["name"]
    print_table(results, primary, breakdown=args.breakdown)
    summary = summary_rows(results, primary)
    print_summary(summary, primary)
    print_reads(summary, primary)
    print_estimates_effect(results, primary)
    print(f"total wall {time.perf_counter() - t:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
