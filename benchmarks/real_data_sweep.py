"""Does ``driftkeeper backtest`` run on real data as a new user would give it? (issue #19, "Done when")

For every dataset × model this runs the real CLI in a subprocess, one run at a time::

    driftkeeper backtest FILE --target T --every E [--time-column C] [--exclude X ...] --model M
        --compare never,always-retrain,always-update,periodic,default --json OUT

with only what a user must say: the target, how to batch (``--every``, and the time column when
the data has one) and, as ``--exclude``, the columns the datasets' README names as leaks or
identifiers (a fact about the data, not preprocessing). The file itself is passed as it is —
text percentages, ``d/mm/yyyy`` dates, missing targets, rows sorted by suburb, newest first.
Only ``--max-rows`` (default 60,000) shortens a longer file to its first N rows in time order (a
copy with the original text of those rows); the backtester has no row limit of its own.

Datasets: the real ones in the shared datasets folder beside the project (see its README), and
tables shaped like public data from the test battery (``tests/test_real_data_battery.py``):
``sink`` (every column quirk at once in a ``;``-separated CSV with decimal commas, a BOM and CRLF),
``oneclass`` (a classifier stream with a batch of one class) and ``sparse`` (house sales with
optional columns missing on 96 % of the rows, so whole batches have none).

Models: ``lightgbm``, ``river`` (``--model river``: imputing, one-hot encoding linear pipeline),
``sklearn`` (a scikit-learn pipeline — imputers, scaler, one-hot encoder, then SGD — given as
``--model sklearn:real_data_sweep.sgd_<task>_pipeline``, a factory in this file on the import
path, as a user passes their own), ``hgb`` (``sklearn:...HistGradientBoosting*``, alone: it takes
missing values and categories itself).

Printed: one row per dataset × model × policy — status (``ok``; ``refused: <the one-line error>``
of a policy the runner refused, or of the whole run on exit 2; ``crashed: <the traceback's last
line>`` on any other exit), batches, retrains/updates/skipped, the mean error (the default
policy's metric) and its ratio to ``always-retrain``'s, wall seconds (of the policy; of the whole run on a failed run). A crash, or a
refusal of data that is legitimate, is a finding. Latest table: ``benchmarks/RESULTS.md``.

Run (sequentially; under ``nice`` on a shared machine)::

    nice -n 19 .venv/bin/python benchmarks/real_data_sweep.py [--datasets bike kc ...|real|battery|all]
        [--models lightgbm river sklearn hgb] [--max-rows 60000] [--json out.json] [--markdown]
    .venv/bin/python benchmarks/real_data_sweep.py --table out.json [more.json ...] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data"
CLI = Path(sys.executable).with_name("driftkeeper")
POLICIES = ["never", "always-retrain", "always-update", "periodic", "default"]
MODELS = {
    "lightgbm": lambda task: "lightgbm",
    "river": lambda task: "river",
    "sklearn": lambda task: f"sklearn:real_data_sweep.sgd_{task}_pipeline",
    "hgb": lambda task: "sklearn:sklearn.ensemble.HistGradientBoosting"
                        + ("Regressor" if task == "regression" else "Classifier"),
}
DEFAULT_MODELS = ["lightgbm", "river", "sklearn"]


@dataclass
class Dataset:
    """A file and the options a user must give for it. ``time_format``: how the sweep reads the
    time column to cut ``--max-rows`` in time order (driftkeeper is not told)."""

    name: str
    file: str
    target: str
    task: str
    every: str
    time_column: str | None = None
    exclude: list[str] = field(default_factory=list)
    time_format: str | None = None
    newest_first: bool = False


# smallest first: a finding on a small file shows up before the long runs. Monthly batches (Elec2:
# four weeks of half hours) keep a sweep of every policy × model affordable on a shared machine.
REAL = [
    Dataset("bike", "bike_sharing_hour.csv.gz", "cnt", "regression", "M", "dteday", ["instant", "casual", "registered"]),
    Dataset("kc", "kc_house_data.csv.gz", "price", "regression", "M", "date", ["id"], time_format="%Y%m%dT%H%M%S"),
    Dataset("melb", "melbourne_housing.csv.gz", "Price", "regression", "M", "Date", ["Address"], time_format="%d/%m/%Y"),
    Dataset("lending", "lendingclub_loanstats3a_2007_2011_subset.csv.gz", "loan_status", "classification", "2000rows",
            newest_first=True),
    Dataset("elec2", "elec2_elecNormNew.csv.gz", "class", "classification", "1344rows", exclude=["date"]),
    Dataset("airlines", "airlines.csv.gz", "Delay", "classification", "4000rows"),
]
BATTERY = [
    Dataset("sink", "sink.csv", "y", "regression", "120rows", "date", ["row_id"]),
    Dataset("oneclass", "oneclass.csv", "y", "classification", "120rows", "date", ["row_id"]),
    Dataset("sparse", "sparse.csv", "SalePrice", "regression", "M", "Sold"),
]
GROUPS = {"real": [d.name for d in REAL], "battery": [d.name for d in BATTERY],
          "all": [d.name for d in REAL + BATTERY]}


# --------------------------------------------------------------------------- the sklearn pipeline
def _sgd_pipeline(final: Any) -> Any:
    """Numbers imputed with their mean and standardised, categories (driftkeeper hands them over
    as pandas ``category``) imputed with a constant and one-hot encoded, then ``final``."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler())
    categories = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="ignore", min_frequency=5))
    return make_pipeline(make_column_transformer(
        (numbers, make_column_selector(dtype_include="number")),
        (categories, make_column_selector(dtype_include=["category", "object"]))), final)


