"""Estimated performance without labels: driftkeeper's CBPE/DLE against NannyML 0.13's and the naive estimate.

Per stream, one model and the same batches for every estimator:

1. the stream is split as ``benchmarks/maintenance.py`` splits it (``streams.py``: the first 20 %
   of the rows, to the end of that week for weekly batches, then its batches);
2. of those initial rows (time order), the older 80 % train the model — LightGBM as in
   ``maintenance.py`` (200 trees, learning rate 0.05, 31 leaves, one thread) — and the newest
   20 % are the **reference**: labelled rows the model did not train on (the gate's holdout);
3. the model is never retrained; every batch is predicted, and its **realised** metric computed
   from its labels (``driftkeeper.metrics``);
4. each estimator is fitted on the reference rows (features, labels, the model's predictions)
   and estimates every batch from its features and predictions alone:

   * **driftkeeper** — ``driftkeeper.monitor.estimation`` (CBPE, DLE);
   * **NannyML** 0.13 — ``nannyml.CBPE`` / ``nannyml.DLE`` with their defaults (one chunk per
     batch), run in a separate virtualenv this script creates (``benchmarks/.nannyml-venv``,
     git-ignored; ``pip install nannyml==0.13.*`` — it pins ``lightgbm<4.6`` — with
     ``pandas<3`` and ``statsmodels``, which 0.13.1 imports without declaring), driven by a
     subprocess; data go over as parquet, estimates come back as JSON;
   * **naive** — the last realised value a deployment would know: labels arrive
     ``--label-delay`` batches late (4, as in ``maintenance.py --label-delay 4``), so batch *i*
     is "estimated" by the realised value of batch *i − 4* (the reference's value before that);
   * **reference** — the reference's own value for every batch (no estimate at all).

Printed per stream and metric: the mean absolute error of each estimate against the realised
value over the batches (lower is better), and for driftkeeper the share of batches whose
realised value lies within 2 of its stated total errors (``Estimate.total_error``). Metrics:
MAE and RMSE (regression), accuracy (= 1 − error rate: the same error) and ROC AUC
(classification), and log loss for driftkeeper alone (NannyML's CBPE has none). The goal of
issue #21: driftkeeper's error ≤ NannyML's and < naive on every stream, for the streams'
metric (``streams.py``: mae, error rate). Latest numbers: ``benchmarks/RESULTS.md``.

Streams: the real ones of ``streams.py`` and river synthetic ones — ``fried-gsg`` and
``sea-gradual`` from ``streams.py`` (concept drift: ``P(y|x)`` changes, which no estimator
without labels can follow) and two built here with **covariate shift only** (the relation stays,
the inputs move): ``friedman-cov`` (``river.datasets.synth.Friedman``, rows drawn ever more from
large ``x0``, ``x1``, where ``10 sin(π x0 x1)`` bends most) and ``sea-cov`` (``synth.SEA``
variant 0, 10 % label noise, rows drawn ever closer to the class boundary ``x1 + x2 = 8``).

Run:  .venv/bin/python benchmarks/estimation.py [--streams bike kc ... | real | synth | all]
          [--quick] [--label-delay 4] [--no-nannyml] [--json out.json]
      .venv/bin/python benchmarks/estimation.py --rescore out.json     # the tables again, no fitting
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from maintenance import model as lgbm_model  # noqa: E402  (the maintenance benchmark's LightGBM)
from streams import load as load_stream  # noqa: E402

VENV = HERE / ".nannyml-venv"
NANNYML_REQUIREMENTS = ["nannyml==0.13.*", "pandas<3", "statsmodels"]
REAL = ["bike", "kc", "melb", "elec2", "lending", "airlines"]
SYNTH = ["friedman-cov", "sea-cov", "fried-gsg", "sea-gradual"]
GROUPS = {"real": REAL, "synth": SYNTH, "all": REAL + SYNTH}
DEFAULT = ["bike", "kc", "melb", "elec2", "lending", "friedman-cov", "sea-cov", "fried-gsg", "sea-gradual"]
METRICS = {"regression": ["mae", "rmse"], "classification": ["accuracy", "roc_auc", "log_loss"]}
NANNYML_METRICS = {"regression": ["mae", "rmse"], "classification": ["accuracy", "roc_auc"]}
PRIMARY = {"regression": "mae", "classification": "accuracy"}  # the streams' metric (error rate = 1 - accuracy)


# --------------------------------------------------------------------------- covariate-shift streams
def _drifting_sample(gen, rows: int, weight, seed: int) -> tuple[list, list]:
    """``rows`` rows of a river generator, row ``t`` kept with probability ``weight(x, t / rows)``
    (rejection sampling): where the inputs lie drifts over time, ``P(y | x)`` does not."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for x, y in gen:
        if rng.uniform() < weight(x, len(xs) / rows):
            xs.append(x)
            ys.append(y)
            if len(xs) == rows:
                break
    return xs, ys


