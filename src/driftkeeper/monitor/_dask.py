"""The fence around Dask: the only driftkeeper module that imports ``dask`` or ``distributed``
(``pip install driftkeeper[dask]``), imported by the monitor only when it is handed a Dask
DataFrame, and by ``driftkeeper report --engine dask``.

:func:`fit` and :func:`check` are :meth:`Monitor.fit` / :meth:`Monitor.check` on a
``dask.dataframe.DataFrame``: each partition is summarised on the workers
(:func:`.partials.part_stats`), the summaries are merged in a tree, and the client scores every
column from the merged summary. What is exact and what is bounded is documented in
:mod:`.partials`; an approximate column says so in its report entry (``approx="binned"`` and
``score_bounds``). A check makes one pass over the batch, plus a second over the numerical
columns scored by psi, jensenshannon or kl_div on sturges bins (their edges need the batch's
range first). Partition work is pure: a task the scheduler retries after losing a worker
computes the same summary, so a lost worker means a retried task or a clear error, never a
different report.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from . import partials as pt
from . import sketch as sk
from . import stattests as st
from ..exceptions import ConfigError, DataQualityError, DriftkeeperError, InputError, SchemaError
from .columns import _check_counts, empty_profile, infer_kind, reference_profile
from .report import ColumnDrift, DriftReport

if TYPE_CHECKING:
    from .monitor import Monitor

__all__ = ["fit", "check", "read_table", "connect"]

NUM, CAT = st.NUM, st.CAT
_INTEGER_CARDINALITY_LIMIT = 10  # as in columns.infer_kind
_SKETCHED = ("ks", "wasserstein", "auto")
_STURGES = ("psi", "jensenshannon", "kl_div")
#: the reference's std is merged from partition moments (Chan et al.), pandas computes it in two
#: passes: they agree to a few units of roundoff, and the Wasserstein bounds are widened by this
_STD_MARGIN = 1e-12


# ----------------------------------------------------------------------------- running
def _reduce(ddf: Any, part_fn, merge_fn, spec: dict) -> dict:
    """``part_fn`` on every partition of ``ddf``, merged pairwise in partition order."""
    import dask

    spec_d = dask.delayed(spec, pure=True, traverse=False)
    level = [dask.delayed(part_fn, pure=True)(p, spec_d) for p in ddf[list(spec)].to_delayed()]
    while len(level) > 1:
        level = [dask.delayed(merge_fn, pure=True)(level[i], level[i + 1], spec_d) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    try:
        return dask.compute(level[0])[0]
    except DriftkeeperError:
        raise
    except Exception as exc:
        if type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError"):
            raise DriftkeeperError(
                f"the Dask cluster lost workers during the drift check ({type(exc).__name__}: {exc}); "
                "no report was made: rerun once the cluster is healthy"
            ) from exc
        raise


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``address`` for the block (``None``: Dask's
    default scheduler, threads in this process, or a client already created by the caller)."""
    if address is None:
        yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address!r} ({exc}); expected an address like "
                         "tcp://host:8786 of a running scheduler") from exc
    with client:
        yield client


def read_table(path: str | Path, *, what: str) -> Any:
    """A parquet directory or file (or CSV files) as a Dask DataFrame; one-line errors."""
    import dask.dataframe as dd

    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {str(p)!r} does not exist; expected a parquet directory or file")
    try:
        if p.is_dir() or p.suffix == ".parquet":
            return dd.read_parquet(str(p))
        return dd.read_csv(str(p))
    except (OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what} {str(p)!r} cannot be read as a parquet dataset: {msg}") from exc


def _as_dask(data: Any) -> Any:
    if isinstance(data, pd.DataFrame):
        import dask.dataframe as dd

        return dd.from_pandas(data, npartitions=1)
    return data


