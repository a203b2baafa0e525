"""The drift monitor: ``Monitor().fit(reference).check(current) -> DriftReport``.

Scores equal Evidently 0.7's own (same stattests, same default-method rule, same
thresholds and comparisons) but are computed from a reference profile cached at fit time,
so a check costs one sort of each current column. Evidently itself is only imported for the
HTML page and for the few methods without a numpy fast path (see :mod:`.stattests`). Column
kinds and data-quality checks live in :mod:`.columns`, the labelled metrics in :mod:`.performance`.
Large batches run column groups on threads (1M x 50 floats: fit + check in about 2.7 CPU
seconds, ``benchmarks/drift_speed.py``). ``Monitor(approx="binned")`` keeps a binned sketch of
large numerical reference columns instead of their values, for batches of 10M rows and more:
scores come with bounds around the exact ones (:mod:`.sketch`).

Example::

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    >>> cur = pd.DataFrame({"x": rng.normal(1.0, size=500), "y": rng.normal(size=500)})
    >>> report = Monitor().fit(ref).check(cur)
    >>> report.drifted_columns, report.column("x").method
    (['x'], 'wasserstein')
"""

from __future__ import annotations

import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import sketch as sk
from . import stattests as st
from .._util.suggest import closest, suggest
from ..exceptions import ConfigError, DataQualityError, InputError, NotFittedError, SchemaError
from ..table import impute_hint
from .columns import category_counts, clean, column_kinds, float_values, infer_kind, reference_profile
from .performance import performance
from .report import ColumnDrift, DriftReport

__all__ = ["Monitor", "infer_kind"]

NUM, CAT = st.NUM, st.CAT
_PARALLEL_MIN_VALUES = 2_000_000  # below this, threads cost more than they save
_SKETCH_MIN_ROWS = 10_000  # approx="binned" sketches larger reference columns (scipy's asymptotic KS regime)
_DEFAULT_BINS = 10_000
_GROUP = 8  # columns read together (float_values): 8 float64 values fill a 64-byte cache line


