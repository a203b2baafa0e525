"""Speed of the monitor against Evidently's DataDriftPreset, with identical scores.

Run: ``.venv/bin/python benchmarks/drift_speed.py`` (a few minutes; ``--scale-only`` for part 3).

In one process, on the same frames, after one warm-up of each, best of three:
Evidently ``Report([DataDriftPreset()])`` (explicit DataDefinition from the monitor's kinds)
vs ``Monitor().fit(reference)`` + ``check(current)``. Prints wall times, their ratio, the
max |score difference| and verdict agreement for

1. 100,000 x 20 floats with 5 shifted columns (50,000 reference vs 50,000 current rows);
2. LendingClub 2007-2011 (newest first in the file: reversed; older half reference vs
   newer half; ``revol_util`` "83.70%" converted to a float; ``loan_status`` dropped);
3. 1,000,000 x 50 floats (monitor alone; a current batch of 1M rows, 5 columns shifted by
   0.2, against a 1M-row reference), side by side: the monitor before issue #20 (``--previous``,
   a git revision run from an exported copy in a subprocess on the same frames), the exact
   monitor now, and ``Monitor(approx="binned")``: fit, check and their total, best of
   ``--reps`` fit+check rounds (the load average is printed with each), the binned scores'
   largest distance to the exact ones and bound widths, and verdict agreement. Then 10M x 50
   ``approx="binned"`` (fit, then check; skipped when less than 16 GB of memory is available).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT / ".." / "shared" / "data"

from driftkeeper.monitor import _evidently as ev  # noqa: E402
from driftkeeper.monitor import Monitor  # noqa: E402


def best_of(fn, n=3):
    fn()  # warm-up
    times = []
    result = None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def evidently_preset(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict[str, str]):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numerical"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        snap = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    return ev.read_value_drift(snap)


def compare(name: str, ref: pd.DataFrame, cur: pd.DataFrame) -> dict:
    kinds = Monitor().fit(ref).kinds_
    ref, cur = ref[list(kinds)], cur[list(kinds)]
    t_ev, ev_res = best_of(lambda: evidently_preset(ref, cur, kinds))
    t_mon, report = best_of(lambda: Monitor().fit(ref).check(cur))
    fitted = Monitor().fit(ref)
    t_check = best_of(lambda: fitted.check(cur))[0]
    diffs = [abs(c.score - ev_res[c.name].score) for c in report.columns]
    same_verdict = all(c.drifted == ev_res[c.name].drifted for c in report.columns)
    same_method = all(c.method == ev_res[c.name].method for c in report.columns)
    return {
        "case": name,
        "shape": f"{len(ref)}+{len(cur)} x {len(kinds)}",
        "evidently_s": t_ev,
        "monitor_s": t_mon,
        "check_only_s": t_check,
        "ratio": t_ev / t_mon,
        "max_abs_diff": max(diffs),
        "verdicts_agree": same_verdict and same_method,
        "drifted": f"{report.n_drifted}/{report.n_columns}",
    }


def case_floats() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 50_000
    cols = [f"x{i:02d}" for i in range(20)]
    ref = pd.DataFrame(rng.normal(size=(n, 20)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(n, 20)), columns=cols)
    for c in cols[:5]:
        cur[c] = cur[c] * 1.3 + 0.3
    return ref, cur


def case_lendingclub() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(DATA / "lendingclub_loanstats3a_2007_2011_subset.csv.gz", low_memory=False)
    df = df.iloc[::-1].reset_index(drop=True)  # the file is newest first
    df["revol_util"] = pd.to_numeric(df["revol_util"].str.rstrip("%"), errors="coerce")
    df = df.drop(columns=["loan_status"])
    half = len(df) // 2
    return df.iloc[:half].reset_index(drop=True), df.iloc[half:].reset_index(drop=True)


MILLION_SEED, MILLION_COLS, MILLION_SHIFTED = 1, 50, 5


def million_frames(n: int, k: int = MILLION_COLS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` x ``k`` standard-normal floats (a row-major 2-D array, as ``pd.DataFrame(X)``
    makes them), the current batch's first 5 columns shifted by 0.2."""
    rng = np.random.default_rng(MILLION_SEED)
    cols = [f"x{i:02d}" for i in range(k)]
    ref = pd.DataFrame(rng.normal(size=(n, k)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(n, k)), columns=cols)
    cur[cols[:MILLION_SHIFTED]] += 0.2
    return ref, cur


