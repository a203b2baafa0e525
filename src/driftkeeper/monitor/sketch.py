"""Binned sketches of numerical reference columns: ``Monitor(approx="binned")``.

A sketch freezes a histogram of the reference at fit. Its edges are the reference's
``bins``-quantiles (no bin holds more than about ``1 / bins`` of the reference) and a grid of
``bins`` equal steps over its range (no bin is wider than ``range / bins``: heavy tails get
narrow bins too), at most ``2 bins + 1`` edges; each bin keeps its count, the count of values
equal to its left edge and the sum of (right edge - value) over its values. A check then only
sorts the current column and counts it into the same bins (``searchsorted`` of the edges), so
its cost and memory do not depend on the reference's size, and the monitor keeps no reference
values for the column (about 0.6 MB a column at ``bins=10_000``).

From the two binned samples the exact KS statistic and Wasserstein distance are not known,
but an interval that contains each is, and the monitor reports both the estimate (the middle
of the interval) and the interval (``ColumnDrift.score_bounds``). Write ``G = F_u - F_v`` for
the difference of the reference and current empirical CDFs. Per bin ``[L, R)``:

* ``G(L-)`` and ``G(L)`` are known exactly (counts below the edge and at it; computed as
  integers over ``n_u n_v``, divided once);
* inside the bin, ``G`` stays within ``[G(L) - q_v, G(L) + q_u]``, where ``q_u``, ``q_v`` are
  the shares of each sample strictly inside the bin (both CDFs only rise);
* ``I = integral of G over the bin`` is known exactly from the counts and the sums of
  ``R - value`` of both samples.

**KS** (two-sided statistic ``D = max |G|`` at the data points): every ``|G(L-)|``, ``|G(L)|``
is a value scipy's maximum takes, so ``D >= D_lo = max of them``; ``D <= D_hi = max(D_lo,
max over bins of the in-bin bounds)``. Hence ``D_hi - D_lo <= max over bins of max(q_u, q_v)``:
the KS statistic's error is at most the largest share of either sample strictly inside one bin
(about ``1 / bins`` for the reference). The p-value is scipy's asymptotic one (``kstwo.sf``,
what ``ks_2samp`` uses for samples of more than 10,000 values) at ``(D_lo + D_hi) / 2``, with
bounds the p-values at ``D_hi`` and ``D_lo``.

**Wasserstein** (``integral of |G|``, divided by the reference's exact std like Evidently):
in a bin where ``G`` cannot change sign its integral is exactly ``|I|``; where it can
(``G(L) - q_v < 0 < G(L) + q_u``) it lies in ``[|I|, I + 2 min(N, P - I)]`` with ``P``, ``N``
the largest positive and negative areas the in-bin bounds allow (``P = h max(hi, 0)``,
``N = h max(-lo, 0)``, ``h`` the bin's width). The interval is the sum of the bins' intervals:
its width is at most ``sum of h (q_u + q_v)`` over the bins where the CDFs may cross, and zero
outside the reference's range (beyond it the reference CDF is 0 or 1, so ``G`` keeps its sign).
Near a drift threshold the CDFs cross in few bins, so the interval is narrow there.

Both ends are then widened by a floating-point margin (64 units of roundoff times the
magnitudes summed), so the interval also holds the exact score as the exact monitor computes it.
Consequence for verdicts: a binned column's verdict is the exact monitor's whenever the threshold
lies outside its ``score_bounds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stattests import ks_asymptotic_pvalue

__all__ = ["APPROX_METHODS", "Sketch", "make_sketch", "sketch_score"]

#: methods a sketch can score; the others need the reference values
APPROX_METHODS = frozenset({"wasserstein", "ks"})


@dataclass(frozen=True)
class Sketch:
    """The binned summary of one numerical reference column (see the module docstring).

    Bin ``0`` holds what lies below the reference's minimum (no reference value), bins
    ``1..E-1`` are ``[edges[k-1], edges[k])``, bin ``E`` holds the reference's maximum and
    what lies above it.
    """

    edges: np.ndarray  # E distinct increasing edges: the reference's quantiles (minimum and maximum
    # included) and a grid of equal steps between them
    counts: np.ndarray  # E+1 reference counts per bin
    atoms: np.ndarray  # E+1 reference counts equal to the bin's left edge (bin 0: 0)
    below: np.ndarray  # E+1 sums of (right edge - value) over the bin's reference values (bin E: 0)
    n: int
    bins: int  # bins asked for (the sketch may hold fewer: ties merge quantiles)


def _past_ties(srt: np.ndarray, edges: np.ndarray, lt: np.ndarray) -> np.ndarray:
    """``searchsorted(srt, edges, "right")`` given the ``"left"`` one: searched again only for
    the edges that ``srt`` holds (most edges of continuous data, it does not)."""
    le = lt.copy()
    tied = srt[np.minimum(lt, srt.size - 1)] == edges
    tied &= lt < srt.size
    le[tied] = np.searchsorted(srt, edges[tied], side="right")
    return le


def make_sketch(srt: np.ndarray, bins: int) -> Sketch:
    """Sketch of the sorted, finite reference values ``srt``: the edges are its ``bins``-quantiles
    and a grid of ``bins`` equal steps over its range (so no bin holds more than about
    ``1 / bins`` of the reference, nor is wider than ``range / bins``)."""
    n = int(srt.size)
    pos = np.round(np.linspace(0, n - 1, bins + 1)).astype(np.int64)
    edges = np.concatenate([srt[pos], np.linspace(srt[0], srt[-1], bins + 1)])
    edges.sort()
    edges = edges[np.r_[True, edges[1:] != edges[:-1]]]
    e = edges.size
    lt = np.searchsorted(srt, edges, side="left")
    le = _past_ties(srt, edges, lt)
    counts = np.zeros(e + 1, dtype=np.int64)
    counts[1:e] = np.diff(lt)
    counts[e] = n - lt[-1]
    atoms = np.zeros(e + 1, dtype=np.int64)
    atoms[1:] = le - lt
    below = np.zeros(e + 1, dtype=np.float64)
    if e > 1:
        gap = np.repeat(edges[1:], counts[1:e])
        gap -= srt[: lt[-1]]
        full = counts[1:e] > 0
        below[1:e][full] = np.add.reduceat(gap, lt[:-1][full])
    return Sketch(edges, counts, atoms, below, n, int(bins))


@dataclass(frozen=True)
class _Binned:
    """Both samples in the sketch's bins, on the integration range of the check."""

    g_minus: np.ndarray  # G just below each bin's left edge
    g_at: np.ndarray  # G at the left edge
    lo: np.ndarray  # bounds of G inside each bin
    hi: np.ndarray
    width: np.ndarray
    integral: np.ndarray  # integral of G over each bin
    scale: float  # sum over bins of width * (|G| + both shares): what rounding errors scale with
    m: int


