"""Columns of the monitor: which kind each one is, and the data-quality checks its values
pass before they are profiled (reference) or scored (current batch).

Values a statistic cannot take (text in a numerical column, infinities) are refused. Missing
values are not: they are dropped, and a column left with no value at all (entirely missing)
yields an empty array or profile, whose drift the monitor reports as not computed.

Kinds follow Evidently 0.7's inference, so the monitor tests each column the way Evidently's
own report would.
"""

from __future__ import annotations

import math
from typing import Any, Collection

import numpy as np
import pandas as pd

from . import stattests as st
from ..exceptions import DataQualityError, SchemaError

__all__ = [
    "category_counts", "clean", "column_kinds", "empty_profile", "float_values", "infer_kind", "reference_profile",
]

NUM, CAT = st.NUM, st.CAT
_INTEGER_CARDINALITY_LIMIT = 10  # evidently.core.datasets.INTEGER_CARDINALITY_LIMIT


def infer_kind(series: pd.Series) -> str | None:
    """Evidently 0.7's column-type inference (``evidently.core.datasets.infer_column_type``).

    float -> numerical; int -> categorical with <= 10 distinct values, else numerical;
    bool/category/str -> categorical. Returns ``None`` for what Evidently would not treat as
    numerical or categorical (datetimes, free text with more distinct values than half its
    rows, empty or mixed object columns): the monitor skips those unless named explicitly.
    """
    name = series.dtype.name
    if name in ("bool", "boolean", "category"):
        return CAT
    if pd.api.types.is_float_dtype(series.dtype):
        return NUM
    if pd.api.types.is_integer_dtype(series.dtype):
        return CAT if series.nunique() <= _INTEGER_CARDINALITY_LIMIT else NUM
    if name in ("string", "str") or name == "object":
        values = series.dropna()
        if values.empty or not (isinstance(values.iloc[0], str) and isinstance(values.iloc[-1], str)):
            return None
        return None if series.nunique() > series.count() * 0.5 else CAT
    return None


def column_kinds(
    reference: pd.DataFrame, cols: list[str], *, numerical: Collection[str], categorical: Collection[str], named: bool
) -> tuple[dict[str, str], list[str]]:
    """``({column: kind}, skipped columns)`` of the checked columns ``cols``.

    Columns in ``numerical`` / ``categorical`` get that kind (a numerical one must hold
    numbers); the others are inferred (:func:`infer_kind`). A column the inference would not
    test is skipped, unless the caller ``named`` the columns: then it is categorical, except a
    datetime column, which is still skipped.
    """
    kinds: dict[str, str] = {}
    skipped: list[str] = []
    for c in cols:
        s = reference[c]
        if c in numerical:
            if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
                raise SchemaError(
                    f"column {c!r} is declared numerical but the reference holds {s.dtype} values; expected numbers"
                )
            kinds[c] = NUM
        elif c in categorical:
            kinds[c] = CAT
        else:
            k = infer_kind(s)
            if k is None and named and not pd.api.types.is_datetime64_any_dtype(s.dtype):
                k = CAT
            if k is None:
                skipped.append(c)
            else:
                kinds[c] = k
    return kinds, skipped


# --------------------------------------------------------------------------- values


#: rows copied per block when gathering strided columns: a block of a row-major frame (its
#: rows ``stride`` bytes apart) spans about this many bytes, so it stays in the CPU cache while
#: every column of a group is copied out of it
_GATHER_BLOCK_BYTES = 1 << 20