def time_rounds(make, ref: pd.DataFrame, cur: pd.DataFrame, reps: int) -> dict:
    """Best of ``reps`` rounds of ``make().fit(ref)`` then ``.check(cur)`` (wall seconds), with
    the load average seen at each round; the report of the last round."""
    rounds = []
    report = None
    for _ in range(reps):
        load = os.getloadavg()[0]
        cpu = time.process_time()
        t = time.perf_counter()
        mon = make().fit(ref)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        report = mon.check(cur)
        t_check = time.perf_counter() - t
        cpu = time.process_time() - cpu
        rounds.append({"fit": t_fit, "check": t_check, "total": t_fit + t_check, "cpu": cpu, "load": load})
        del mon
    best = min(rounds, key=lambda r: r["total"])
    return {"best": best, "rounds": rounds, "report": report}


_PREVIOUS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from driftkeeper.monitor import Monitor  # the exported revision's, imported before drift_speed adds ours
sys.path.insert(0, sys.argv[2])
from drift_speed import million_frames, time_rounds
assert Monitor.__module__ == 'driftkeeper.monitor.monitor' and sys.modules['driftkeeper'].__file__.startswith(sys.argv[1])
ref, cur = million_frames(int(sys.argv[3]))
out = time_rounds(Monitor, ref, cur, int(sys.argv[4]))
report = out.pop("report")
out["scores"] = {c.name: c.score for c in report.columns}
print(json.dumps(out))
"""


def time_previous(rev: str, n: int, reps: int) -> dict | None:
    """``time_rounds`` of the monitor at git revision ``rev``, exported to a temporary
    directory and run in a subprocess on the same frames (``None`` if the export fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True)
        if archive.returncode != 0:
            print(f"skipping previous: git archive {rev} failed: {archive.stderr.decode().strip()}")
            return None
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        proc = subprocess.run(
            [sys.executable, "-c", _PREVIOUS_SCRIPT, str(Path(tmp) / "src"), str(Path(__file__).parent), str(n), str(reps)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            print(f"skipping previous: {proc.stderr.strip().splitlines()[-1:]}")
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1])