#: rounding margin added to both ends of a bound, in units of the magnitudes summed: the
#: statistics here and the exact ones each round a few times per term
_ROUNDING = 64 * np.finfo(np.float64).eps


def _binned(sk: Sketch, v: np.ndarray) -> _Binned:
    """Count the sorted current values ``v`` into the sketch's bins."""
    edges, e, m = sk.edges, sk.edges.size, int(v.size)
    lt = np.searchsorted(v, edges, side="left")
    le = _past_ties(v, edges, lt)
    cv = np.empty(e + 1, dtype=np.int64)
    cv[0] = lt[0]
    cv[1:e] = np.diff(lt)
    cv[e] = m - lt[-1]
    av = np.zeros(e + 1, dtype=np.int64)
    av[1:] = le - lt
    left = np.r_[min(v[0], edges[0]), edges]
    right = np.r_[edges, max(v[-1], edges[-1])]
    width = right - left
    # sum of (right edge - value) over each bin's current values
    gap = np.repeat(right, cv)
    np.subtract(gap, v, out=gap)
    below_v = np.zeros(e + 1, dtype=np.float64)
    full = cv > 0
    below_v[full] = np.add.reduceat(gap, np.r_[0, lt][full])
    return _binned_from_counts(sk, cv, av, width, below_v, m)