def covariate_stream(name: str, rows: int = 20_000) -> tuple[pd.DataFrame, dict[str, Any]]:
    from river.datasets import synth

    if name == "friedman-cov":
        # the first fifth as generated; then ever more rows with large x0 and x1
        def weight(x, t):
            a = max(0.0, t - 0.2) * 6.0
            return math.exp(a * (x[0] + x[1] - 2.0))

        xs, ys = _drifting_sample(synth.Friedman(seed=51), rows, weight, seed=52)
        kw = dict(target="y", every="400rows")
    elif name == "sea-cov":
        # ever closer to the boundary x1 + x2 = 8 (where the labels are least certain)
        def weight(x, t):
            a = max(0.0, t - 0.2) * 1.5
            return math.exp(-a * abs(x[0] + x[1] - 8.0))

        xs, ys = _drifting_sample(synth.SEA(variant=0, noise=0.1, seed=53), rows, weight, seed=54)
        kw = dict(target="y", every="400rows")
    else:
        raise SystemExit(f"unknown stream {name!r}")
    df = pd.DataFrame(xs)
    df.columns = [f"x{c}" for c in df.columns]
    y = pd.Series(ys)
    df["y"] = y.astype("int64") if y.dtype == bool else y.astype("float64")
    return df, kw


def load(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    if name in ("friedman-cov", "sea-cov"):
        return covariate_stream(name)
    df, kw = load_stream(name)
    return df, {k: v for k, v in kw.items() if k in ("target", "time_column", "every")}


# --------------------------------------------------------------------------- one stream
def prepare(name: str, quick: bool) -> dict[str, Any]:
    """The model, the reference rows and every batch, with predictions and realised metrics."""
    from driftkeeper.backtest import split_batches
    from driftkeeper.metrics import get_metric, score
    from driftkeeper.table import TableSpec, infer_task

    df, kw = load(name)
    if quick:
        df = df.iloc[: int(len(df) * 0.4)]
    init, batches = split_batches(df, every=kw["every"], time_column=kw.get("time_column"))
    spec = TableSpec.from_frame(init, target=kw["target"], time_column=kw.get("time_column"))
    task = spec.task
    n_ref = max(50, int(round(0.2 * len(init))))
    train, ref = init.iloc[: len(init) - n_ref], init.iloc[len(init) - n_ref:]
    model = lgbm_model(task)
    model.fit(spec.features_frame(train), spec.target_values(train[spec.target]))
    classes = list(model.classes_) if task == "classification" else None
    if classes is not None and len(classes) != 2:
        raise SystemExit(f"{name}: {len(classes)} classes; the benchmark compares binary classifiers")

    def part(frame: pd.DataFrame) -> dict[str, Any]:
        X, y = spec.features_frame(frame), spec.target_values(frame[spec.target])
        out = model.predict_proba(X) if task == "classification" else model.predict(X)
        realised = {m: score(get_metric(m, task), np.asarray(y), out, classes) for m in METRICS[task]}
        return {"X": X, "y": y, "out": out, "realised": realised}

    return {"name": name, "task": task, "classes": classes, "spec": spec, "ref": part(ref),
            "batches": [part(b) for b in batches], "train_rows": len(train), "every": kw["every"]}


def fitting_sets(s: dict[str, Any], protocol: str, delay: int) -> list[tuple[tuple[int, ...], list[int]]]:
    """(fitting batches, estimated batches) of a protocol; batch -1 is the reference rows.

    ``fixed``: the reference rows estimate every batch. ``newest``: batch *i* is estimated by an
    estimator fitted on the newest labelled rows a deployment has when batch *i* arrives — whole
    batches up to *i − delay*, newest first, until they hold as many rows as the reference
    (topped up with the reference rows while there are too few): rows the model did not train on
    either way."""
    n = len(s["batches"])
    if protocol == "fixed":
        return [((-1,), list(range(n)))]
    need = len(s["ref"]["X"])
    fits: dict[tuple[int, ...], list[int]] = {}
    for i in range(n):
        ids, rows = [], 0
        for j in range(i - delay, -1, -1):
            ids.append(j)
            rows += len(s["batches"][j]["X"])
            if rows >= need:
                break
        if rows < need:
            ids.append(-1)
        fits.setdefault(tuple(sorted(ids)), []).append(i)
    return list(fits.items())


def driftkeeper_estimates(s: dict[str, Any], fits: list[tuple[tuple[int, ...], list[int]]]
                          ) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    from driftkeeper.monitor.estimation import fit_estimator

    metrics = METRICS[s["task"]]
    n = len(s["batches"])
    values = {m: [np.nan] * n for m in metrics}
    errors = {m: [np.nan] * n for m in metrics}
    t = time.perf_counter()
    for ref_ids, ana in fits:
        parts = [s["ref"] if j < 0 else s["batches"][j] for j in ref_ids]
        X = pd.concat([p["X"] for p in parts], ignore_index=True)
        y = np.concatenate([np.asarray(p["y"]) for p in parts])
        out = np.concatenate([np.asarray(p["out"]) for p in parts])
        est = fit_estimator(s["task"], X, y, out, classes=s["classes"], metrics=metrics if s["task"] == "regression" else None)
        for i in ana:
            chunk = est.estimate(s["batches"][i]["X"], s["batches"][i]["out"])
            for m in metrics:
                values[m][i] = chunk[m].value
                errors[m][i] = chunk[m].total_error
    return values, errors, time.perf_counter() - t


# --------------------------------------------------------------------------- NannyML, in its own venv
NANNYML_DRIVER = r'''
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import nannyml as nml

job = json.loads(open(sys.argv[1]).read())
rows = pd.read_parquet(job["rows"])
out = []
for fit in job["fits"]:  # {"reference": [batch ids], "analysis": [batch ids]}; batch -1: the reference rows
    common = dict(y_pred="__pred", y_true="__y", timestamp_column_name="__t", chunk_period="D", metrics=job["metrics"])
    if job["task"] == "classification":
        est = nml.CBPE(y_pred_proba="__proba", problem_type="classification_binary", **common)
    else:
        est = nml.DLE(feature_column_names=job["features"], **common)
    est.fit(rows[rows["__b"].isin(fit["reference"])])
    ana = rows[rows["__b"].isin(fit["analysis"])].drop(columns=["__y"])
    res = est.estimate(ana).filter(period="analysis").to_df()
    starts = pd.to_datetime(res[("chunk", "start_date")])
    got = {"batch": [int((t - pd.Timestamp("2000-01-01")).days) for t in starts]}
    for m in job["metrics"]:
        got[m] = [None if pd.isna(v) else float(v) for v in res[(m, "value")]]
    out.append(got)
print(json.dumps(out))
'''


def nannyml_python() -> Path | None:
    """The NannyML virtualenv's python, created on first use; None (with the reason printed)
    when it cannot be installed."""
    py = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if py.exists() and stamp.exists():
        return py
    print(f"creating {VENV} for NannyML ({' '.join(NANNYML_REQUIREMENTS)}) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *NANNYML_REQUIREMENTS], check=True)
        subprocess.run([str(py), "-c", "import nannyml"], check=True, env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"})
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"NannyML could not be installed ({exc}); its column is left out", flush=True)
        return None
    stamp.write_text(" ".join(NANNYML_REQUIREMENTS) + "\n")
    return py


def _nml_frame(part: dict[str, Any], task: str, batch: int, positive: Any) -> pd.DataFrame:
    df = part["X"].copy()
    df.columns = [f"f_{c}" for c in df.columns]  # no clash with the bookkeeping columns
    if task == "classification":
        df["__proba"] = np.asarray(part["out"])[:, 1]
        df["__pred"] = (df["__proba"] > 0.5).astype("int64")
    else:
        df["__pred"] = np.asarray(part["out"], dtype="float64")
    y = np.asarray(part["y"])
    df["__y"] = (y.astype(str) == str(positive)).astype("int64") if task == "classification" else y.astype("float64")
    df["__b"] = batch
    if batch >= 0:  # one day per batch: NannyML's chunk_period="D" makes each batch one chunk
        df["__t"] = pd.Timestamp("2000-01-01") + pd.Timedelta(days=batch)
    else:  # the reference spread over the ten days before (its chunks only set NannyML's thresholds)
        df["__t"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(-10 + np.arange(len(df)) * 10 // max(len(df), 1), unit="D")
    return df


def nannyml_estimates(s: dict[str, Any], py: Path, fits: list[tuple[tuple[int, ...], list[int]]]
                      ) -> tuple[dict[str, list[float]], float]:
    """NannyML's estimate of every batch: ``fits`` lists (reference batch ids, analysed batch
    ids), -1 standing for the reference rows. Runs in NannyML's own virtualenv."""
    task = s["task"]
    positive = s["classes"][1] if task == "classification" else None
    with tempfile.TemporaryDirectory(prefix="estimation-nml-") as tmp:
        tmp = Path(tmp)
        parts = [_nml_frame(s["ref"], task, -1, positive)]
        parts += [_nml_frame(b, task, i, positive) for i, b in enumerate(s["batches"])]
        pd.concat(parts, ignore_index=True).to_parquet(tmp / "rows.parquet")
        job = {"task": task, "metrics": NANNYML_METRICS[task], "rows": str(tmp / "rows.parquet"),
               "features": [f"f_{c}" for c in s["ref"]["X"].columns],
               "fits": [{"reference": list(ref), "analysis": list(ana)} for ref, ana in fits]}
        (tmp / "job.json").write_text(json.dumps(job))
        (tmp / "driver.py").write_text(NANNYML_DRIVER)
        t = time.perf_counter()
        r = subprocess.run([str(py), str(tmp / "driver.py"), str(tmp / "job.json")], capture_output=True, text=True,
                           env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"})
        wall = time.perf_counter() - t
    if r.returncode != 0:
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        raise RuntimeError(f"NannyML failed on {s['name']}: {last}")
    values = {m: [np.nan] * len(s["batches"]) for m in NANNYML_METRICS[task]}
    for (_, ana), got in zip(fits, json.loads(r.stdout.strip().splitlines()[-1])):
        if got["batch"] != list(ana):
            raise RuntimeError(f"NannyML's chunks on {s['name']} are not the batches: {got['batch'][:5]} for {list(ana)[:5]}")
        for m in NANNYML_METRICS[task]:
            for i, v in zip(ana, got[m]):
                values[m][i] = np.nan if v is None else v
    return values, wall


# --------------------------------------------------------------------------- scoring
def naive(realised: list[float], reference: float, delay: int) -> list[float]:
    """Batch i's estimate: the realised value of batch i - delay (the reference's before that)."""
    return [realised[i - delay] if i >= delay and math.isfinite(realised[i - delay]) else reference
            for i in range(len(realised))]


def mae(est: list[float], real: list[float]) -> float | None:
    e, r = np.asarray(est, float), np.asarray(real, float)
    ok = np.isfinite(e) & np.isfinite(r)
    return float(np.mean(np.abs(e[ok] - r[ok]))) if ok.any() else None


PROTOCOLS = ("fixed", "newest")


def tracked(raw: list[float], real: list[float], delay: int) -> tuple[list[float], list[dict[str, Any]]]:
    """What the runner reports: each batch's raw estimate corrected by the errors of earlier
    estimates whose labels had arrived (:class:`driftkeeper.monitor.tracking.EstimateTrack`),
    batch i − delay's labels arriving with batch i, before its estimate — as in production."""
    from driftkeeper.monitor.tracking import EstimateTrack

    track, values, how = EstimateTrack(), [], []
    for i, r in enumerate(raw):
        if i - delay >= 0:
            track.realise(i - delay, real[i - delay])
        if not math.isfinite(r):
            values.append(np.nan)
            how.append({})
            continue
        c = track.estimate(i, r)
        values.append(c.value)
        how.append({"correction": c.correction, "weight": c.weight})
    return values, how


def score_protocol(d: dict[str, Any], protocol: str) -> list[dict[str, Any]]:
    """The printed rows of one stream and protocol, from the stored per-batch values."""
    p, real, delay = d["protocols"][protocol], d["realised"], d["label_delay"]
    rows = []
    for m in METRICS[d["task"]]:
        ref_value = d["reference_values"][m] if "reference_values" in d else \
            next(r["reference_value"] for r in p["metrics"] if r["metric"] == m)  # a JSON of an earlier release
        dk, nml = p["driftkeeper"][m], p["nannyml"]
        dk_err = p.get("driftkeeper_errors", {}).get(m, [np.nan] * len(dk))
        tr, how = tracked(dk, real[m], delay)
        within = [abs(e - r) <= 2 * se for e, r, se in zip(dk, real[m], dk_err)
                  if math.isfinite(r) and math.isfinite(e) and math.isfinite(se)]
        last = how[-1] if how else {}
        rows.append({
            "metric": m, "primary": m == PRIMARY[d["task"]],
            "realised_mean": float(np.nanmean(real[m])),
            "realised_range": [float(np.nanmin(real[m])), float(np.nanmax(real[m]))],
            "reference_value": ref_value,
            "raw": mae(dk, real[m]),
            "driftkeeper": mae(tr, real[m]),
            "nannyml": mae(nml[m], real[m]) if nml is not None and m in nml else None,
            "naive": mae(naive(real[m], ref_value, delay), real[m]),
            "reference": mae([ref_value] * len(real[m]), real[m]),
            "within_2_errors": float(np.mean(within)) if within else None,
            "last_choice": last,
        })
    return rows


def run_stream(name: str, quick: bool, delay: int, py: Path | None, protocols: tuple[str, ...] = PROTOCOLS) -> dict[str, Any]:
    t = time.perf_counter()
    s = prepare(name, quick)
    task = s["task"]
    real = {m: [b["realised"][m] for b in s["batches"]] for m in METRICS[task]}
    out: dict[str, Any] = {"stream": name, "task": task, "batches": len(s["batches"]), "train_rows": s["train_rows"],
                           "reference_rows": len(s["ref"]["X"]), "every": s["every"], "label_delay": delay,
                           "realised": real, "reference_values": {m: s["ref"]["realised"][m] for m in METRICS[task]},
                           "protocols": {}}
    for protocol in protocols:
        fits = fitting_sets(s, protocol, delay)
        dk, dk_err, dk_s = driftkeeper_estimates(s, fits)
        nml, nml_s, nml_error = None, None, None
        if py is not None:
            try:
                nml, nml_s = nannyml_estimates(s, py, fits)
            except RuntimeError as exc:
                nml_error = str(exc)
        out["protocols"][protocol] = {"fits": len(fits), "driftkeeper": dk, "driftkeeper_errors": dk_err, "nannyml": nml,
                                      "driftkeeper_s": round(dk_s, 2), "nannyml_s": None if nml_s is None else round(nml_s, 2),
                                      "nannyml_error": nml_error}
        out["protocols"][protocol]["metrics"] = score_protocol(out, protocol)
    out["wall_s"] = round(time.perf_counter() - t, 1)
    return out


# --------------------------------------------------------------------------- printing
def _n(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def _le(a: float, b: float) -> bool:
    """a ≤ b, counting the same number computed in another order as equal (CBPE's calibration is
    the same isotonic regression in both tools: their estimates agree to ~1e-12)."""
    return a <= b * (1 + 1e-9) + 1e-15


def goal(row: dict[str, Any]) -> str:
    dk, nml, nv = row["driftkeeper"], row["nannyml"], row["naive"]
    if dk is None:
        return "-"
    parts = []
    if nml is not None:
        parts.append("≤ NannyML" if _le(dk, nml) else "> NannyML")
    parts.append("< naive" if dk < nv else "≥ naive")
    return ", ".join(parts)


def print_table(results: list[dict[str, Any]], delay: int, protocol: str) -> None:
    what = {"fixed": "estimators fitted once, on the reference rows",
            "newest": f"estimators refitted for each batch on the newest labelled rows (labels {delay} batches late)"}[protocol]
    print(f"[{protocol}] {what}. Mean absolute error of the estimated metric against the realised one over the "
          f"batches (lower is better); driftkeeper = the estimate the runner reports (raw corrected by the errors of "
          f"earlier estimates whose labels had arrived, monitor/tracking.py); raw = CBPE/DLE alone; naive = the "
          f"realised value {delay} batches earlier; reference = the reference rows' value; 'within 2se' = batches whose "
          f"realised value lies within 2 of the raw estimate's stated errors")
    print(f"{'stream':14} {'batches':>7} {'metric':9} {'realised (min-max)':>26} {'driftkeeper':>12} {'raw':>10} "
          f"{'NannyML':>10} {'naive':>10} {'reference':>10} {'within 2se':>10}  goal")
    for d in results:
        if d.get("error"):
            print(f"{d['stream']:14} FAILED: {d['error']}")
            continue
        p = d["protocols"][protocol]
        for r in p["metrics"]:
            lo, hi = r["realised_range"]
            rng = f"{_n(r['realised_mean'])} ({_n(lo)}-{_n(hi)})"
            within = "-" if r["within_2_errors"] is None else f"{r['within_2_errors']:.0%}"
            mark = "*" if r["primary"] else " "
            print(f"{d['stream']:14} {d['batches']:7d} {r['metric'] + mark:9} {rng:>26} {_n(r['driftkeeper']):>12} "
                  f"{_n(r.get('raw')):>10} {_n(r['nannyml']):>10} {_n(r['naive']):>10} {_n(r['reference']):>10} {within:>10}  {goal(r)}")
        if p.get("nannyml_error"):
            print(f"{'':14} NannyML: {p['nannyml_error']}")
    prim = [r for d in results if not d.get("error") for r in d["protocols"][protocol]["metrics"] if r["primary"]]
    ok_nml = [r for r in prim if r["nannyml"] is not None]
    print(f"* the stream's metric (accuracy's error is error rate's). Goal [{protocol}]: driftkeeper ≤ NannyML on "
          f"{sum(_le(r['driftkeeper'], r['nannyml']) for r in ok_nml)} of {len(ok_nml)} streams, < naive on "
          f"{sum(r['driftkeeper'] < r['naive'] for r in prim)} of {len(prim)}")
    print()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", nargs="+", default=DEFAULT, help=f"stream names or groups {sorted(GROUPS)}; "
                    f"default {' '.join(DEFAULT)}")
    ap.add_argument("--quick", action="store_true", help="first 40%% of each stream")
    ap.add_argument("--label-delay", type=int, default=4, help="batches the naive estimate's labels lag (default 4)")
    ap.add_argument("--no-nannyml", action="store_true", help="leave NannyML out (no virtualenv)")
    ap.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                    help="fixed: estimators fitted once on the reference rows; newest: refitted for each batch on the "
                    "newest labelled rows (default: both)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rescore", type=Path, default=None, metavar="JSON",
                    help="print the tables again from a --json file of an earlier run (no estimator is fitted)")
    args = ap.parse_args(argv)
    if args.rescore:
        results = json.loads(args.rescore.read_text())
        for d in results:
            for protocol in d.get("protocols", {}):
                d["protocols"][protocol]["metrics"] = score_protocol(d, protocol)
        for protocol in args.protocols:
            if any(protocol in d.get("protocols", {}) for d in results):
                print_table([d for d in results if d.get("error") or protocol in d["protocols"]],
                            results[0].get("label_delay", args.label_delay), protocol)
        return
    if args.label_delay < 1:
        raise SystemExit("--label-delay must be at least 1 (with 0 the last realised value is the batch's own)")
    streams: list[str] = []
    for s in args.streams:
        for n in GROUPS.get(s, [s]):
            if n not in GROUPS["all"]:
                raise SystemExit(f"unknown stream {n!r}; expected one of {GROUPS['all']} or a group {sorted(GROUPS)}")
            if n not in streams:
                streams.append(n)
    py = None if args.no_nannyml else nannyml_python()
    results = []
    t = time.perf_counter()
    for name in streams:
        try:
            d = run_stream(name, args.quick, args.label_delay, py, tuple(args.protocols))
        except Exception as exc:  # noqa: BLE001  (a stream that cannot be loaded is a row, not a crash)
            d = {"stream": name, "error": f"{type(exc).__name__}: {exc}"}
        times = ", ".join(f"{k}: driftkeeper {v['driftkeeper_s']} s, NannyML {v['nannyml_s']} s"
                          for k, v in d.get("protocols", {}).items())
        print(f"  {name}: {d.get('batches', '-')} batches, {d.get('wall_s', '-')} s ({times})", flush=True)
        results.append(d)
    print()
    for protocol in args.protocols:
        print_table(results, args.label_delay, protocol)
    print(f"total wall {time.perf_counter() - t:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
