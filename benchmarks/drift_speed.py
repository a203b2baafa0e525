"""Speed of the monitor against Evidently's DataDriftPreset, with identical scores.

Run: ``.venv/bin/python benchmarks/drift_speed.py`` (a few minutes).

In one process, on the same frames, after one warm-up of each, best of three:
Evidently ``Report([DataDriftPreset()])`` (explicit DataDefinition from the monitor's kinds)
vs ``Monitor().fit(reference)`` + ``check(current)``. Prints wall times, their ratio, the
max |score difference| and verdict agreement for

1. 100,000 x 20 floats with 5 shifted columns (50,000 reference vs 50,000 current rows);
2. LendingClub 2007-2011 (newest first in the file: reversed; older half reference vs
   newer half; ``revol_util`` "83.70%" converted to a float; ``loan_status`` dropped);
3. 1,000,000 x 50 floats (monitor alone; current batch of 1M rows against a 1M-row
   reference; time per million values checked).
"""

from __future__ import annotations

import os
import sys
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


def case_million() -> dict:
    rng = np.random.default_rng(1)
    n, k = 1_000_000, 50
    cols = [f"x{i:02d}" for i in range(k)]
    ref = pd.DataFrame(rng.normal(size=(n, k)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(n, k)), columns=cols)
    cur[cols[:5]] += 0.2
    t_fit, mon = best_of(lambda: Monitor().fit(ref), n=1)
    t_check, report = best_of(lambda: mon.check(cur), n=3)
    cpu = time.process_time()
    mon.check(cur)
    cpu = time.process_time() - cpu
    return {
        "fit_s": t_fit,
        "check_s": t_check,
        "check_cpu_s": cpu,
        "per_million_values_s": t_check / (n * k / 1e6),
        "drifted": report.drifted_columns,
    }


def main() -> None:
    print(f"cores available: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}")
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
    m = case_million()
    print(
        f"1M x 50 floats (monitor alone): fit {m['fit_s']:.2f} s, check {m['check_s']:.2f} s wall "
        f"({m['per_million_values_s'] * 1000:.1f} ms per million values; check CPU time over all threads "
        f"{m['check_cpu_s']:.2f} s), drifted {m['drifted']}"
    )


if __name__ == "__main__":
    main()