def _binned_from_counts(sk: Sketch, cv: np.ndarray, av: np.ndarray, width: np.ndarray, below_v: np.ndarray,
                        m: int) -> _Binned:
    """The comparison of the sketch with a current column given by its counts per bin ``cv``,
    its atoms at the edges ``av``, the bins' ``width`` and, per bin, the sum of (right edge -
    value) over its values ``below_v`` (sorted values and merged partition counts both give them)."""
    e, n = sk.edges.size, sk.n
    below_u = sk.below.copy()
    below_u[e] = sk.counts[e] * width[e]  # the reference's maximum, up to the range's end
    cu, au = sk.counts, sk.atoms
    below_cu = np.r_[0, np.cumsum(cu)[:-1]]  # counts strictly below each bin
    below_cv = np.r_[0, np.cumsum(cv)[:-1]]
    # G's values as exact integers over n * m, divided once: relative rounding only, where
    # differences of rounded shares would leave an absolute eps (large in wide tail bins)
    if n * m < 2**62:
        num = lambda cu_, cv_: (cu_ * m - cv_ * n) / float(n * m)  # noqa: E731
    else:  # pragma: no cover - beyond 2**31 values a side
        num = lambda cu_, cv_: cu_ / n - cv_ / m  # noqa: E731
    g_minus = num(below_cu, below_cv)
    g_at = num(below_cu + au, below_cv + av)
    lo = num(below_cu + au, below_cv + cv)  # the reference's atom passed, the whole current bin too
    hi = num(below_cu + cu, below_cv + av)  # the whole reference bin, only the current's atom
    integral = width * g_minus + below_u / n - below_v / m
    scale = float(np.sum(width * (np.abs(g_minus) + cu / n + cv / m)))
    return _Binned(g_minus, g_at, lo, hi, width, integral, scale, m)


def _wasserstein_bounds(b: _Binned) -> tuple[float, float]:
    """``[lower, upper]`` of the integral of ``|G|`` (see the module docstring)."""
    i = b.integral
    pos = b.width * np.maximum(b.hi, 0.0)
    neg = b.width * np.maximum(-b.lo, 0.0)
    low = np.abs(i)
    high = np.maximum(i + 2.0 * np.maximum(np.minimum(neg, pos - i), 0.0), low)
    slack = _ROUNDING * b.scale
    return max(float(low.sum()) - slack, 0.0), float(high.sum()) + slack


def _ks_bounds(b: _Binned) -> tuple[float, float]:
    """``[lower, upper]`` of the two-sided KS statistic (see the module docstring)."""
    d_lo = float(max(np.abs(b.g_minus).max(), np.abs(b.g_at).max()))
    d_hi = float(max(d_lo, np.abs(b.lo).max(), np.abs(b.hi).max()))
    return max(d_lo - _ROUNDING, 0.0), min(d_hi + _ROUNDING, 1.0)


def sketch_score(method: str, sk: Sketch, std: float, cur: np.ndarray) -> tuple[float, tuple[float, float]]:
    """``(estimate, (lower, upper))`` of ``method``'s score (exact score within the bounds)
    for the current non-missing values ``cur`` against the sketch; ``std``: the reference's."""
    b = _binned(sk, np.sort(cur))
    if method == "wasserstein":
        lo, hi = _wasserstein_bounds(b)
        norm = max(std, 0.001)
        return (lo + hi) / 2 / norm, (lo / norm, hi / norm)
    if method == "ks":  # three of scipy's p-values: each can take a second at n ~ 1e6 (scipy.special.smirnov)
        lo, hi = _ks_bounds(b)
        p = ks_asymptotic_pvalue((lo + hi) / 2, sk.n, b.m)
        return p, (ks_asymptotic_pvalue(hi, sk.n, b.m), ks_asymptotic_pvalue(lo, sk.n, b.m))
    raise ValueError(f"method {method!r} cannot be scored from a sketch")  # pragma: no cover