def _aux_name(value: Any, role: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InputError(f"on a Dask DataFrame, {role}= must be a column name; got {type(value).__name__}")


# ----------------------------------------------------------------------------- fit
def _kind(dtype: Any, d: dict, forced: str | None, named: bool) -> str | None:
    """Evidently's inference (:func:`.columns.infer_kind`) from a column's dtype and summary."""
    if forced is not None:
        return forced
    name = dtype.name
    if name in ("bool", "boolean", "category"):
        return CAT
    if pd.api.types.is_float_dtype(dtype):
        return NUM
    if pd.api.types.is_integer_dtype(dtype):
        return CAT if d["counts"] is not None and len(d["counts"]) <= _INTEGER_CARDINALITY_LIMIT else NUM
    if name in ("string", "str", "object") and d["n"] and isinstance(d["first"], str) and isinstance(d["last"], str):
        if len(d["counts"]) <= d["n"] * 0.5:
            return CAT
    return CAT if named and not pd.api.types.is_datetime64_any_dtype(dtype) else None


def _is_num_dtype(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _profile(col: str, kind: str, dtype: Any, d: dict, bins: int, what: str = "reference") -> st.ColumnProfile:
    """The reference profile of one column from its merged summary: exact when the column was
    small enough to be collected, counts (and a :class:`.partials.Summary`) otherwise."""
    if d.get("n_inf"):
        raise DataQualityError(f"column {col!r} in the {what} has {d['n_inf']} infinite values; expected finite numbers")
    if d["n"] == 0:
        return empty_profile(kind)
    if d["values"] is not None:
        values = d["values"]
        if pd.api.types.is_integer_dtype(dtype) and values.dtype.kind == "f":
            values = values.astype(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)
        return reference_profile(pd.Series(values), col, kind)
    counts = d["counts"]
    keys, n_counts = ([], None) if counts is None else (list(counts), np.array(list(counts.values()), dtype=np.int64))
    if counts is not None and pd.api.types.is_integer_dtype(dtype):
        keys = [int(k) for k in keys]
    if kind == CAT:
        _check_counts(keys, n_counts, None, col, what)
        return st.ColumnProfile(CAT, None, None, None, keys, n_counts, len(keys), sketch=pt.Summary(d["n"]))
    n_unique = len(keys) if counts is not None else pt._CAP + 1
    if n_unique > pt._CAP:
        keys, n_counts = [], None
    summary = pt.Summary(d["n"], d["mean"], d["m2"], d["lo"], d["hi"])
    summary.edges, summary.bins = pt.sketch_edges(d["lo"], d["hi"], d["q"], bins), bins
    return st.ColumnProfile(NUM, None, None, summary.std, keys, n_counts, n_unique, sketch=summary)


def fit(monitor: "Monitor", ddf: Any, target: Any = None, prediction: Any = None) -> "Monitor":
    """:meth:`Monitor.fit` on a Dask DataFrame (two passes: summaries, then the sketches)."""
    monitor._validate_params()
    tname, pname = _aux_name(target, "target"), _aux_name(prediction, "prediction")
    all_cols = [str(c) for c in ddf.columns]
    for role, name in (("target", tname), ("prediction", pname)):
        if name is not None and name not in all_cols:
            raise SchemaError(f"{role} column {name!r} is not in the reference")
    features = [c for c in all_cols if c not in (tname, pname)]
    cols = features if monitor.columns is None else list(monitor.columns)
    missing = [c for c in cols if c not in all_cols]
    if missing:
        raise SchemaError(f"column {missing[0]!r} of columns= is not in the reference")
    for lst, label in ((monitor.categorical, "categorical"), (monitor.numerical, "numerical")):
        for c in lst or ():
            if c not in cols:
                raise ConfigError(f"column {c!r} of {label}= is not a checked column")
    dtypes = ddf.dtypes
    for c in monitor.numerical or ():
        if not _is_num_dtype(dtypes[c]):
            raise SchemaError(f"column {c!r} is declared numerical but the reference holds {dtypes[c]} values; expected numbers")
    aux = [n for n in (tname, pname) if n is not None]
    spec = {c: {"num": _is_num_dtype(dtypes[c]), "counts": c in (monitor.categorical or ()), "quantiles": int(monitor.bins)}
            for c in dict.fromkeys(cols + aux)}
    merged = _reduce(ddf, pt.part_stats, pt.merge_stats, spec)
    forced = {**{c: NUM for c in monitor.numerical or ()}, **{c: CAT for c in monitor.categorical or ()}}
    kinds: dict[str, str] = {}
    skipped: list[str] = []
    for c in cols:
        k = _kind(dtypes[c], merged[c], forced.get(c), monitor.columns is not None)
        (skipped.append(c) if k is None else kinds.__setitem__(c, k))
    if not kinds:
        raise SchemaError("reference has no numerical or categorical columns to check")
    known = all_cols
    for label, value in (("method", monitor.method), ("threshold", monitor.threshold)):
        if isinstance(value, dict):
            for c in value:
                if c not in known:
                    raise ConfigError(f"column {c!r} of {label}= is not in the reference")
    for c, k in kinds.items():
        monitor._validate_method(c, k)
    profiles = {c: _profile(c, k, dtypes[c], merged[c], int(monitor.bins)) for c, k in kinds.items()}
    aux_fit: dict[str, dict[str, Any]] = {}
    for role, name in (("target", tname), ("prediction", pname)):
        if name is None:
            continue
        k = _kind(dtypes[name], merged[name], None, True) or CAT
        if role == "prediction" and aux_fit.get("target", {}).get("kind") == CAT and pd.api.types.is_float_dtype(dtypes[name]):
            k = NUM  # positive-class probabilities
        monitor._validate_method(name, k)
        prof = _profile(name, k, dtypes[name], merged[name], int(monitor.bins))
        if prof.n == 0:
            raise DataQualityError(f"{role} {name!r} is missing on all {merged['rows']} reference rows; expected a value")
        aux_fit[role] = {"name": name, "kind": k, "dtype": str(dtypes[name]), "profile": prof}
    _sketch_pass(ddf, {**profiles, **{a["name"]: a["profile"] for a in aux_fit.values()}})
    for c, prof in profiles.items():
        m = monitor._method_for(c)
        if isinstance(prof.sketch, pt.Summary) and (m in pt.NEEDS_VALUES or (m == "hellinger" and prof.kind == NUM)):
            raise ConfigError(f"column {c!r}: method {m!r} needs every value of the column and the reference holds "
                              f"{prof.n} (more than {pt.GATHER_MAX}); on a Dask DataFrame choose " + _WORKING)
    monitor.schema_ = {c: str(dtypes[c]) for c in kinds}
    monitor.kinds_, monitor.skipped_columns_ = kinds, skipped
    monitor.reference_columns_, monitor.reference_rows_ = all_cols, int(merged["rows"])
    monitor.profile_, monitor.aux_, monitor.engine_ = profiles, aux_fit, "dask"
    return monitor


_WORKING = ("ks or wasserstein (bounded approximations), t_test, psi, jensenshannon or kl_div, "
            "or check a pandas sample")


def _sketch_pass(ddf: Any, profiles: dict[str, st.ColumnProfile]) -> None:
    """Second reference pass: each large numerical column counted into its sketch's bins and
    into the sturges grids of every bin count a check may use."""
    spec = {}
    for c, prof in profiles.items():
        s = prof.sketch
        if isinstance(s, pt.Summary) and prof.kind == NUM:
            spec[c] = {"edges": s.edges, "hists": [np.linspace(s.lo, s.hi, nb + 1) for nb in pt.nb_range(s.n)]}
    if not spec:
        return
    merged = _reduce(ddf, pt.part_hist, pt.merge_hist, spec)
    for c, d in merged.items():
        s = profiles[c].sketch
        s.sketch = pt.sketch_from_counts(s.edges, d["sk"], s.n, s.bins)
        s.hist = dict(zip(pt.nb_range(s.n), d["hists"]))
        del s.edges, s.bins


# ----------------------------------------------------------------------------- check
def _summary(prof: st.ColumnProfile, bins: int) -> pt.Summary | None:
    """The summary a large current column is compared with: the fitted one, or one made from
    an exact profile's sorted values (a monitor fitted on pandas)."""
    if isinstance(prof.sketch, pt.Summary):
        return prof.sketch
    if prof.kind == NUM and prof.sorted is not None and prof.n:
        return pt.summary_from_sorted(prof.sorted, prof.std, bins)
    return None


def check(monitor: "Monitor", data: Any, target: Any = None, prediction: Any = None) -> DriftReport:
    """:meth:`Monitor.check` of a Dask DataFrame (a pandas one too, for a monitor fitted on Dask)."""
    monitor._check_fitted()
    if monitor.sample is not None:
        raise ConfigError("sample= draws from a pandas DataFrame; on a Dask DataFrame sample it with "
                          "ddf.sample(frac=...) before the check, or set sample=None")
    ddf = _as_dask(data)
    tname, pname = _aux_name(target, "target"), _aux_name(prediction, "prediction")
    monitor._check_columns(ddf, {c for c in (tname, pname) if c is not None})
    cols: dict[str, tuple[str, st.ColumnProfile]] = {c: (k, monitor.profile_[c]) for c, k in monitor.kinds_.items()}
    aux: dict[str, str] = {}
    warnings_: list[str] = []
    for role, name in (("target", tname), ("prediction", pname)):
        if name is None:
            continue
        if name not in ddf.columns:
            raise SchemaError(f"{role} column {name!r} is not in the current batch")
        fitted = monitor.aux_.get(role)
        if fitted is None:
            warnings_.append(f"{role} drift needs a reference {role}: pass {role}= to fit")
            continue
        cols[name], aux[role] = (fitted["kind"], fitted["profile"]), name
    summaries = {c: _summary(p, int(monitor.bins)) for c, (k, p) in cols.items()}
    dtypes = ddf.dtypes
    spec = {}
    for c, (k, prof) in cols.items():
        if k == NUM and not _is_num_dtype(dtypes[c]):
            raise SchemaError(f"column {c!r} in the current batch holds {dtypes[c]} values; expected numbers")
        s = summaries[c]
        sketched = s is not None and s.sketch is not None and monitor._method_for(c) in _SKETCHED
        spec[c] = {"num": k == NUM, "counts": prof.n_unique <= pt._CAP,
                   "edges": s.sketch.edges if sketched else None}
    merged = _reduce(ddf, pt.part_stats, pt.merge_stats, spec)
    rows = int(merged["rows"])
    resolved = {c: _resolve(monitor, c, cols[c][1], merged[c]) for c in cols}
    hists = _sturges_pass(ddf, cols, summaries, merged, resolved)
    drift = {c: _column(monitor, c, cols[c][0], cols[c][1], summaries[c], merged[c], rows, resolved[c], hists.get(c))
             for c in cols}
    columns = tuple(drift[c] for c in monitor.kinds_)
    warnings_ = [f"{c.name}: {c.unseen_share:.1%} of values are categories never seen in reference"
                 for c in columns if c.unseen_share] + warnings_
    warnings_ += [monitor._not_computed(c) for c in columns if c.score is None]
    warnings_ += [_uncertain(c) for c in columns if not c.verdict_certain]
    extra = {role: drift[name] for role, name in aux.items()}
    for role, c in extra.items():
        if c.score is None:
            warnings_.append(monitor._not_computed(c, role))
    if tname is not None and pname is not None:
        warnings_.append("performance is not computed on a Dask DataFrame: compute the metrics on the labelled rows")
    return DriftReport(columns=columns, drift_share_threshold=float(monitor.drift_share),
                       reference_rows=monitor.reference_rows_, current_rows=rows, prediction=extra.get("prediction"),
                       target=extra.get("target"), performance=None, warnings=tuple(warnings_), sample=None)


def _uncertain(c: ColumnDrift) -> str:
    lo, hi = c.score_bounds or (c.score, c.score)
    return (f"{c.name}: approximate {c.method} score {c.score:.4g}, exact within [{lo:.4g}, {hi:.4g}], which holds "
            f"the threshold {c.threshold:g}: the exact verdict may differ (a pandas check scores it exactly)")


def _resolve(monitor: "Monitor", name: str, prof: st.ColumnProfile, d: dict) -> tuple[str, float]:
    """The column's method and threshold: Evidently's default rule on the merged counts (the
    current column's distinct values matter only where the reference has at most 5, and those
    columns are counted in full)."""
    cmap = d["counts"]
    keys = np.asarray(list(cmap) if cmap else [], dtype=np.float64 if prof.kind == NUM else object)
    return monitor._resolve(name, prof, keys, cmap)


def _sturges_pass(ddf, cols, summaries, merged, resolved) -> dict[str, list[np.ndarray]]:
    """Second pass over the batch: sturges histograms of the numerical columns that need them."""
    spec = {}
    for c, (k, prof) in cols.items():
        d = merged[c]
        small = d["values"] is not None and prof.values is not None
        if k == NUM and resolved[c][0] in _STURGES and prof.n_unique > pt._CAP and d["n"] and not small:
            s = summaries[c]
            spec[c] = {"edges": None, "hists": [pt.sturges_edges(min(s.lo, d["lo"]), max(s.hi, d["hi"]), s.n + d["n"])]}
    if not spec:
        return {}
    return {c: v["hists"] for c, v in _reduce(ddf, pt.part_hist, pt.merge_hist, spec).items()}


def _column(monitor, name, kind, prof, summary, d, rows, resolved, hists) -> ColumnDrift:
    """The drift of one column from its merged summary."""
    method, thr = resolved
    if d.get("n_inf") or (kind == CAT and d["counts"] is not None):
        if kind == NUM:
            raise DataQualityError(f"column {name!r} in the current batch has {d['n_inf']} infinite values; "
                                   "expected finite numbers")
        _check_counts(list(d["counts"]), np.array(list(d["counts"].values())), None, name, "current batch")
    info = st.METHODS[method]
    n_cur = int(d["n"])
    base = dict(name=name, kind=kind, method=method, threshold=float(thr), stattest_type=info.stattest_type,
                rows=rows, missing_share=1.0 - n_cur / rows if rows else 1.0)
    if n_cur == 0 or prof.n == 0:
        return ColumnDrift(score=None, drifted=False, unseen_share=None, **base)
    if d["values"] is not None and prof.values is not None:  # both sides small: the pandas path itself
        exact = monitor._score(name, kind, prof, pd.Series(d["values"]))
        return replace(exact, rows=base["rows"], missing_share=base["missing_share"])
    approx = bounds = None
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            score, bounds = _score(method, kind, prof, summary, d, hists, n_cur)
    except ValueError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataQualityError(f"column {name!r}: method {method!r} cannot score this batch: {msg}") from exc
    if bounds is not None:
        approx = "binned"
    unseen = None
    if kind == CAT:
        seen = set(prof.keys)
        unseen = sum(v for k, v in d["counts"].items() if k not in seen) / n_cur
    return ColumnDrift(score=float(score), drifted=info.drifted(score, thr) if not math.isnan(score) else False,
                       unseen_share=unseen, approx=approx, score_bounds=bounds, **base)


def _score(method, kind, prof, summary, d, hists, n_cur) -> tuple[float, tuple[float, float] | None]:
    """``(score, bounds)`` of one large column: bounds ``None`` when the score is exact."""
    by_counts = kind == CAT or prof.n_unique <= pt._CAP
    if method in pt.NEEDS_VALUES or (method == "hellinger" and not by_counts):
        raise ValueError(f"it needs every value of the column, and a side holds more than {pt.GATHER_MAX}; "
                         f"on a Dask DataFrame choose {_WORKING}")
    if method == "t_test":
        from scipy.stats import ttest_ind_from_stats

        s = summary or pt.Summary(prof.n, float(np.mean(prof.values)), float(np.var(prof.values)) * prof.n)
        sd = lambda m2, n: math.sqrt(m2 / (n - 1)) if n > 1 else math.nan  # noqa: E731
        return float(ttest_ind_from_stats(s.mean, sd(s.m2, s.n), s.n, d["mean"], sd(d["m2"], n_cur), n_cur)[1]), None
    if method in ("hellinger", "fisher_exact"):
        fn = pt.hellinger_counts if method == "hellinger" else pt.fisher_counts
        return fn(prof.count_map(), d["counts"]), None
    if method in ("ks", "wasserstein"):
        return _sketch_score(method, prof, summary, d, n_cur)
    if by_counts or method not in _STURGES:
        keys = np.asarray(list(d["counts"]), dtype=np.float64 if kind == NUM else object)
        return st.score_fast(method, prof, keys, d["counts"]), None
    return _sturges_score(method, prof, summary, d, hists, n_cur)


def _sketch_score(method, prof, summary, d, n_cur) -> tuple[float, tuple[float, float]]:
    b = pt.sketch_binned(summary.sketch, d["sk"], d["lo"], d["hi"], n_cur)
    if method == "wasserstein":
        lo, hi = sk._wasserstein_bounds(b)
        norm = max(prof.std, 0.001)
        lo, hi = lo / norm * (1 - _STD_MARGIN), hi / norm * (1 + _STD_MARGIN)
        return (lo + hi) / 2, (lo, hi)
    lo, hi = sk._ks_bounds(b)
    p = st.ks_asymptotic_pvalue((lo + hi) / 2, summary.n, n_cur)
    return p, (st.ks_asymptotic_pvalue(hi, summary.n, n_cur), st.ks_asymptotic_pvalue(lo, summary.n, n_cur))


def _sturges_score(method, prof, summary, d, hists, n_cur) -> tuple[float, tuple[float, float] | None]:
    """psi / jensenshannon / kl_div on Evidently's sturges bins of reference and batch together."""
    (cur,) = hists
    edges = pt.sturges_edges(min(summary.lo, d["lo"]), max(summary.hi, d["hi"]), summary.n + n_cur)
    c = cur / n_cur
    if prof.sorted is not None:  # a pandas-fitted reference: its values are at hand
        ref = st._histogram_counts_sorted(prof.sorted, edges)
    elif edges[0] == summary.lo and edges[-1] == summary.hi and edges.size - 1 in summary.hist:
        ref = summary.hist[edges.size - 1]  # the batch within the reference's range: frozen grid
    else:
        f_lo, f_hi = pt.count_bounds(summary.sketch, edges[:-1])
        r_lo = np.clip(np.r_[f_lo[1:], summary.n] - f_hi, 0, summary.n)
        r_hi = np.clip(np.r_[f_hi[1:], summary.n] - f_lo, 0, summary.n)
        lo, hi = pt.binned_bounds(method, r_lo.astype(np.float64), r_hi.astype(np.float64), summary.n, cur)
        lo, hi = max(lo - 1e-12 * (1 + abs(lo)), 0.0), hi + 1e-12 * (1 + abs(hi))
        return (lo + hi) / 2, (lo, hi)
    return pt.binned_shares_score(method, ref / summary.n, c), None
