"""Drift statistics in numpy/scipy, computed from a reference profile cached at fit time.

Every function here reproduces the score of the Evidently 0.7 stattest of the same name
(``evidently.legacy.calculations.stattests``) to floating-point precision: same binning,
same zero filling, same scipy calls, same drift comparison (``<``, ``<=``, ``>`` or ``>=``
exactly as Evidently writes it). Methods without a fast path here are delegated to Evidently
itself through :mod:`driftkeeper.monitor._evidently` (the only module importing Evidently).

This module never imports Evidently, so validating a method name stays cheap.
"""

from __future__ import annotations

import math
import operator
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..table import CATEGORICAL, NUMERICAL

__all__ = [
    "METHODS",
    "MethodInfo",
    "ColumnProfile",
    "make_profile",
    "default_method",
    "methods_for_kind",
    "FAST_METHODS",
    "score_fast",
]

NUM, CAT = NUMERICAL, CATEGORICAL  # the column kinds, short for the method table


@dataclass(frozen=True)
class MethodInfo:
    """What driftkeeper knows about one Evidently stattest (checked against Evidently in tests)."""

    name: str
    kinds: frozenset[str]
    stattest_type: str  # "p_value" | "distance"
    default_threshold: float
    drifted: Callable[[float, float], bool]  # (score, threshold) -> drifted, Evidently's comparison


def _m(name: str, kinds: tuple[str, ...], st: str, thr: float, op: Callable[[Any, Any], Any]) -> MethodInfo:
    return MethodInfo(name, frozenset(kinds), st, thr, lambda s, t, _op=op: bool(_op(s, t)))


# Every (method, kind) pair Evidently 0.7 registers for tabular columns, with its default
# threshold and its exact comparison (e.g. ks uses ``p <= t``, ed uses ``d > t``).
METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in [
        _m("ks", (NUM,), "p_value", 0.05, operator.le),
        _m("wasserstein", (NUM,), "distance", 0.1, operator.ge),
        _m("anderson", (NUM,), "p_value", 0.1, operator.lt),
        _m("cramer_von_mises", (NUM,), "p_value", 0.1, operator.le),
        _m("ed", (NUM,), "distance", 0.1, operator.gt),
        _m("es", (NUM,), "p_value", 0.05, operator.lt),
        _m("mannw", (NUM,), "p_value", 0.05, operator.lt),
        _m("t_test", (NUM,), "p_value", 0.05, operator.lt),
        _m("empirical_mmd", (NUM,), "p_value", 0.1, operator.lt),
        _m("chisquare", (CAT,), "p_value", 0.05, operator.lt),
        _m("z", (CAT,), "p_value", 0.05, operator.lt),
        _m("fisher_exact", (CAT,), "p_value", 0.1, operator.lt),
        _m("g_test", (CAT,), "p_value", 0.1, operator.lt),
        _m("TVD", (CAT,), "p_value", 0.1, operator.lt),
        _m("psi", (CAT, NUM), "distance", 0.1, operator.ge),
        _m("jensenshannon", (CAT, NUM), "distance", 0.1, operator.ge),
        _m("kl_div", (CAT, NUM), "distance", 0.1, operator.ge),
        _m("hellinger", (CAT, NUM), "distance", 0.1, operator.ge),
    ]
}


def methods_for_kind(kind: str) -> list[str]:
    """Method names that Evidently accepts for a column of this kind, in table order."""
    return [name for name, info in METHODS.items() if kind in info.kinds]


@dataclass
class ColumnProfile:
    """What the statistics need from one reference column; computed once at fit.

    ``values`` are the non-missing reference values in their original order (Evidently's
    permutation tests depend on the order); numerical columns also keep them sorted. A
    numerical column summarised by a binned sketch (``Monitor(approx="binned")``) keeps neither:
    ``values`` and ``sorted`` are ``None`` and ``sketch`` holds the summary (:mod:`.sketch`).
    """

    kind: str
    values: np.ndarray | None
    sorted: np.ndarray | None = None
    std: float | None = None
    keys: list[Any] = field(default_factory=list)  # distinct values (numerical: only if <= 20)
    counts: np.ndarray | None = None  # counts of `keys`
    n_unique: int = 0
    sketch: Any = None  # a sketch.Sketch, or None: exact

    @property
    def n(self) -> int:
        return int(self.values.size) if self.values is not None else int(self.sketch.n)

    def count_map(self) -> dict[Any, int]:
        return dict(zip(self.keys, self.counts.tolist()))


