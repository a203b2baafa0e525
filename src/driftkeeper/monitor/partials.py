"""Mergeable drift statistics: what the monitor computes per partition of a distributed frame
and combines, and how it scores a column from the combined summaries.

This module is plain numpy/pandas (the Dask graph that runs it lives in :mod:`._dask`, the only
module importing Dask). Every partial summary is a dict of counts, sums and extremes; ``merge_*``
combines two of them (associative, order kept: partitions are merged left to right), so a tree
of merges over the partitions gives what one pass over the whole column gives.

What is exact and what is not, for a column scored from summaries:

* **Counts** (categorical columns, numerical ones with at most 20 distinct reference values):
  chisquare, z, g_test, fisher_exact, psi, jensenshannon, kl_div, hellinger are computed from the
  merged category counts with the pandas path's own formulas: exact.
* **Histograms**: psi, jensenshannon, kl_div on other numerical columns use Evidently's sturges
  bins over reference and current together. The reference's histogram is frozen at fit for
  every bin count a check can ask for (the edges span the reference's range): exact whenever
  the current batch stays inside that range. When it does not, the reference's count in each
  bin is bounded from the reference sketch and the score by convex-term interval arithmetic
  (``approx="binned"`` with ``score_bounds``).
* **Sketches**: ks and wasserstein count the current column into the reference's frozen
  quantile bins (:mod:`.sketch`, the same bounds as ``Monitor(approx="binned")``): the KS
  statistic within the largest share of either sample inside one bin (about ``1 / bins``), the
  Wasserstein distance within ``sum h (q_u + q_v)`` over the bins where the CDFs may cross.
* **Moments**: t_test from merged counts, means and squared deviations (exact to rounding).
* Columns of at most :data:`GATHER_MAX` values a side are collected whole and scored by the
  pandas path (every method, exact). Other methods need every value of a larger column
  (permutation and rank tests): refused with the methods that work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from . import sketch as sk
from . import stattests as st

__all__ = [
    "GATHER_MAX", "NEEDS_VALUES", "Summary", "part_stats", "merge_stats", "part_hist", "merge_hist",
    "sturges_edges", "count_bounds", "binned_shares_score", "binned_bounds", "sketch_binned", "hellinger_counts",
    "fisher_counts",
]

#: columns with at most this many non-missing values a side are collected whole and scored exactly
#: by the pandas path (scipy's exact-KS regime; the monitor's sketches start above it too)
GATHER_MAX = 10_000
#: methods that need every value of a column (ranks, permutations, pairwise distances)
NEEDS_VALUES = frozenset({"anderson", "cramer_von_mises", "ed", "es", "mannw", "empirical_mmd", "TVD"})
_CAP = 20  # distinct numerical values counted: Evidently's category-style binning stops at 20
_NB_MAX = 66  # sturges bins of more than 2**64 values: beyond any frame


class Summary:
    """What a large reference column keeps instead of its values (``ColumnProfile.sketch``):
    its size, moments and range, the reference :class:`.sketch.Sketch` (numerical) and its
    histograms on ``linspace(lo, hi, nb + 1)`` for every sturges bin count ``nb`` a check can
    use."""

    def __init__(self, n: int, mean: float = 0.0, m2: float = 0.0, lo: float = math.nan, hi: float = math.nan,
                 sketch: sk.Sketch | None = None, hist: dict[int, np.ndarray] | None = None) -> None:
        self.n, self.mean, self.m2, self.lo, self.hi = int(n), mean, m2, lo, hi
        self.sketch, self.hist = sketch, hist or {}

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else math.nan


# ----------------------------------------------------------------------------- per partition
def _float_values(s: pd.Series) -> np.ndarray:
    if s.dtype == np.float64:
        return s.to_numpy()
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _distinct(srt: np.ndarray, cap: int | None) -> dict[float, int] | None:
    """Counts of the distinct values of sorted ``srt`` (``None`` past ``cap`` of them)."""
    if srt.size == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1]])
    if cap is not None and starts.size > cap:
        return None
    return dict(zip(srt[starts].tolist(), np.diff(np.r_[starts, srt.size]).tolist()))


def part_stats(df: pd.DataFrame, spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One partition's summary of the columns of ``spec``: ``{column: {...}}`` plus ``rows``.

    Per column ``spec`` says ``num`` (numerical statistics) or not (category counts), ``counts``
    (numerical: all distinct values counted, else at most 20), ``quantiles`` (an int: that many
    quantile bins kept) and ``edges`` (a reference sketch's edges: count the column into them).
    """
    out: dict[str, Any] = {"rows": int(len(df))}
    for col, sp in spec.items():
        s = df[col]
        if not sp["num"]:
            keys, counts, codes = st.factorize_counts(s)
            keep = counts > 0
            d = {"n": int(counts.sum()), "counts": dict(zip([k for k, ok in zip(keys, keep) if ok], counts[keep].tolist())),
                 "first": None, "last": None}
            present = s.to_numpy()[codes >= 0]
            if present.size:
                d["first"], d["last"] = present[0], present[-1]
            d["values"] = present if present.size <= GATHER_MAX else None
            out[col] = d
            continue
        arr = _float_values(s)
        n_inf = int(np.isinf(arr).sum())
        present = arr[~np.isnan(arr)]
        fin = present[np.isfinite(present)] if n_inf else present
        srt = np.sort(fin)
        n = int(srt.size)
        mean = float(srt.mean()) if n else 0.0
        d = {"n": n, "n_inf": n_inf, "lo": float(srt[0]) if n else math.inf, "hi": float(srt[-1]) if n else -math.inf,
             "mean": mean, "m2": float(np.square(srt - mean).sum()) if n else 0.0,
             "counts": _distinct(srt, None if sp.get("counts") else _CAP),
             "values": present if present.size <= GATHER_MAX else None}
        if sp.get("quantiles") and n:
            pos = np.round(np.linspace(0, n - 1, sp["quantiles"] + 1)).astype(np.int64)
            d["q"], d["qw"] = srt[pos], np.full(pos.size, n / pos.size)
        if sp.get("edges") is not None:
            d["sk"] = _sketch_counts(srt, sp["edges"])
        out[col] = d
    return out