def sgd_regression_pipeline() -> Any:
    """``--model sklearn:real_data_sweep.sgd_regression_pipeline``."""
    from sklearn.linear_model import SGDRegressor

    return _sgd_pipeline(SGDRegressor(random_state=0))


def sgd_classification_pipeline() -> Any:
    """``--model sklearn:real_data_sweep.sgd_classification_pipeline`` (logistic loss: it has
    probabilities for log loss and the drift check's estimates)."""
    from sklearn.linear_model import SGDClassifier

    return _sgd_pipeline(SGDClassifier(loss="log_loss", random_state=0))


# --------------------------------------------------------------------------- the files
def _battery_frames() -> dict[str, Any]:
    """The battery's tables: the test suite's own generators, a few more batches of them."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(REPO / "tests"))
    from test_real_data_battery import kitchen_sink

    sink = pd.concat([kitchen_sink(300 if i == 0 else 60, i) for i in range(24)], ignore_index=True)
    one = []
    for i in range(24):
        f = kitchen_sink(300 if i == 0 else 60, i)[["row_id", "x", "date", "flight", "Pool QC", "y"]]
        f["y"] = np.where(f["y"] > 1.5, "yes", "no")
        one.append(f.assign(y="no") if i in (9, 10, 11) else f)  # rows 780-959: the 5th 120-row batch is all "no"
    return {"sink": sink, "oneclass": pd.concat(one, ignore_index=True), "sparse": _sparse_sales(np.random.default_rng(19))}


def _sparse_sales(r: Any, n: int = 1_500) -> Any:
    """House sales like Ames: optional features missing on 96 %+ of the rows ("no alley" is
    missing), so a month of ~60 sales often has none; a nullable integer with gaps; a zip code."""
    import numpy as np
    import pandas as pd

    sold = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.sort(r.uniform(0, 730, n)), unit="D")
    area = r.normal(150, 40, n).clip(40)
    df = pd.DataFrame({"Sold": sold.strftime("%Y-%m-%d"), "Gr Liv Area": area,
                       "Zip": r.choice([f"{z:05d}" for z in range(50_010, 50_210)], n)})
    df["Alley"] = np.where(r.uniform(size=n) < 0.03, r.choice(["Grvl", "Pave"], n), None)
    df["Pool QC"] = np.where(r.uniform(size=n) < 0.01, "Ex", None)
    frontage = pd.array(r.integers(20, 120, n), dtype="Int64")
    frontage[r.uniform(size=n) < 0.2] = pd.NA
    df["Lot Frontage"] = frontage
    df["Misc Val"] = np.where(r.uniform(size=n) < 0.04, r.integers(100, 5_000, n), np.nan)
    trend = np.arange(n) / n * 20_000
    df["SalePrice"] = 1_000 * area + trend + np.where(df["Alley"].notna(), -8_000, 0) + r.normal(0, 10_000, n)
    return df


def battery_files(folder: Path) -> None:
    """Write the battery's tables as files: ``sink`` the European way (``;``, decimal commas, BOM, CRLF)."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_real_data_battery import write_european

    frames = _battery_frames()
    write_european(frames["sink"], folder / "sink.csv")
    frames["oneclass"].to_csv(folder / "oneclass.csv", index=False)
    frames["sparse"].to_csv(folder / "sparse.csv", index=False)


