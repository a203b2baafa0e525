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
    permutation tests depend on the order); numerical columns also keep them sorted.
    """

    kind: str
    values: np.ndarray
    sorted: np.ndarray | None = None
    std: float | None = None
    keys: list[Any] = field(default_factory=list)  # distinct values (numerical: only if <= 20)
    counts: np.ndarray | None = None  # counts of `keys`
    n_unique: int = 0

    @property
    def n(self) -> int:
        return int(self.values.size)

    def count_map(self) -> dict[Any, int]:
        return dict(zip(self.keys, self.counts.tolist()))


_SMALL_UNIQUE = 20  # get_binned_data bins numerical columns with more distinct values


def make_profile(values: np.ndarray, kind: str) -> ColumnProfile:
    """Profile of non-missing, finite reference ``values`` of a column of ``kind``."""
    if kind == NUM:
        values = np.asarray(values, dtype=np.float64)
        if not values.flags.owndata:  # a view of the caller's frame: keep our own copy
            values = values.copy()
        srt = np.sort(values)
        starts = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1]])
        n_unique = int(starts.size)
        keys: list[Any] = []
        counts = None
        if n_unique <= _SMALL_UNIQUE:  # category-style binning needs the counts
            keys = srt[starts].tolist()
            counts = np.diff(np.r_[starts, srt.size])
        # np.std on a Series is what Evidently's wasserstein_distance_norm evaluates
        std = float(np.std(pd.Series(values)))
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
def _wasserstein(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    """scipy.stats.wasserstein_distance / std, from the cached sorted reference.

    scipy sorts both samples, merges them and binary-searches every merged value in both.
    Here the current sample is sorted once and merged into the cached reference by one
    ``searchsorted``; the CDF counts are running counts over the merge. Inside a run of
    equal values the counts may differ from scipy's, but there the step (``deltas``) is
    exactly 0, so every term of the sum is bit-identical to scipy's; only the summation
    order differs.
    """
    u = ref.sorted
    v = np.sort(cur)
    n_u, n_v = u.size, v.size
    n = n_u + n_v
    pos_v = np.searchsorted(u, v, side="right")
    pos_v += np.arange(n_v)
    is_v = np.zeros(n, dtype=bool)
    is_v[pos_v] = True
    merged = np.empty(n, dtype=np.float64)
    merged[pos_v] = v
    merged[~is_v] = u
    deltas = np.diff(merged)
    # counts are integers < 2**53, exact in float64: same values as scipy's int / int
    v_cdf = np.cumsum(is_v[:-1], dtype=np.float64)
    u_cdf = np.arange(1, n, dtype=np.float64)
    u_cdf -= v_cdf
    u_cdf /= n_u
    v_cdf /= n_v
    u_cdf -= v_cdf
    np.abs(u_cdf, out=u_cdf)
    # scipy uses np.vecdot, which goes through (multi-threaded) BLAS: on a busy machine its
    # thread hand-off costs milliseconds. numpy's pairwise sum of the products differs
    # from it only in summation order (~1e-16 relative).
    u_cdf *= deltas
    wd = u_cdf.sum()
    return float(wd / max(ref.std, 0.001))


def _ks(ref: ColumnProfile, cur: np.ndarray, cmap=None) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(ref.sorted, cur)[1])


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


def score_fast(method: str, ref: ColumnProfile, cur: np.ndarray, cmap: dict[Any, int] | None = None) -> float:
    """Evidently's score of ``method`` for the cached reference and current non-missing values.

    ``cmap``: the current values' counts if already computed (``current_counts``); with it,
    categorical methods never look at ``cur`` (which may then be ``None``).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's RuntimeWarning/UserWarning noise
            value = _FAST[method](ref, cur, cmap)
    return value if not math.isnan(value) else float("nan")