def _sketch_counts(v: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """Sorted values ``v`` counted into a sketch's bins (see :class:`.sketch.Sketch`): counts,
    counts at each left edge, sums of (right edge - value) for bins ``0..E-1``, and the sum of
    (value - last edge) for the last bin, whose right edge is only known once merged."""
    e, m = edges.size, int(v.size)
    lt = np.searchsorted(v, edges, side="left")
    le = sk._past_ties(v, edges, lt)
    cv = np.empty(e + 1, dtype=np.int64)
    cv[0] = lt[0]
    cv[1:e] = np.diff(lt)
    cv[e] = m - lt[-1]
    av = np.zeros(e + 1, dtype=np.int64)
    av[1:] = le - lt
    below = np.zeros(e + 1, dtype=np.float64)
    gap = np.repeat(edges, cv[:e])
    gap -= v[: lt[-1]]
    full = cv[:e] > 0
    if full.any():
        below[:e][full] = np.add.reduceat(gap, np.r_[0, lt[:-1]][full])
    return {"cv": cv, "av": av, "below": below, "over": float((v[lt[-1]:] - edges[-1]).sum())}


def part_hist(df: pd.DataFrame, spec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One partition's second pass: per column of ``spec``, its counts in a sketch's bins
    (``edges``, or ``None``) and its ``np.histogram`` counts in each edge array of ``hists``."""
    out = {}
    for col, sp in spec.items():
        arr = _float_values(df[col])
        srt = np.sort(arr[np.isfinite(arr)])
        d: dict[str, Any] = {"hists": [st._histogram_counts_sorted(srt, e) for e in sp["hists"]]}
        if sp.get("edges") is not None:
            d["sk"] = _sketch_counts(srt, sp["edges"])
        out[col] = d
    return out


# ----------------------------------------------------------------------------- merges
def _merge_counts(a: dict | None, b: dict | None, cap: int | None) -> dict | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return None if cap is not None and len(out) > cap else out


def _merge_quantiles(a: dict, b: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted quantile points of two summaries, thinned back to ``k`` points: approximate
    quantiles (the sketch's bounds hold whatever its edges; near-quantile edges keep them tight)."""
    q = np.concatenate([a["q"], b["q"]])
    w = np.concatenate([a["qw"], b["qw"]])
    order = np.argsort(q, kind="stable")
    q, w = q[order], w[order]
    if q.size <= k:
        return q, w
    cum = np.cumsum(w)
    pick = np.minimum(np.searchsorted(cum, np.linspace(0, cum[-1], k), side="left"), q.size - 1)
    return q[pick], np.full(k, cum[-1] / k)


def _merge_num(a: dict, b: dict, counts_cap: int | None, n_q: int) -> dict:
    n = a["n"] + b["n"]
    out = {"n": n, "n_inf": a["n_inf"] + b["n_inf"], "lo": min(a["lo"], b["lo"]), "hi": max(a["hi"], b["hi"])}
    if n:  # Chan et al.'s pairwise update of the mean and the sum of squared deviations
        delta = b["mean"] - a["mean"]
        out["mean"] = a["mean"] + delta * b["n"] / n
        out["m2"] = a["m2"] + b["m2"] + delta * delta * a["n"] * b["n"] / n
    else:
        out["mean"], out["m2"] = 0.0, 0.0
    out["counts"] = _merge_counts(a["counts"], b["counts"], counts_cap)
    out["values"] = _merge_values(a["values"], b["values"])
    if "q" in a or "q" in b:
        out["q"], out["qw"] = _merge_quantiles(a, b, n_q) if "q" in a and "q" in b else (a.get("q", b.get("q")),
                                                                                        a.get("qw", b.get("qw")))
    if "sk" in a:
        out["sk"] = {k: a["sk"][k] + b["sk"][k] for k in a["sk"]}
    return out


def _merge_values(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None or a.size + b.size > GATHER_MAX:
        return None
    return np.concatenate([a, b])


def merge_stats(a: dict[str, Any], b: dict[str, Any], spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Combine the summaries of two consecutive partitions (``a`` before ``b``)."""
    out: dict[str, Any] = {"rows": a["rows"] + b["rows"]}
    for col, sp in spec.items():
        x, y = a[col], b[col]
        if sp["num"]:
            out[col] = _merge_num(x, y, None if sp.get("counts") else _CAP, int(sp.get("quantiles") or 0) + 1)
        else:
            out[col] = {"n": x["n"] + y["n"], "counts": _merge_counts(x["counts"], y["counts"], None),
                        "first": x["first"] if x["n"] else y["first"], "last": y["last"] if y["n"] else x["last"],
                        "values": _merge_values(x["values"], y["values"])}
    return out


def merge_hist(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], spec: Any = None) -> dict[str, dict[str, Any]]:
    """Combine two partitions' :func:`part_hist` results (sums of counts)."""
    out = {}
    for c in a:
        out[c] = {"hists": [x + y for x, y in zip(a[c]["hists"], b[c]["hists"])]}
        if "sk" in a[c]:
            out[c]["sk"] = {k: a[c]["sk"][k] + b[c]["sk"][k] for k in a[c]["sk"]}
    return out


# ----------------------------------------------------------------------------- reference summaries
def sketch_edges(lo: float, hi: float, q: np.ndarray, bins: int) -> np.ndarray:
    """The edges of a reference sketch: approximate quantiles and ``bins`` equal steps over
    ``[lo, hi]`` (both ends exact: the sketch's first and last bins rely on them)."""
    edges = np.concatenate([np.clip(q, lo, hi), np.linspace(lo, hi, bins + 1)])
    edges.sort()
    return edges[np.r_[True, edges[1:] != edges[:-1]]]


def nb_range(n_ref: int) -> range:
    """Sturges bin counts a check of a reference of ``n_ref`` values can ask for."""
    return range(max(1, int(math.log2(n_ref + 1))), _NB_MAX + 1)


def sketch_from_counts(edges: np.ndarray, c: dict[str, Any], n: int, bins: int) -> sk.Sketch:
    """A reference :class:`.sketch.Sketch` from the merged counts of its column."""
    below = c["below"].copy()
    below[0] = below[-1] = 0.0  # nothing lies below the minimum; the maximum sits on the last edge
    return sk.Sketch(edges, c["cv"], c["av"], below, int(n), int(bins))


def summary_from_sorted(srt: np.ndarray, std: float, bins: int) -> Summary:
    """The :class:`Summary` of an exact profile's sorted values (a pandas-fitted monitor
    checking a large distributed batch)."""
    n = int(srt.size)
    s = Summary(n, float(srt.mean()), (std ** 2) * n, float(srt[0]), float(srt[-1]), sk.make_sketch(srt, bins))
    s.hist = {nb: st._histogram_counts_sorted(srt, np.linspace(s.lo, s.hi, nb + 1)) for nb in nb_range(n)}
    return s


# ----------------------------------------------------------------------------- scoring
def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(a, bins="sturges")`` of an array of ``size`` values from ``lo``
    to ``hi``, without the array: numpy's own arithmetic, step for step (tested equal)."""
    first, last = np.float64(lo), np.float64(hi)
    ptp = np.subtract(last, first)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = ptp / (np.log2(size) + 1.0)
    nb = int(np.ceil(np.subtract(last, first) / width)) if width else 1
    return np.linspace(first, last, nb + 1, endpoint=True, dtype=np.float64)


def _fill(arr: np.ndarray) -> np.ndarray:
    """Evidently's zero filling of shares (``get_binned_data(feel_zeroes=True)``)."""
    nz = arr[arr != 0]
    m = min(nz)
    np.place(arr, arr == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return arr


def binned_shares_score(method: str, r: np.ndarray, c: np.ndarray) -> float:
    """psi, kl_div or jensenshannon of reference and current shares per bin, exactly as
    :mod:`.stattests` scores them after its binning."""
    from scipy import stats
    from scipy.spatial import distance

    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "jensenshannon":
            return float(distance.jensenshannon(r, c, None))
        r, c = _fill(r.copy()), _fill(c.copy())
        if method == "psi":
            return float(np.sum((r - c) * np.log(r / c)))
        return float(stats.entropy(r, c))


def count_bounds(sketch: sk.Sketch, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the reference's count of values below each ``x``, from its sketch."""
    e = sketch.edges
    cum = np.r_[0, np.cumsum(sketch.counts)]
    j = np.searchsorted(e, x, side="left")
    lo = cum[np.minimum(j, e.size)] + sketch.atoms[np.minimum(j, e.size)]
    hi = cum[np.minimum(j + 1, cum.size - 1)]
    on_edge = (j < e.size) & (e[np.minimum(j, e.size - 1)] == x)
    lo = np.where(on_edge, hi, lo)
    lo = np.where(j == 0, 0, np.where(j >= e.size, sketch.n, lo))
    hi = np.where(j == 0, 0, np.where(j >= e.size, sketch.n, hi))
    return lo, hi


def _convex_range(h, lo: np.ndarray, hi: np.ndarray, argmin: np.ndarray) -> tuple[float, float]:
    """Sums of the minima and maxima of convex terms ``h`` over intervals ``[lo, hi]``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(h(np.clip(argmin, lo, hi)))), float(np.sum(np.maximum(h(lo), h(hi))))


def binned_bounds(method: str, r_lo: np.ndarray, r_hi: np.ndarray, n: int, cur: np.ndarray) -> tuple[float, float]:
    """Bounds of psi, kl_div or jensenshannon when each reference bin count lies in
    ``[r_lo, r_hi]`` (summing to ``n``) and ``cur`` are the current counts.

    Each score is a monotone function of a sum of terms convex in one reference share
    (``(r - c) log(r / c)``, ``r log(r / c)``, the Jensen-Shannon summand): the sum of the terms'
    minima and maxima over their intervals bounds it. Zero-filled shares (psi, kl_div) lie
    between the fill of the smallest possible share and Evidently's 0.0001.
    """
    from scipy.special import rel_entr

    m = cur.sum()
    if method == "jensenshannon":
        q = cur / m
        h = lambda p: rel_entr(p, (p + q) / 2) + rel_entr(q, (p + q) / 2)  # noqa: E731
        lo, hi = _convex_range(h, r_lo / n, r_hi / n, q)
        return math.sqrt(max(lo, 0.0) / 2), math.sqrt(max(hi, 0.0) / 2)
    c = _fill(cur / m)
    smallest = 1.0 / n
    f_lo, f_hi = (smallest / 10**6 if smallest <= 0.0001 else 0.0001), 0.0001
    lo = np.where(r_lo > 0, r_lo / n, np.minimum(f_lo, smallest))
    hi = np.where(r_hi > 0, np.maximum(r_hi / n, np.where(r_lo > 0, 0.0, f_hi)), f_hi)
    lo = np.where(r_hi == 0, f_lo, lo)
    if method == "psi":
        return _convex_range(lambda r: (r - c) * np.log(r / c), lo, hi, c)
    total_lo, total_hi = max(1.0, float(lo.sum())), float(hi.sum())
    c = c / c.sum()
    return _convex_range(lambda r: r * np.log(r / c), lo / total_hi, hi / total_lo, c / math.e)


def sketch_binned(sketch: sk.Sketch, c: dict[str, Any], vmin: float, vmax: float, m: int) -> sk._Binned:
    """The sketch's binned comparison (:func:`.sketch._binned`) from the merged counts ``c`` of
    the current column instead of its sorted values."""
    edges, e = sketch.edges, sketch.edges.size
    cv, av = c["cv"], c["av"]
    left = np.r_[min(vmin, edges[0]), edges]
    right = np.r_[edges, max(vmax, edges[-1])]
    width = right - left
    below_v = c["below"].copy()
    below_v[e] = cv[e] * (right[e] - edges[-1]) - c["over"]
    return sk._binned_from_counts(sketch, cv, av, width, below_v, int(m))


def hellinger_counts(rmap: dict, cmap: dict) -> float:
    """Evidently's categorical Hellinger distance from the two columns' category counts."""
    n_r, n_c = sum(rmap.values()), sum(cmap.values())
    total = 0.0
    for key in set(rmap) | set(cmap):
        total += math.sqrt(float(rmap.get(key, 0) / n_r) * float(cmap.get(key, 0) / n_c))
    return math.sqrt(1 - float(np.clip(total, 0, 1)))


def fisher_counts(rmap: dict, cmap: dict) -> float:
    """Evidently's Fisher exact test from the category counts (its 2x2 table; the two-sided
    p-value does not depend on which category is counted first)."""
    from scipy.stats import fisher_exact

    n_r, n_c = sum(rmap.values()), sum(cmap.values())
    if n_r != n_c:
        raise ValueError("reference_data and current_data are not of equal length, please ensure that they are of equal length")
    keys = list(set(rmap) | set(cmap))
    if len(keys) > 2:
        raise ValueError("Expects binary data for both reference and current, but found unique categories > 2")
    one = keys[0]
    table = np.array([[cmap.get(one, 0), n_c - cmap.get(one, 0)], [rmap.get(one, 0), n_r - rmap.get(one, 0)]])
    return float(fisher_exact(table)[1])