_SMALL_UNIQUE = 20  # get_binned_data bins numerical columns with more distinct values


def series_std(values: np.ndarray, out: np.ndarray | None = None) -> float:
    """``np.std(pd.Series(values))`` of finite float64 ``values``, the norm of Evidently's
    ``wasserstein_distance_norm``, without the Series: pandas' ``nanvar`` two-pass formula
    (float64 pairwise sums, ``(avg - values) ** 2``) minus its missing-value mask passes, which
    change nothing when no value is missing. Bit-identical to pandas (tested). ``out``: a
    buffer of ``values``' shape for the squares (overwritten)."""
    count = np.float64(values.size)
    avg = values.sum(dtype=np.float64) / count
    sqr = np.subtract(avg, values, out=out)
    np.multiply(sqr, sqr, out=sqr)  # what ``** 2`` computes
    return float(np.sqrt(sqr.sum(dtype=np.float64) / count))


def make_profile(values: np.ndarray, kind: str, copy: bool = True) -> ColumnProfile:
    """Profile of non-missing, finite reference ``values`` of a column of ``kind``.

    ``copy=False``: numerical ``values`` are a fresh float64 array the profile may keep (the
    monitor's own copy of a column); by default the profile keeps a copy.
    """
    if kind == NUM:
        given = values
        values = np.asarray(values, dtype=np.float64)
        if (copy and values is given) or not values.flags.c_contiguous:
            values = values.copy()
        srt = np.empty_like(values)
        std = series_std(values, out=srt)  # the squares go where the sorted copy will: one buffer fewer
        np.copyto(srt, values)
        srt.sort()
        n_unique = int(np.count_nonzero(srt[1:] != srt[:-1])) + 1
        keys: list[Any] = []
        counts = None
        if n_unique <= _SMALL_UNIQUE:  # category-style binning needs the counts
            starts = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1]])
            keys = srt[starts].tolist()
            counts = np.diff(np.r_[starts, srt.size])
        return ColumnProfile(NUM, values, srt, std, keys, counts, n_unique)
    vc = pd.Series(values).value_counts(sort=False, dropna=True)
    return ColumnProfile(CAT, np.asarray(values), None, None, vc.index.tolist(), vc.to_numpy(), int(vc.size))