def input_file(ds: Dataset, max_rows: int, folder: Path) -> tuple[Path, int]:
    """The file the CLI is given and its row count: the dataset's own file, or a copy of its first
    ``max_rows`` rows in time order (by the time column, else by row order — reversed for a file
    stored newest first), each row's text as in the original."""
    import pandas as pd

    if ds in BATTERY:
        path = folder / ds.file
        return path, sum(1 for _ in open(path, encoding="utf-8-sig")) - 1
    path = DATA / ds.file
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if len(raw) <= max_rows:
        return path, len(raw)
    if ds.time_column is not None:
        t = pd.to_datetime(raw[ds.time_column], format=ds.time_format)
        keep = t.sort_values(kind="stable").index[:max_rows].sort_values()
    else:
        keep = raw.index[-max_rows:] if ds.newest_first else raw.index[:max_rows]
    out = folder / f"{ds.name}-{max_rows}.csv"
    raw.loc[keep].to_csv(out, index=False)
    return out, max_rows


# --------------------------------------------------------------------------- running
def command(ds: Dataset, model: str, path: Path, out: Path) -> list[str]:
    """The CLI call: only the options a user must give, and the policies to compare."""
    cmd = [str(CLI), "backtest", str(path), "--target", ds.target, "--every", ds.every,
           "--model", MODELS[model](ds.task), "--compare", ",".join(POLICIES), "--json", str(out)]
    if ds.time_column is not None:
        cmd += ["--time-column", ds.time_column]
    for c in ds.exclude:
        cmd += ["--exclude", c]
    return cmd


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def run_one(ds: Dataset, model: str, path: Path, folder: Path, timeout: float) -> list[dict[str, Any]]:
    """One backtest in a subprocess; one row per policy (one row for the whole run if it failed)."""
    out = folder / f"{ds.name}-{model}.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(command(ds, model, path, out), capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [dict(dataset=ds.name, model=model, policy="*", status=f"timeout after {timeout:.0f} s",
                     wall_s=time.perf_counter() - t0)]
    wall = time.perf_counter() - t0
    base = dict(dataset=ds.name, model=model)
    if proc.returncode != 0 or not out.exists():
        text = proc.stderr + proc.stdout
        traceback = "Traceback (most recent call last)" in text
        kind = "crashed" if traceback or proc.returncode not in (0, 1, 2) else "refused"
        return [dict(base, policy="*", status=f"{kind} (exit {proc.returncode}): {_last_line(text)}", wall_s=wall,
                     lines=text.strip().count("\n") + 1)]
    return policy_rows(base, json.loads(out.read_text()))