def _cpus() -> int:
    """CPUs this process may run on (its affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _no_reference_values(role: str, name: str, features: pd.DataFrame) -> str:
    """Why a target or prediction without a single value in the reference cannot be monitored:
    all-missing predictions mean the model could not predict, most often because it cannot take
    the missing values of some feature."""
    msg = f"{role} {name!r} is missing on all {len(features)} reference rows"
    if role != "prediction":
        return msg + f"; expected a {role} value on at least one row"
    hint = impute_hint(features)
    if hint is None:
        return msg + ": the model predicted NaN on every row; expected its predictions"
    return f"{msg}: {hint}"


def _is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame, told by its type's module: Dask stays unimported
    unless the caller already uses it (``driftkeeper[dask]``, :mod:`._dask`)."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "npartitions")


def _param_error(name: str, expected: str, got: Any) -> ConfigError:
    return ConfigError(f"The {name!r} parameter of Monitor must be {expected}. Got {got!r} instead.")


class Monitor:
    """Data, prediction and target drift of a batch against a reference, as a :class:`DriftReport`.

    Args:
        columns: feature columns to check (default: every reference column except the target
            and prediction and those Evidently would not test: datetimes, free text).
        method: ``"auto"`` (Evidently's default rule), a method name for every column, or a
            dict ``{column: method}`` (columns not in the dict use ``"auto"``).
        threshold: ``None`` (each method's Evidently default), a float for every column, or a
            dict ``{column: threshold}``.
        drift_share: share of drifted columns at which the dataset counts as drifted.
        categorical, numerical: columns whose kind is forced (otherwise inferred like Evidently).
        sample: if set, checks a seeded random sample of this many rows of larger current
            batches (recorded in ``report.sample``). Off by default.
        seed: seed of that sample.
        n_jobs: threads for the per-column statistics (default: the CPUs this process may use;
            threads only run on large batches, over groups of columns).
        approx: ``None`` (default): every score exact, equal to Evidently's. ``"binned"``:
            numerical columns of more than 10,000 reference values scored by ``wasserstein``
            or ``ks`` (``"auto"`` picks wasserstein for them) keep a binned sketch of the
            reference instead of its values (:mod:`driftkeeper.monitor.sketch`): a check costs
            one sort of the current column whatever the reference's size, and the monitor
            holds ``bins`` numbers a column instead of twice the reference. Their scores are
            estimates with ``score_bounds`` around the exact score (``ColumnDrift.approx``);
            verdicts are the exact ones unless the threshold lies within those bounds (then a
            warning says so). Other columns stay exact. For batches of 10M rows and more.
        bins: quantile bins of a sketch (``approx="binned"``). The KS statistic's error is at
            most the largest share of a sample inside one bin (about ``1 / bins``).

    The constructor only stores its arguments; :meth:`fit` validates them.
    Fitted attributes: ``schema_`` (column -> dtype), ``kinds_`` (column -> kind),
    ``reference_rows_``, ``profile_`` (column -> cached reference profile), ``aux_`` (target and
    prediction profiles), ``skipped_columns_``, ``reference_columns_``.
    """

    # monitors pickled before these parameters existed read them from here
    approx: str | None = None
    bins: int = _DEFAULT_BINS

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        method: str | Mapping[str, str] = "auto",
        threshold: float | Mapping[str, float] | None = None,
        drift_share: float = 0.5,
        categorical: Sequence[str] | None = None,
        numerical: Sequence[str] | None = None,
        sample: int | None = None,
        seed: int = 0,
        n_jobs: int | None = None,
        approx: str | None = None,
        bins: int = _DEFAULT_BINS,
    ) -> None:
        self.columns = columns
        self.method = method
        self.threshold = threshold
        self.drift_share = drift_share
        self.categorical = categorical
        self.numerical = numerical
        self.sample = sample
        self.seed = seed
        self.n_jobs = n_jobs
        self.approx = approx
        self.bins = bins

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        def names(value: Any, pname: str) -> list[str] | None:
            if value is None:
                return None
            if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset, pd.Index)):
                raise _param_error(pname, "a list of column names or None", value)
            return list(value)

        names(self.columns, "columns")
        names(self.categorical, "categorical")
        names(self.numerical, "numerical")
        if not isinstance(self.method, (str, Mapping)):
            raise _param_error("method", "a method name, 'auto' or a dict {column: method}", self.method)
        thr = self.threshold
        values = thr.values() if isinstance(thr, Mapping) else ([] if thr is None else [thr])
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
                raise _param_error("threshold", "a non-negative float, a dict {column: float} or None", thr)
        ds = self.drift_share
        if isinstance(ds, bool) or not isinstance(ds, numbers.Real) or not 0 <= ds <= 1:
            raise _param_error("drift_share", "a float in the range [0, 1]", ds)
        if self.sample is not None and (
            isinstance(self.sample, bool) or not isinstance(self.sample, numbers.Integral) or self.sample < 1
        ):
            raise _param_error("sample", "an int in the range [1, inf) or None", self.sample)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise _param_error("seed", "an int", self.seed)
        if self.n_jobs is not None and (
            isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral) or self.n_jobs < 1
        ):
            raise _param_error("n_jobs", "an int in the range [1, inf) or None", self.n_jobs)
        if self.approx is not None and self.approx != "binned":
            raise _param_error("approx", "None (exact scores) or 'binned'", self.approx)
        if isinstance(self.bins, bool) or not isinstance(self.bins, numbers.Integral) or self.bins < 2:
            raise _param_error("bins", "an int in the range [2, inf)", self.bins)
        both = set(self.categorical or ()) & set(self.numerical or ())
        if both:
            raise ConfigError(f"column {sorted(both)[0]!r} is listed in both categorical= and numerical=; expected one kind")

    def _method_for(self, col: str) -> str:
        m = self.method.get(col, "auto") if isinstance(self.method, Mapping) else self.method
        return m

    def _threshold_for(self, col: str) -> float | None:
        if isinstance(self.threshold, Mapping):
            v = self.threshold.get(col)
        else:
            v = self.threshold
        return None if v is None else float(v)

    def _validate_method(self, col: str, kind: str) -> None:
        m = self._method_for(col)
        if m == "auto":
            return
        fits = st.methods_for_kind(kind)
        if not isinstance(m, str) or m not in st.METHODS:
            hint = suggest(m, list(st.METHODS) + ["auto"]) if isinstance(m, str) else ""
            raise ConfigError(
                f"column {col!r}: unknown drift method {m!r}{hint}; methods for {kind} columns: auto, {', '.join(fits)}"
            )
        if kind not in st.METHODS[m].kinds:
            raise ConfigError(
                f"column {col!r}: method {m!r} does not apply to {kind} columns; "
                f"methods for {kind} columns: auto, {', '.join(fits)}"
            )

    # ------------------------------------------------------------------ fit
    @staticmethod
    def _frame(data: Any, what: str) -> pd.DataFrame:
        if _is_dask_frame(data):
            raise InputError(f"{what} is a Dask DataFrame: this step needs a pandas DataFrame; pass "
                             f"ddf.compute() (or a sample of it)")
        if not isinstance(data, pd.DataFrame):
            raise InputError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
        if data.shape[0] == 0:
            raise DataQualityError(f"{what} is empty: expected at least one row")
        return data

    @staticmethod
    def _aux(data: pd.DataFrame, value: Any, role: str, what: str) -> tuple[str | None, pd.Series | None]:
        """Resolve ``target=``/``prediction=`` (a column name or an aligned array) to a Series."""
        if value is None:
            return None, None
        if isinstance(value, str):
            if value not in data.columns:
                raise SchemaError(
                    f"{role} column {value!r} is not in the {what}{suggest(value, list(data.columns))}"
                )
            return value, data[value]
        arr = value if isinstance(value, pd.Series) else pd.Series(np.asarray(value))
        if arr.ndim != 1 or len(arr) != len(data):
            raise InputError(
                f"{role} has {len(arr)} values but the {what} has {len(data)} rows; expected one {role} per row"
            )
        name = arr.name if isinstance(arr.name, str) else role
        return name, pd.Series(arr.to_numpy(), index=data.index, name=name)

    def fit(self, reference: pd.DataFrame, target: Any = None, prediction: Any = None) -> "Monitor":
        """Fix the schema and cache the reference profile. Returns ``self``.

        ``target``/``prediction``: a column name of ``reference`` or values aligned with it.
        ``reference`` may be a Dask DataFrame (``driftkeeper[dask]``; then ``target`` and
        ``prediction`` are column names): the monitor keeps mergeable summaries of it, see
        :mod:`driftkeeper.monitor.partials` for which scores are exact and which bounded.
        """
        if _is_dask_frame(reference):
            from . import _dask

            return _dask.fit(self, reference, target, prediction)
        self._validate_params()
        reference = self._frame(reference, "reference")
        tname, tser = self._aux(reference, target, "target", "reference")
        pname, pser = self._aux(reference, prediction, "prediction", "reference")
        aux_cols = {c for c in (target, prediction) if isinstance(c, str)}
        all_cols = [c for c in reference.columns if c not in aux_cols]
        if self.columns is None:
            cols = all_cols
        else:
            cols = list(self.columns)
            missing = [c for c in cols if c not in reference.columns]
            if missing:
                raise SchemaError(
                    f"column {missing[0]!r} of columns= is not in the reference{suggest(missing[0], all_cols)}"
                )
        for lst, pname_ in ((self.categorical, "categorical"), (self.numerical, "numerical")):
            for c in lst or ():
                if c not in cols:
                    raise ConfigError(
                        f"column {c!r} of {pname_}= is not a checked column{suggest(c, cols)}"
                    )
        kinds, skipped = column_kinds(
            reference, cols, numerical=self.numerical or (), categorical=self.categorical or (), named=self.columns is not None
        )
        if not kinds:
            raise SchemaError("reference has no numerical or categorical columns to check")
        known = [str(c) for c in reference.columns] + [n for n in (tname, pname) if n]
        for pname_, value in (("method", self.method), ("threshold", self.threshold)):
            if isinstance(value, Mapping):
                for c in value:
                    if c not in known:
                        raise ConfigError(f"column {c!r} of {pname_}= is not in the reference{suggest(c, known)}")
        for c, k in kinds.items():
            self._validate_method(c, k)

        items = [(reference[c], c, k) for c, k in kinds.items()]
        made = self._map(self._profile, items, [it[0] for it in items], len(reference) * len(items))
        profiles: dict[str, st.ColumnProfile] = dict(zip(kinds, made))
        aux: dict[str, dict[str, Any]] = {}
        for role, name, ser in (("target", tname, tser), ("prediction", pname, pser)):
            if ser is None:
                continue
            k = infer_kind(ser) or CAT
            if role == "prediction" and "target" in aux and aux["target"]["kind"] == CAT:
                if pd.api.types.is_float_dtype(ser.dtype):
                    k = NUM  # positive-class probabilities
            self._validate_method(name, k)
            prof = reference_profile(ser, name, k)
            if prof.n == 0:
                raise DataQualityError(_no_reference_values(role, name, reference[list(kinds)]))
            aux[role] = {"name": name, "kind": k, "dtype": str(ser.dtype), "profile": prof}

        self.schema_ = {c: str(reference[c].dtype) for c in kinds}
        self.kinds_ = kinds
        self.skipped_columns_ = skipped
        self.reference_columns_ = list(reference.columns)
        self.reference_rows_ = int(len(reference))
        self.profile_ = profiles
        self.aux_ = aux
        self.engine_ = "pandas"
        return self

    def _profile(self, s: pd.Series, col: str, kind: str, values: np.ndarray | None, fresh: bool) -> st.ColumnProfile:
        """The reference profile of one feature column: exact, or its binned sketch when
        ``approx="binned"`` and the column qualifies (the values are then dropped)."""
        prof = reference_profile(s, col, kind, values, fresh)
        if self.approx != "binned" or kind != NUM or prof.n <= _SKETCH_MIN_ROWS:
            return prof
        m = self._method_for(col)
        if not (m in sk.APPROX_METHODS or (m == "auto" and prof.n_unique > 5)):  # "auto": wasserstein
            return prof
        return st.ColumnProfile(NUM, None, None, prof.std, prof.keys, prof.counts, prof.n_unique,
                                sk.make_sketch(prof.sorted, int(self.bins)))

    def _reference_frame(self, names: list[str]) -> pd.DataFrame:
        """The reference's non-missing values per column, in their original order, padded
        with NaN to one length (Evidently drops missing values per column, so it computes
        exactly what it would on the original frame). Rebuilt from the profiles: the monitor
        keeps no copy of the reference frame."""
        profiles = dict(self.profile_)
        for a in self.aux_.values():
            profiles[a["name"]] = a["profile"]
        n = max(profiles[c].n for c in names)
        cols = {}
        for c in names:
            v = profiles[c].values
            if v.size < n:
                v = np.concatenate([v.astype(object) if v.dtype.kind not in "f" else v,
                                    np.full(n - v.size, np.nan, dtype=object if v.dtype.kind not in "f" else float)])
            cols[c] = v
        return pd.DataFrame(cols)

    # ------------------------------------------------------------------ check
    def _check_fitted(self) -> None:
        if not hasattr(self, "profile_"):
            raise NotFittedError("this Monitor is not fitted yet; call fit(reference) first")

    def _check_columns(self, current: pd.DataFrame, aux_cols: set[str]) -> None:
        missing = [c for c in self.kinds_ if c not in current.columns]
        known = set(self.reference_columns_) | aux_cols | {a["name"] for a in self.aux_.values()}
        unexpected = [c for c in current.columns if c not in known] if self.columns is None else []
        if not missing and not unexpected:
            return
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        hints = []
        for u in unexpected:
            match = closest(u, missing)
            if match is not None:
                hints.append(f"{u!r} -> {match!r}")
        msg = "current batch does not match the reference schema: " + " and ".join(parts)
        if hints:
            msg += f" (renamed? {', '.join(hints)})"
        raise SchemaError(msg)

    def _resolve(self, name: str, prof: st.ColumnProfile, cur: np.ndarray, cmap) -> tuple[str, float]:
        m = self._method_for(name)
        if m == "auto":
            m = st.default_method(prof, cur, cmap)
        thr = self._threshold_for(name)
        return m, (st.METHODS[m].default_threshold if thr is None else thr)

    def _score(
        self,
        name: str,
        kind: str,
        prof: st.ColumnProfile,
        series: pd.Series,
        values: np.ndarray | None = None,
        fresh: bool = False,
        plans: dict | None = None,
    ) -> ColumnDrift:
        """Clean one current column and score it against its cached reference profile.

        A column without a value on either side has no distribution to compare: its drift is
        not computed (score ``None``, not drifted) and :meth:`check` says why in the warnings.
        ``values``: the float64 column already read (:func:`.columns.float_values`); ``plans``:
        work the columns of one check share (:func:`.stattests.score_fast`).
        """
        rows = int(len(series))
        owned = False  # cur is a scratch copy of ours (may be sorted in place)
        if kind == CAT:  # one hashing pass: the counts are all the fast methods need
            cur, cmap, n_cur = None, category_counts(series, name, "current batch"), 0
            n_cur = sum(cmap.values())
        else:
            cur, cmap = clean(series, name, kind, "current batch", values), None
            n_cur = int(cur.size)
            owned = values is not None and (fresh or cur is not values)
        method, thr = self._resolve(name, prof, cur, cmap)
        if n_cur == 0 or prof.n == 0:
            info = st.METHODS[method]
            return ColumnDrift(name=name, kind=kind, method=method, score=None, threshold=float(thr), drifted=False,
                               stattest_type=info.stattest_type, rows=rows, missing_share=1.0 - n_cur / rows,
                               unseen_share=None)
        approx = bounds = None
        try:
            if prof.sketch is not None:  # fitted with approx="binned": method is ks or wasserstein
                score, bounds = sk.sketch_score(method, prof.sketch, prof.std, cur)
                approx = "binned"
            elif method in st.FAST_METHODS:
                score = st.score_fast(method, prof, cur, cmap, plans, owned)
            else:
                from . import _evidently

                if cur is None:
                    cur = clean(series, name, kind, "current batch")
                score, _, _ = _evidently.evidently_score(method, prof.values, cur, kind, thr)
        except ValueError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataQualityError(f"column {name!r}: method {method!r} cannot score this batch: {msg}") from exc
        info = st.METHODS[method]
        unseen = None
        if cmap is not None:
            seen = set(prof.keys)
            unseen = sum(v for k, v in cmap.items() if k not in seen) / n_cur
        return ColumnDrift(
            name=name,
            kind=kind,
            method=method,
            score=float(score),
            threshold=float(thr),
            drifted=info.drifted(score, thr) if not math.isnan(score) else False,
            stattest_type=info.stattest_type,
            rows=rows,
            missing_share=1.0 - n_cur / rows,
            unseen_share=unseen,
            approx=approx,
            score_bounds=bounds,
        )

    def _map(self, fn, items: list, series: list[pd.Series], n_values: int, thread_safe: list[bool] | None = None) -> list:
        """``[fn(*item, values, fresh) for item in items]``, column group by column group.

        ``series[i]`` is item ``i``'s column; each group's float64 columns are read together
        (:func:`.columns.float_values`) and passed on as ``values`` (``fresh``: a copy the callee
        may keep). On a batch big enough to pay, the groups run on ``n_jobs`` threads: numpy
        releases the GIL in its sorts and array passes, and the statistics are pure functions
        of their inputs, so threads never change a result. Items that run Evidently's own
        functions (``thread_safe`` False: some use numpy's global random state) stay on the
        calling thread.
        """
        n_jobs = self.n_jobs or _cpus()
        safe = thread_safe or [True] * len(items)
        pooled = [i for i, ok in enumerate(safe) if ok] if (n_values >= _PARALLEL_MIN_VALUES and n_jobs > 1) else []
        if len(pooled) < 2:
            pooled = []
        done = set(pooled)
        rest = [i for i in range(len(items)) if i not in done]
        out: list = [None] * len(items)

        def run(group: list[int]) -> list:
            values, fresh = float_values([series[i] for i in group])
            return [fn(*items[i], v, f) for i, v, f in zip(group, values, fresh)]

        def groups(idx: list[int], size: int) -> list[list[int]]:
            return [idx[j:j + size] for j in range(0, len(idx), size)]

        if pooled:
            # about four groups per thread, so that the threads finish together
            size = max(1, min(_GROUP, -(-len(pooled) // (4 * n_jobs))))
            parts = groups(pooled, size)
            with ThreadPoolExecutor(max_workers=min(n_jobs, len(parts))) as pool:
                for group, res in zip(parts, pool.map(run, parts)):
                    for i, r in zip(group, res):
                        out[i] = r
        for group in groups(rest, _GROUP):
            for i, r in zip(group, run(group)):
                out[i] = r
        return out

    def _sample(self, n: int) -> np.ndarray | None:
        """Positions of the seeded sample of the current batch (None: no sampling)."""
        if self.sample is None or n <= self.sample:
            return None
        return np.sort(np.random.default_rng(self.seed).choice(n, size=self.sample, replace=False))

    def _prepare(self, current: Any, target: Any, prediction: Any):
        self._check_fitted()
        current = self._frame(current, "current batch")
        aux_in = {"target": self._aux(current, target, "target", "current batch"),
                  "prediction": self._aux(current, prediction, "prediction", "current batch")}
        self._check_columns(current, {c for c in (target, prediction) if isinstance(c, str)})
        pos = self._sample(len(current))
        if pos is None:
            return current, aux_in, None
        for role, (n, s) in list(aux_in.items()):
            if s is not None:
                aux_in[role] = (n, s.iloc[pos])
        return current.iloc[pos], aux_in, {"rows": int(self.sample), "seed": int(self.seed)}

    def check(self, current: pd.DataFrame, target: Any = None, prediction: Any = None) -> DriftReport:
        """Drift of ``current`` against the fitted reference, as a :class:`DriftReport`.

        ``target``/``prediction``: a column name of ``current`` or values aligned with it.
        Target drift needs a target at fit, prediction drift a prediction at fit;
        performance needs both in ``current``. A column missing on every row of ``current``
        (or of the reference) is a data-quality finding, not an error: its drift is not
        computed (score ``None``), the other columns are scored, and a warning names it.
        ``current`` may be a Dask DataFrame; a monitor fitted on one checks pandas frames the
        same way (:mod:`._dask`).
        """
        if _is_dask_frame(current) or getattr(self, "engine_", "pandas") == "dask":
            from . import _dask

            return _dask.check(self, current, target, prediction)
        current, aux_in, sample = self._prepare(current, target, prediction)
        rows = int(len(current))
        items = [(c, k, self.profile_[c], current[c]) for c, k in self.kinds_.items()]
        safe = [self._method_for(c) == "auto" or self._method_for(c) in st.FAST_METHODS for c in self.kinds_]
        plans: dict = {}  # per check: shared by the columns with the same sizes

        def score(name, kind, prof, series, values, fresh):
            return self._score(name, kind, prof, series, values, fresh, plans)

        columns = tuple(self._map(score, items, [it[3] for it in items], rows * len(items), safe))
        warnings_ = [
            f"{c.name}: {c.unseen_share:.1%} of values are categories never seen in reference"
            for c in columns
            if c.unseen_share
        ]
        warnings_ += [self._not_computed(c) for c in columns if c.score is None]
        warnings_ += [self._uncertain(c) for c in columns if not c.verdict_certain]
        aux_drift: dict[str, ColumnDrift | None] = {"target": None, "prediction": None}
        for role, (name, ser) in aux_in.items():
            if ser is None:
                continue
            fitted = self.aux_.get(role)
            if fitted is None:
                warnings_.append(f"{role} drift needs a reference {role}: pass {role}= to fit")
                continue
            aux_drift[role] = self._score(fitted["name"], fitted["kind"], fitted["profile"], ser)
            if aux_drift[role].score is None:
                warnings_.append(self._not_computed(aux_drift[role], role))
        perf = None
        if aux_in["target"][1] is not None and aux_in["prediction"][1] is not None:
            perf = self._performance(aux_in["target"][1], aux_in["prediction"][1])
        return DriftReport(
            columns=columns,
            drift_share_threshold=float(self.drift_share),
            reference_rows=self.reference_rows_,
            current_rows=rows,
            prediction=aux_drift["prediction"],
            target=aux_drift["target"],
            performance=perf,
            warnings=tuple(warnings_),
            sample=sample,
        )

    @staticmethod
    def _uncertain(c: ColumnDrift) -> str:
        """The finding of a binned score too close to its threshold to be sure of the verdict."""
        lo, hi = c.score_bounds or (c.score, c.score)
        return (f"{c.name}: binned {c.method} score {c.score:.4g}, exact within [{lo:.4g}, {hi:.4g}], which holds the "
                f"threshold {c.threshold:g}: the exact verdict may differ (Monitor(approx=None) scores it exactly)")

    def _not_computed(self, c: ColumnDrift, role: str | None = None) -> str:
        """The data-quality finding of a column whose drift was not computed."""
        prof = self.aux_[role]["profile"] if role else self.profile_[c.name]
        label = f"{role} {c.name!r}" if role and role != c.name else c.name
        ref = 1.0 - prof.n / self.reference_rows_
        if c.missing_share < 1.0:
            where = f"entirely missing in the reference, {1 - c.missing_share:.1%} present in the current batch"
        elif prof.n == 0:
            where = "entirely missing in the reference and in the current batch"
        else:
            where = f"entirely missing in the current batch ({c.rows} rows; {ref:.1%} missing in the reference)"
        return f"{label}: {where}; drift not computed"

    # ------------------------------------------------------------------ performance
    def _performance(self, y: pd.Series, p: pd.Series) -> dict[str, Any]:
        fitted = self.aux_.get("target")
        kind = fitted["kind"] if fitted else (infer_kind(y) or CAT)
        return performance(y, p, kind, list(fitted["profile"].keys) if fitted and kind == CAT else [])

    # ------------------------------------------------------------------ HTML
    def evidently_report(self, current: pd.DataFrame, target: Any = None, prediction: Any = None):
        """Run Evidently's Report with this monitor's kinds, methods and thresholds.

        Returns ``(snapshot, {column: EvidentlyColumn})``. Columns on ``"auto"`` are passed
        with ``method=None`` so Evidently applies its own default rule (which ``check``
        reproduces); explicit methods and thresholds are passed as they are.
        """
        from . import _evidently

        if getattr(self, "engine_", "pandas") == "dask":
            raise ConfigError("this monitor was fitted on a Dask DataFrame and keeps summaries, not the reference "
                              "values Evidently's page needs; fit a Monitor on a pandas sample for the page")
        current, aux_in, _ = self._prepare(current, target, prediction)
        kinds = dict(self.kinds_)
        cur = {c: current[c].reset_index(drop=True) for c in kinds}
        for role, (name, ser) in aux_in.items():
            fitted = self.aux_.get(role)
            if ser is not None and fitted is not None:
                kinds[fitted["name"]] = fitted["kind"]
                cur[fitted["name"]] = ser.reset_index(drop=True)
        # Evidently refuses a column without values; the page leaves out what check() did not compute
        profiles = {**self.profile_, **{a["name"]: a["profile"] for a in self.aux_.values()}}
        sketched = [c for c in kinds if profiles[c].sketch is not None]
        if sketched:
            raise ConfigError(
                f"column {sketched[0]!r} is summarised by a binned sketch (approx='binned'): the monitor keeps none "
                "of its reference values and Evidently's page needs them; fit Monitor(approx=None) for the page"
            )
        for c in [c for c in kinds if profiles[c].n == 0 or not cur[c].notna().any()]:
            del kinds[c], cur[c]
        methods = {c: (None if self._method_for(c) == "auto" else self._method_for(c)) for c in kinds}
        thresholds = {c: self._threshold_for(c) for c in kinds}
        return _evidently.build_report(
            self._reference_frame(list(kinds)), pd.DataFrame(cur), kinds, methods, thresholds, float(self.drift_share)
        )

    def html(
        self,
        current: pd.DataFrame,
        path: str | Path,
        *,
        target: Any = None,
        prediction: Any = None,
        report: DriftReport | None = None,
    ) -> DriftReport:
        """Write Evidently's HTML page for ``current`` to ``path`` and return the drift report.

        ``report``: what :meth:`check` returned for this same batch (and target/prediction);
        the page is then built next to it without checking the batch again. Without it the
        batch is checked first. Either way the page uses the report's kinds, methods and
        thresholds (Evidently recomputes the scores it draws).
        """
        from . import _evidently

        if report is None:
            report = self.check(current, target=target, prediction=prediction)
        else:
            self._check_report_fits(report, current)
        snapshot, _ = self.evidently_report(current, target=target, prediction=prediction)
        _evidently.write_html(snapshot, path)
        return report

    def _check_report_fits(self, report: DriftReport, current: Any) -> None:
        """Refuse a ``report=`` that :meth:`check` cannot have returned for ``current``."""
        self._check_fitted()
        n = len(self._frame(current, "current batch"))
        rows = n if self.sample is None or n <= self.sample else int(self.sample)
        if report.current_rows != rows:
            raise ConfigError(
                f"report= describes a batch of {report.current_rows} rows, not this one ({rows} rows); "
                "pass the report check() returned for this batch"
            )
        names = [c.name for c in report.columns]
        if names != list(self.kinds_):
            raise ConfigError(
                f"report= checks columns {names}, this monitor checks {list(self.kinds_)}; "
                "pass the report this monitor's check() returned"
            )

    def __repr__(self) -> str:
        fitted = f", fitted on {self.reference_rows_} rows" if hasattr(self, "profile_") else ""
        approx = f", approx={self.approx!r}, bins={self.bins!r}" if self.approx is not None else ""
        return (f"Monitor(method={self.method!r}, threshold={self.threshold!r}, drift_share={self.drift_share!r}"
                f"{approx}{fitted})")