def factorize_counts(s: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """``(distinct non-missing values, their counts, codes)`` of a column in one hashing pass
    (``codes`` is -1 where the value is missing)."""
    codes, uniques = pd.factorize(s, sort=False, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    return list(uniques), counts, codes


def categorical_profile(s: pd.Series) -> ColumnProfile:
    """Profile of a categorical reference column straight from the Series (missing values
    dropped); same as ``make_profile(non_missing_values, "categorical")``."""
    keys, counts, codes = factorize_counts(s)
    keep = counts > 0
    if not keep.all():
        keys = [k for k, ok in zip(keys, keep) if ok]
        counts = counts[keep]
    values = s.to_numpy()[codes >= 0]
    return ColumnProfile(CAT, values, None, None, keys, counts, len(keys))


def current_counts(cur: np.ndarray, kind: str) -> dict[Any, int]:
    if kind == NUM:
        k, c = np.unique(cur, return_counts=True)
        return dict(zip(k.tolist(), c.tolist()))
    vc = pd.Series(cur).value_counts(sort=False, dropna=True)
    return dict(zip(vc.index.tolist(), vc.to_numpy().tolist()))


def n_values_union(ref: ColumnProfile, cur: np.ndarray, cmap: dict[Any, int] | None = None) -> int:
    """``pd.concat([reference, current]).nunique()`` — what Evidently's default rule counts."""
    if ref.kind == NUM:
        if ref.n_unique > 5:  # only "<= 5" matters to the rule; skip the work
            return ref.n_unique
        return int(np.union1d(np.asarray(ref.keys, dtype=np.float64), np.unique(cur)).size)
    return len(set(ref.keys) | set(cmap if cmap is not None else current_counts(cur, CAT)))


def default_method(ref: ColumnProfile, cur: np.ndarray, cmap: dict[Any, int] | None = None) -> str:
    """Evidently 0.7's default stattest (``_get_default_stattest``), from the cached profile.

    Reference of <= 1000 non-missing rows: numerical -> ``ks`` (``chisquare``/``z`` when
    reference and current together hold <= 5 distinct values), categorical -> ``chisquare``
    (``z`` for <= 2 values). Larger references: numerical -> ``wasserstein``
    (``jensenshannon`` for <= 5 distinct values), categorical -> ``jensenshannon``.
    """
    n_values = n_values_union(ref, cur, cmap)
    if ref.n <= 1000:
        if ref.kind == NUM and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if ref.kind == NUM and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


# ----------------------------------------------------------------------------- binning
def _histogram_counts_sorted(srt: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` from already sorted values (last bin closed)."""
    left = np.searchsorted(srt, edges, side="left")
    counts = np.diff(left)
    counts[-1] = np.searchsorted(srt, edges[-1], side="right") - left[-2]
    return counts


def _binned(ref: ColumnProfile, cur: np.ndarray, feel_zeroes: bool, cmap=None) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: sturges bins on numerical columns with > 20 distinct
    reference values, category shares otherwise; zero shares filled like Evidently."""
    if ref.kind == NUM and ref.n_unique > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref.values, cur]), bins="sturges")
        reference_percents = _histogram_counts_sorted(ref.sorted, edges) / ref.n
        current_percents = np.histogram(cur, edges)[0] / cur.size
    else:
        rmap = ref.count_map()
        cmap = cmap if cmap is not None else current_counts(cur, ref.kind)
        n_cur = sum(cmap.values())
        keys = list(set(rmap) | set(cmap))
        reference_percents = np.array([rmap.get(k, 0) / ref.n for k in keys])
        current_percents = np.array([cmap.get(k, 0) / n_cur for k in keys])
    if feel_zeroes:
        for arr in (reference_percents, current_percents):
            nz = arr[arr != 0]
            m = min(nz)
            np.place(arr, arr == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return reference_percents, current_percents


# ----------------------------------------------------------------------------- statistics
class QuantilePlan:
    """Which sorted reference and current values face each other in the quantile form of the
    1-Wasserstein distance, for samples of ``n_u`` and ``n_v`` values.

    ``W1 = integral over t in (0, 1] of |u[ceil(t n_u) - 1] - v[ceil(t n_v) - 1]| dt`` for sorted
    ``u``, ``v``. Both quantile functions are steps, at ``k / n_u`` and ``j / n_v``; on the integer
    scale ``t * L`` (``L = lcm(n_u, n_v)``) the steps are ``k * L/n_u`` and ``j * L/n_v``, so the
    merged steps ``T_i``, the value indices ``a_i = (T_i - 1) // (L/n_u)``,
    ``b_i = (T_i - 1) // (L/n_v)`` and the lengths ``w_i = T_i - T_{i-1}`` (exact integers) depend on
    the two sizes only. ``W1 = sum_i |u[a_i] - v[b_i]| * w_i / L``.

    Built once per pair of sizes in a check (every column without missing values shares it).
    """

    def __init__(self, n_u: int, n_v: int) -> None:
        g = math.gcd(n_u, n_v)
        step_u, step_v = n_v // g, n_u // g
        self.L = float(step_v * n_v)  # lcm(n_u, n_v)
        self.equal = n_u == n_v
        if self.equal:
            return
        t = np.concatenate([np.arange(1, n_u + 1, dtype=np.int64) * step_u,
                            np.arange(1, n_v + 1, dtype=np.int64) * step_v])
        t.sort(kind="stable")  # two sorted runs: a linear merge (np.unique hashes int64, much slower)
        t = t[np.r_[True, t[1:] != t[:-1]]]
        self.w = np.diff(t, prepend=0).astype(np.float64)
        t -= 1
        self.a = t // step_u
        self.b = t // step_v

    #: intervals per block: the block's temporaries stay in the CPU cache
    BLOCK = 1 << 16

    def distance(self, u: np.ndarray, v: np.ndarray, overwrite_v: bool = False) -> float:
        """W1 of sorted ``u`` (``n_u`` values) and sorted ``v`` (``n_v`` values); with
        ``overwrite_v``, ``v`` holds the differences afterwards (no temporary of its size)."""
        if self.equal:
            d = np.subtract(u, v, out=v if overwrite_v else None)
            np.abs(d, out=d)
            return float(d.sum()) / self.L
        parts = []
        for s in range(0, self.w.size, self.BLOCK):
            e = s + self.BLOCK
            d = u.take(self.a[s:e])
            d -= v.take(self.b[s:e])
            np.abs(d, out=d)
            d *= self.w[s:e]
            parts.append(d.sum())
        return float(np.sum(parts)) / self.L


#: sizes whose integer scale would not fit an int64 use scipy's merge form instead
_MAX_PLAN_SCALE = 1 << 62


def _quantile_plan(n_u: int, n_v: int, plans: dict | None) -> QuantilePlan:
    if plans is None:
        return QuantilePlan(n_u, n_v)
    key = (n_u, n_v)
    with plans.setdefault("lock", threading.Lock()):
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = QuantilePlan(n_u, n_v)
    return plan


def _wasserstein(
    ref: ColumnProfile, cur: np.ndarray, cmap=None, plans: dict | None = None, owned: bool = False
) -> float:
    """scipy.stats.wasserstein_distance / std, from the cached sorted reference.

    scipy integrates ``|U(x) - V(x)|`` over the merged sorted samples. Here the same distance is
    summed in its quantile form (:class:`QuantilePlan`): the current sample is sorted once and
    faced with the cached sorted reference, no merge or search needed. Both forms sum
    non-negative terms and differ only in rounding: below 1e-12 relative (tested against scipy).
    Against the distance in exact rational arithmetic the quantile form is within 1e-14
    relative, scipy's CDF form off by up to ~1e-13 on heavy-tailed samples (tested).

    ``plans``: a dict shared by the columns of one check, caching each size pair's plan.
    ``owned``: ``cur`` is the monitor's own copy, sorted in place and then overwritten.
    """
    u = ref.sorted
    if owned:
        cur.sort()
        v = cur
    else:
        v = np.sort(cur)
    n_u, n_v = u.size, v.size
    if n_u == n_v or n_u * n_v < _MAX_PLAN_SCALE:
        wd = _quantile_plan(n_u, n_v, plans).distance(u, v, overwrite_v=True)  # v is ours either way
    else:  # pragma: no cover - beyond 2**31 values a side
        from scipy.stats import wasserstein_distance

        wd = float(wasserstein_distance(u, v))
    return float(wd / max(ref.std, 0.001))


#: scipy's ks_2samp computes an exact p-value up to this many values a sample, else the asymptotic one
_KS_MAX_EXACT_N = 10_000


def ks_statistic_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """scipy's two-sided ``ks_2samp`` statistic of sorted ``u`` and ``v``, bit for bit.

    scipy evaluates ``searchsorted(x, all_values, 'right') / n_x`` for both samples at every
    value (four binary searches of both samples' size). The same counts come from one stable
    merge of the two sorted samples: running counts of each side, read at the last position of
    every run of equal values; the divisions and the differences are scipy's, so are the values.
    """
    n, m = u.size, v.size
    both = np.concatenate([u, v])
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    merged = both[order]
    cv = np.cumsum(order >= n)
    cu = np.arange(1, n + m + 1) - cv
    last = np.empty(n + m, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    diffs = cu[last] / n - cv[last] / m
    max_s = diffs.max()
    min_s = np.clip(-diffs.min(), 0, 1)
    return float(min_s if min_s > max_s else max_s)


def ks_asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    """scipy's ``ks_2samp`` two-sided p-value in its asymptotic mode (``kstwo.sf`` at the rounded
    effective size; samples of more than 10,000 values)."""
    from scipy.stats import distributions

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(distributions.kstwo.sf(d, np.round(en)), 0, 1))


def _ks(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    if max(ref.n, cur.size) <= _KS_MAX_EXACT_N:  # scipy's exact p-value
        from scipy.stats import ks_2samp

        return float(ks_2samp(ref.sorted, cur)[1])
    return ks_asymptotic_pvalue(ks_statistic_sorted(ref.sorted, np.sort(cur)), ref.n, cur.size)


def _jensenshannon(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.spatial import distance

    r, c = _binned(ref, cur, False, cmap)
    return float(distance.jensenshannon(r, c, None))


def _psi(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    r, c = _binned(ref, cur, True, cmap)
    return float(np.sum((r - c) * np.log(r / c)))


def _kl_div(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy import stats

    r, c = _binned(ref, cur, True, cmap)
    return float(stats.entropy(r, c))


def _key_counts(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> tuple[list[Any], dict[Any, int], dict[Any, int]]:
    rmap = ref.count_map()
    cmap = cmap if cmap is not None else current_counts(cur, ref.kind)
    return list(set(rmap) | set(cmap)), rmap, cmap


def _chisquare(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import chisquare

    keys, rmap, cmap = _key_counts(ref, cur, cmap)
    k_norm = sum(cmap.values()) / ref.n
    f_exp = [rmap.get(k, 0) * k_norm for k in keys]
    f_obs = [cmap.get(k, 0) for k in keys]
    return float(chisquare(f_obs, f_exp)[1])


def _g_test(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import power_divergence

    keys, rmap, cmap = _key_counts(ref, cur, cmap)
    f_exp = [rmap.get(k, 0) for k in keys]
    f_obs = [cmap.get(k, 0) for k in keys]
    return float(power_divergence(f_obs, f_exp, lambda_="log-likelihood")[1])


def _z(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import norm

    keys, rmap, cmap = _key_counts(ref, cur, cmap)
    if len(rmap) == 1 and len(cmap) == 1 and next(iter(rmap)) == next(iter(cmap)):
        return 1.0
    key = sorted(keys)[0]
    n1, n2 = ref.n, int(sum(cmap.values()))
    p1 = float(n1 - rmap.get(key, 0)) / n1
    p2 = float(n2 - cmap.get(key, 0)) / n2
    P = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _t_test(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import ttest_ind

    return float(ttest_ind(ref.values, cur)[1])


def _mannw(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(x=ref.values, y=cur, alternative="less")[1])


def _ed(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import energy_distance

    return float(energy_distance(ref.values, cur))


def _anderson(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import anderson_ksamp

    return float(anderson_ksamp([ref.values, cur])[2])


_FAST: dict[str, Callable[..., float]] = {
    "wasserstein": _wasserstein,
    "ks": _ks,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
    "kl_div": _kl_div,
    "chisquare": _chisquare,
    "g_test": _g_test,
    "z": _z,
    "t_test": _t_test,
    "mannw": _mannw,
    "ed": _ed,
    "anderson": _anderson,
}
#: methods computed here; the others (cramer_von_mises, es, empirical_mmd, fisher_exact,
#: TVD, hellinger) run Evidently's own function.
FAST_METHODS = frozenset(_FAST)


def score_fast(
    method: str,
    ref: ColumnProfile,
    cur: np.ndarray,
    cmap: dict[Any, int] | None = None,
    plans: dict | None = None,
    owned: bool = False,
) -> float:
    """Evidently's score of ``method`` for the cached reference and current non-missing values.

    ``cmap``: the current values' counts if already computed (``current_counts``); with it,
    categorical methods never look at ``cur`` (which may then be ``None``). ``plans``: a dict
    the columns of one check share (cached work that depends on the sample sizes only).
    ``owned``: ``cur`` is the caller's scratch copy, which may be reordered and overwritten.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # thread-local
        if method == "wasserstein":  # numpy only, nothing to silence
            value = _wasserstein(ref, cur, cmap, plans, owned)
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy's RuntimeWarning/UserWarning noise
                value = _FAST[method](ref, cur, cmap)
    return value if not math.isnan(value) else float("nan")