def policy_rows(base: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per policy of a ``driftkeeper backtest --json`` result."""
    ref = next((p for p in result["policies"] if p["name"] == "always-retrain" and p["error"] is None), None)
    rows = []
    for p in result["policies"]:
        row = dict(base, policy=p["name"], batches=result["batches"], wall_s=p["wall_s"])
        if p["error"] is not None:
            rows.append(dict(row, status=f"refused: {p['error']}"))
            continue
        ratio = p["mean_error"] / ref["mean_error"] if ref and ref["mean_error"] else None
        rows.append(dict(row, status="ok", retrains=p["retrains"], updates=p["updates"], skipped=p["skipped"],
                         skip_reasons=p["skip_reasons"], mean_error=p["mean_error"], metric=p["metric"], vs_retrain=ratio))
    return rows


def fmt_rows(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    """The sweep's table: plain columns, or a Markdown table."""
    head = ["dataset", "model", "policy", "status", "batches", "retr/upd/skip", "mean error", "error vs always-retrain",
            "wall s"]
    body = []
    for r in rows:
        counts = "/".join(str(r[k]) for k in ("retrains", "updates", "skipped")) if "retrains" in r else "-"
        ratio = f"{r['vs_retrain']:.3f}" if r.get("vs_retrain") is not None else "-"
        err = f"{r['metric']} {r['mean_error']:.4g}" if r.get("mean_error") is not None else "-"
        body.append([r["dataset"], r["model"], r["policy"], r["status"], str(r.get("batches", "-")), counts, err, ratio,
                     f"{r['wall_s']:.1f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head, *body]) if i != 3 else 12 for i in range(len(head))]
    fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, 1, 2, 3) else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    out = [fmt(head)]
    for b in body:  # the status last when it is long: an error message is one line, whole
        short = len(b[3]) <= widths[3]
        out.append(fmt([*b[:3], b[3] if short else "see below", *b[4:]]) + ("" if short else f"\n    {b[3]}"))
    return "\n".join(out)


def findings(rows: list[dict[str, Any]]) -> list[str]:
    """Crashes, timeouts and refusals, one line each (deciding whether a refusal is legitimate is left to a person)."""
    return [f"{r['dataset']} × {r['model']} × {r['policy']}: {r['status']}" for r in rows if r["status"] != "ok"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["all"], help=f"names or groups {sorted(GROUPS)}")
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=sorted(MODELS))
    ap.add_argument("--max-rows", type=int, default=60_000, help="first N rows in time order of a longer file")
    ap.add_argument("--timeout", type=float, default=3_600, help="seconds per backtest")
    ap.add_argument("--json", type=Path, help="write every row as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--table", type=Path, nargs="+", help="only print the table of earlier --json files, in order")
    args = ap.parse_args(argv)
    if args.table:
        rows = [r for f in args.table for r in json.loads(f.read_text())]
        print(fmt_rows(rows, markdown=args.markdown))
        return
    wanted = [n for item in args.datasets for n in GROUPS.get(item, [item])]
    by_name = {d.name: d for d in REAL + BATTERY}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown dataset(s) {unknown}; expected names of {sorted(by_name)} or groups {sorted(GROUPS)}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="real-data-sweep-") as tmp:
        folder = Path(tmp)
        if any(by_name[n] in BATTERY for n in wanted):
            battery_files(folder)
        for name in dict.fromkeys(wanted):
            ds = by_name[name]
            path, n_rows = input_file(ds, args.max_rows, folder)
            for model in args.models:
                got = run_one(ds, model, path, folder, args.timeout)
                for r in got:
                    r["rows"] = n_rows
                rows += got
                print(fmt_rows(got), flush=True)
                if args.json is not None:  # after every run: a long sweep stopped early keeps what it did
                    args.json.write_text(json.dumps(rows, indent=2, default=str))
    print()
    print(fmt_rows(rows, markdown=args.markdown))
    problems = findings(rows)
    print(f"\n{len(problems)} row(s) not ok" + (":\n" + "\n".join(problems) if problems else ""))


if __name__ == "__main__":
    main()