def float_values(columns: list[pd.Series]) -> tuple[list[np.ndarray | None], list[bool]]:
    """Each float64 column's values as a contiguous array (``None`` for other dtypes), and
    whether that array is a fresh copy (else a view of the caller's memory).

    A frame built from a row-major 2-D array (``pd.DataFrame(X)``) holds each column as a view
    whose values lie a whole row apart: copying such a column alone reads a cache line per value,
    50 columns read the frame 50 times over. Strided columns are copied together instead, one
    block of rows at a time (a block stays in the cache while each column takes its values from
    it), which reads the frame's memory about once. Contiguous columns are returned as views
    (never written to); copies are fresh arrays the caller owns.
    """
    out: list[np.ndarray | None] = [None] * len(columns)
    fresh = [False] * len(columns)
    strided: list[tuple[int, np.ndarray]] = []
    for i, s in enumerate(columns):
        if s.dtype != np.float64:
            continue
        arr = s.to_numpy()
        if arr.ndim == 1 and arr.strides[0] != arr.itemsize and arr.size > 1:
            strided.append((i, arr))
        else:
            out[i] = arr
    for i, _ in strided:
        fresh[i] = True
    if not strided:
        return out, fresh
    n = strided[0][1].size
    if any(a.size != n for _, a in strided):  # pragma: no cover - columns of one frame
        for i, a in strided:
            out[i] = np.ascontiguousarray(a)
        return out, fresh
    copies = [np.empty(n, dtype=np.float64) for _ in strided]
    step = max(256, _GATHER_BLOCK_BYTES // max(abs(a.strides[0]) for _, a in strided))
    for lo in range(0, n, step):
        hi = lo + step
        for dst, (_, src) in zip(copies, strided):
            dst[lo:hi] = src[lo:hi]
    for dst, (i, _) in zip(copies, strided):
        out[i] = dst
    return out, fresh


def clean(s: pd.Series, col: str, kind: str, what: str, values: np.ndarray | None = None) -> np.ndarray:
    """Non-missing values of one column, after the hard data-quality checks (empty when the
    column is entirely missing, whatever its dtype).

    ``values``: the float64 column's values already read (:func:`float_values`).
    """
    if kind == NUM:
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            if not s.notna().any():  # None in an object column: missing, not text
                return np.empty(0, dtype=np.float64)
            example = s.dropna().iloc[0]
            raise SchemaError(
                f"column {col!r} in the {what} holds {s.dtype} values (e.g. {example!r}); expected numbers"
            )
        if values is not None:
            arr = values
        elif s.dtype == np.float64:
            arr = s.to_numpy()  # a view: never written to
        else:
            arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        # one pass in the common all-finite case: a finite sum has no NaN or infinity in it
        if not math.isfinite(arr.sum()) and not np.isfinite(arr).all():
            inf = np.isinf(arr)
            if inf.any():
                raise DataQualityError(
                    f"column {col!r} in the {what} has {int(inf.sum())} infinite values; expected finite numbers"
                )
            arr = arr[~np.isnan(arr)]
    else:
        mask = s.isna().to_numpy()
        arr = s.to_numpy()[~mask]
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            raise DataQualityError(
                f"column {col!r} in the {what} has {int(np.isinf(arr).sum())} infinite values; expected finite values"
            )
    return arr


def category_counts(s: pd.Series, col: str, what: str) -> dict[Any, int]:
    """Counts of the non-missing values of a categorical column (checks like :func:`clean`)."""
    keys, counts, _ = st.factorize_counts(s)
    return _check_counts(keys, counts, s, col, what)


def _check_counts(keys: list, counts: np.ndarray, s: pd.Series, col: str, what: str) -> dict[Any, int]:
    n_inf = sum(int(c) for k, c in zip(keys, counts) if isinstance(k, float) and math.isinf(k))
    if n_inf:
        raise DataQualityError(
            f"column {col!r} in the {what} has {n_inf} infinite values; expected finite values"
        )
    return dict(zip(keys, counts.tolist()))


def empty_profile(kind: str) -> st.ColumnProfile:
    """The profile of a reference column without a single value."""
    values = np.empty(0, dtype=np.float64 if kind == NUM else object)
    return st.ColumnProfile(kind, values, values if kind == NUM else None, None, [], np.empty(0, dtype=np.int64), 0)


def reference_profile(
    s: pd.Series, col: str, kind: str, values: np.ndarray | None = None, fresh: bool = False
) -> st.ColumnProfile:
    """The cached profile of one reference column (after the same data-quality checks); an
    empty profile (``n == 0``) when the column is entirely missing. ``values`` as for
    :func:`clean`; ``fresh``: they are a copy the profile may keep (else it copies them)."""
    if kind == CAT:
        prof = st.categorical_profile(s)
        _check_counts(prof.keys, prof.counts, s, col, "reference")
        return prof
    given = values
    values = clean(s, col, kind, "reference", values)
    # ours to keep: a fresh copy, or the new array clean() made of it when dropping missing values
    own = given is not None and (values is not given or fresh)
    return st.make_profile(values, kind, copy=not own) if values.size else empty_profile(kind)