def available_gb() -> float:
    """Memory available to new allocations (Linux ``MemAvailable``; else all physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def case_scale(previous: str | None, reps: int, ten_million: bool) -> None:
    n = 1_000_000
    ref, cur = million_frames(n)
    rows: list[tuple[str, dict]] = []
    prev = time_previous(previous, n, reps) if previous else None
    if prev is not None:
        rows.append((f"previous ({previous})", prev["best"]))
    exact = time_rounds(Monitor, ref, cur, reps)
    rows.append(("exact (default)", exact["best"]))
    binned = time_rounds(lambda: Monitor(approx="binned"), ref, cur, reps)
    rows.append(("approx='binned', bins=10000", binned["best"]))
    print(f"\n1M x 50 floats, fit(1M rows) + check(1M rows), best of {reps} (wall s; cores available: {os.cpu_count()})")
    header = f"{'monitor':30s} {'fit s':>7s} {'check s':>8s} {'total s':>8s} {'CPU s':>7s} {'load avg':>9s}"
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(f"{name:30s} {r['fit']:7.2f} {r['check']:8.2f} {r['total']:8.2f} {r['cpu']:7.2f} {r['load']:9.1f}")
    print("(wall seconds of the best round; CPU s: its process CPU time over all threads; load avg: the "
          "1-minute load average as the round began, other processes included)")
    ex, bi = exact["report"], binned["report"]
    diff = max(abs(b.score - e.score) for b, e in zip(bi.columns, ex.columns))
    width = max(b.score_bounds[1] - b.score_bounds[0] for b in bi.columns)
    inside = all(b.score_bounds[0] <= e.score <= b.score_bounds[1] for b, e in zip(bi.columns, ex.columns))
    agree = all(b.drifted == e.drifted for b, e in zip(bi.columns, ex.columns))
    print(f"exact drifted {ex.drifted_columns}")
    if prev is not None:
        pd_ = max(abs(prev["scores"][c.name] - c.score) for c in ex.columns)
        print(f"exact vs previous: max |score difference| {pd_:.1e}")
    print(f"binned vs exact: max |score difference| {diff:.1e}, widest score_bounds {width:.1e}, "
          f"exact scores within the bounds: {inside}, verdicts agree: {agree}")
    del ref, cur, exact, binned
    if not ten_million:
        return
    need = 16.0
    have = available_gb()
    if have < need:
        print(f"10M x 50 binned: skipped, {have:.1f} GB of memory available (needs about {need:.0f} GB: "
              "two 4 GB frames plus working copies)")
        return
    n = 10_000_000
    rng = np.random.default_rng(MILLION_SEED)
    cols = [f"x{i:02d}" for i in range(MILLION_COLS)]
    ref = pd.DataFrame(rng.normal(size=(n, MILLION_COLS)), columns=cols)
    load = os.getloadavg()[0]
    t = time.perf_counter()
    mon = Monitor(approx="binned").fit(ref)
    t_fit = time.perf_counter() - t
    del ref  # the binned monitor keeps no reference values
    cur = pd.DataFrame(rng.normal(size=(n, MILLION_COLS)), columns=cols)
    cur[cols[:MILLION_SHIFTED]] += 0.2
    t = time.perf_counter()
    report = mon.check(cur)
    t_check = time.perf_counter() - t
    kept = sum(p.sketch.edges.size * 4 * 8 for p in mon.profile_.values() if p.sketch is not None) / 2**20
    width = max(c.score_bounds[1] - c.score_bounds[0] for c in report.columns)
    print(f"10M x 50 floats, approx='binned': fit {t_fit:.2f} s, check {t_check:.2f} s, total {t_fit + t_check:.2f} s "
          f"(load avg {load:.1f}); sketches hold {kept:.0f} MB (exact profiles would hold "
          f"{2 * n * MILLION_COLS * 8 / 2**30:.0f} GB); widest score_bounds {width:.1e}; drifted {report.drifted_columns}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-only", action="store_true", help="run part 3 only (1M x 50 and 10M x 50)")
    parser.add_argument("--previous", default="14d5008",
                        help="git revision of the monitor to time side by side in part 3 ('none' to skip; "
                             "default: 14d5008, the monitor before issue #20)")
    parser.add_argument("--reps", type=int, default=3, help="fit+check rounds per monitor in part 3 (best is shown)")
    parser.add_argument("--no-10m", action="store_true", help="skip the 10M x 50 binned check")
    args = parser.parse_args()
    print(f"cores available: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}")
    if not args.scale_only:
        rows = []
        rows.append(compare("100k x 20 floats, 5 shifted", *case_floats()))
        lc = DATA / "lendingclub_loanstats3a_2007_2011_subset.csv.gz"
        if lc.exists():
            rows.append(compare("LendingClub older vs newer half", *case_lendingclub()))
        else:
            print(f"skipping LendingClub: {lc} not found")
        header = f"{'case':34s} {'rows x cols':>18s} {'preset s':>9s} {'monitor s':>10s} {'check s':>8s} {'ratio':>7s} {'max|diff|':>10s} {'verdicts':>9s} {'drifted':>8s}"
        print(header)
        print("-" * len(header))
        for r in rows:
            print(
                f"{r['case']:34s} {r['shape']:>18s} {r['evidently_s']:9.3f} {r['monitor_s']:10.3f} {r['check_only_s']:8.3f} "
                f"{r['ratio']:6.1f}x {r['max_abs_diff']:10.2e} {'agree' if r['verdicts_agree'] else 'DIFFER':>9s} {r['drifted']:>8s}"
            )
    previous = None if args.previous.lower() == "none" else args.previous
    case_scale(previous, args.reps, not args.no_10m)


if __name__ == "__main__":
    main()
