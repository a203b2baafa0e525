"""The streams of ``benchmarks/maintenance.py``: a frame and the backtest arguments of each.

Real datasets (in the ``shared/data`` folder beside the project; see its README for columns,
time, leaking columns and quirks):

* ``bike`` Bike Sharing hourly — weekly batches of ``dteday``+``hr``; ``casual``/``registered``/``instant`` dropped;
* ``kc`` King County house sales — weekly batches of ``date``; ``id`` dropped;
* ``elec2`` Elec2 — no usable time column: row order, 336-row batches (one week of half hours); ``date`` dropped;
* ``lending`` LendingClub 2007–2011 — file reversed into time order, 1,000-row batches; ``revol_util``
  ("83.70%") and ``term`` ("36 months") turned into numbers;
* ``melb`` Melbourne housing 2016–18 — rows without ``Price`` dropped (withdrawn, passed in without
  a bid, ...), ``Address`` (an identifier) dropped, sorted by ``Date`` (``d/mm/yyyy``, turned into
  ISO dates: read as text it would be month-first), weekly batches (~60). The target is
  ``log_price`` = ln(``Price``): prices span $85k–$11M, so an absolute error on dollars is
  dominated by the few mansions (and the policy's RMSE triggers more so), while the market moves
  by percentages; the MAE of a log price is a relative error (0.2 ≈ 20 %) comparable over the
  two years. Mostly-missing columns stay in (LightGBM takes NaN). ``Method`` PI/VB (passed in,
  vendor bid) rows keep their price: a feature says what they are;
* ``airlines`` — MOA's airlines stream, 539,383 flights, row order as time, 6,000-row batches
  (72 after the initial fifth), binary ``Delay``; the whole stream.

Synthetic drift streams of ``river.datasets.synth``, generated in-process, seeded (20,000
rows, 400-row batches: the first 4,000 rows train version 1, then 40 batches; row order is time;
the two short streams of group ``small`` below are smaller):

* ``fried-lea`` FriedmanDrift local expanding abrupt drift at rows 7,000, 11,000, 15,000;
* ``fried-gra`` FriedmanDrift global recurring abrupt drift: new concept at 8,000, the old one back at 14,000;
* ``fried-gsg`` FriedmanDrift global slow gradual drift at 8,000 and 14,000 (3,000-row transitions);
* ``agrawal-abrupt`` Agrawal classification function 0 → 2 at row 8,000 → 4 at 14,000, features
  perturbed by 5 % (noise-free, LightGBM learns each function to an error rate of 0–0.3 %, and
  ratios of such errors say nothing); each change within ~100 rows, a quarter of a batch: abrupt. ``ConceptDriftStream``'s sigmoid overflows
  ``math.exp`` for a width below 4 × position / 709, so width 1 cannot be asked for);
* ``sea-gradual`` SEA (10 % label noise) threshold 8 → 9.5, a sigmoid transition centred at row
  10,000, 5,000 rows wide;
* ``hyperplane`` rotating Hyperplane (10 features, 4 drifting by 0.001 a row, 5 % noise): incremental drift.

Two short streams of small batches (group ``small``; the first fifth of the rows trains version 1):

* ``agrawal-small`` 2,100 rows in 100-row batches (17): Agrawal function 7 (2 % positive) turning
  into function 6 (50 % positive) around row 1,200 over 600 rows — the positive rate climbs, as
  defaults do in a credit book going bad;
* ``fried-small`` 3,000 rows in 40-row batches (60): FriedmanDrift global slow gradual drift at
  rows 1,200 and 2,100 (450-row transitions) — a house-price stream of a few dozen sales a month.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

REAL4 = ["bike", "kc", "elec2", "lending"]  # the streams the default policy was tuned on
NEW_REAL = ["melb", "airlines"]
SYNTH_ROWS, SYNTH_BATCH = 20_000, "400rows"
REGRESSION_KW = dict(metric="mae", also_metrics=["rmse"])
CLASSIFICATION_KW = dict(metric="error_rate", also_metrics=["log_loss", "roc_auc"])


def _synth_sources() -> dict[str, Callable[[], Any]]:
    from river.datasets import synth

    def cds(a, b, position, width, seed):
        return synth.ConceptDriftStream(stream=a, drift_stream=b, position=position, width=width, seed=seed)

    def agrawal(function, seed):
        return synth.Agrawal(classification_function=function, seed=seed, perturbation=0.05)

    return {
        "fried-lea": lambda: synth.FriedmanDrift(drift_type="lea", position=(7_000, 11_000, 15_000), seed=11),
        "fried-gra": lambda: synth.FriedmanDrift(drift_type="gra", position=(8_000, 14_000), seed=12),
        "fried-gsg": lambda: synth.FriedmanDrift(drift_type="gsg", position=(8_000, 14_000), transition_window=3_000, seed=13),
        "agrawal-abrupt": lambda: cds(
            cds(agrawal(0, 21), agrawal(2, 22), 8_000, 100, 23), agrawal(4, 24), 14_000, 100, 25),
        "sea-gradual": lambda: cds(synth.SEA(variant=0, noise=0.1, seed=31), synth.SEA(variant=3, noise=0.1, seed=32), 10_000, 5_000, 33),
        "hyperplane": lambda: synth.Hyperplane(seed=41, n_features=10, n_drift_features=4, mag_change=0.001,
                                               noise_percentage=0.05, sigma=0.1),
        # short streams of small batches
        "agrawal-small": lambda: cds(agrawal(7, 51), agrawal(6, 52), 1_200, 600, 53),
        "fried-small": lambda: synth.FriedmanDrift(drift_type="gsg", position=(1_200, 2_100), transition_window=450, seed=54),
    }


#: Short streams of small batches, (rows, batch): a default must not need long histories or big batches
SMALL = {"agrawal-small": (2_100, "100rows"), "fried-small": (3_000, "40rows")}
SYNTH = ["fried-lea", "fried-gra", "fried-gsg", "agrawal-abrupt", "sea-gradual", "hyperplane", *SMALL]
NEW = NEW_REAL + SYNTH
ALL = REAL4 + NEW
GROUPS = {"real4": REAL4, "new": NEW, "new-real": NEW_REAL, "synth": SYNTH, "small": list(SMALL), "all": ALL}


def names(items: list[str]) -> list[str]:
    """Stream names with the groups (``real4``, ``new``, ``new-real``, ``synth``, ``all``) expanded,
    in order, without duplicates; SystemExit on an unknown name."""
    out: list[str] = []
    for item in items:
        for n in GROUPS.get(item, [item]):
            if n not in ALL:
                raise SystemExit(f"unknown stream {n!r}; expected one of {ALL} or a group {sorted(GROUPS)}")
            if n not in out:
                out.append(n)
    return out


def synth_frame(name: str, rows: int = SYNTH_ROWS) -> pd.DataFrame:
    """``rows`` samples of a river synthetic stream as a frame (features ``x0``… for numbered
    features, the generator's names otherwise; target ``y``, 0/1 for classification)."""
    gen = _synth_sources()[name]()
    xs, ys = [], []
    for x, y in gen.take(rows):
        xs.append(x)
        ys.append(y)
    df = pd.DataFrame(xs)
    df.columns = [f"x{c}" if isinstance(c, (int, np.integer)) else str(c) for c in df.columns]
    y = pd.Series(ys)
    df["y"] = y.astype("int64") if y.dtype == bool or pd.api.types.is_integer_dtype(y) else y.astype("float64")
    return df


def load(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame and the backtest arguments of one stream."""
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
    if name == "melb":
        df = pd.read_csv(DATA / "melbourne_housing.csv.gz")  # "#N/A" is read as missing
        df = df[df["Price"].notna()].drop(columns=["Address"])
        t = pd.to_datetime(df["Date"], format="%d/%m/%Y")
        df = df.assign(Date=t.dt.strftime("%Y-%m-%d")).iloc[np.argsort(t.to_numpy(), kind="stable")]
        df["log_price"] = np.log(df.pop("Price"))
        return df.reset_index(drop=True), dict(target="log_price", time_column="Date", every="W", **REGRESSION_KW)
    if name == "airlines":
        df = pd.read_csv(DATA / "airlines.csv.gz")
        return df, dict(target="Delay", every="6000rows", **CLASSIFICATION_KW)
    if name in SYNTH:
        rows, every = SMALL.get(name, (SYNTH_ROWS, SYNTH_BATCH))
        df = synth_frame(name, rows)
        kw = REGRESSION_KW if name.startswith("fried") else CLASSIFICATION_KW
        return df, dict(target="y", every=every, **kw)
    raise SystemExit(f"unknown dataset {name!r}; expected one of {ALL}")
