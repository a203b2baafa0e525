"""Feature schema captured at ``fit`` and enforced on every later batch.

The schema is the ordered column names, each column's dtype, and the categories of pandas
categorical columns. :meth:`FeatureSchema.align` turns an incoming batch into a frame with the
fitted column order and, for categorical columns, the fitted categories *in the fitted order*
(so category codes mean the same thing at fit, update and predict). Values of a categorical
column that were not among the fitted categories become missing (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from driftkeeper.exceptions import DataQualityError, SchemaError
from driftkeeper.table import CATEGORICAL, NUMERICAL, kind_name

__all__ = ["FeatureSchema", "as_frame", "as_target"]


def _kind(dtype: Any) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORICAL
    if pdt.is_bool_dtype(dtype) or pdt.is_numeric_dtype(dtype):
        return NUMERICAL
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "object"


def as_frame(X: Any, names: tuple[str, ...] | None = None, what: str = "X") -> pd.DataFrame:
    """Return ``X`` as a new DataFrame with string column names (the caller's object is never modified).

    A 2-D array gets the fitted ``names`` when its width matches them, else ``x0, x1, ...``.
    """
    if isinstance(X, pd.DataFrame):
        frame = X.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise SchemaError(f"{what} must be a 2-D table (DataFrame or array); got an array with {arr.ndim} dimension(s).")
        cols = list(names) if names is not None and len(names) == arr.shape[1] else [f"x{i}" for i in range(arr.shape[1])]
        frame = pd.DataFrame(arr, columns=cols)
    if frame.columns.has_duplicates:
        dups = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise SchemaError(f"{what} has duplicated column names {dups}; expected unique names.")
    if len(frame) == 0:
        raise DataQualityError(f"{what} has 0 rows; expected at least 1.")
    return frame


def as_target(y: Any, n_rows: int) -> np.ndarray:
    """Return ``y`` as a 1-D numpy array with one value per row and no missing values."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise SchemaError(f"y has {y.shape[1]} columns; expected a single target column.")
        y = y.iloc[:, 0]
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise SchemaError(f"y must be 1-D; got an array of shape {arr.shape}.")
    if len(arr) != n_rows:
        raise SchemaError(f"y has {len(arr)} rows but X has {n_rows}; expected one target per row.")
    n_missing = int(pd.isna(arr).sum())
    if n_missing:
        raise DataQualityError(f"y contains {n_missing} missing value(s); expected none.")
    return arr


@dataclass(frozen=True)
class FeatureSchema:
    """Column names, dtypes and categorical categories of the frame seen at ``fit``."""

    names: tuple[str, ...]
    dtypes: dict[str, str] = field(default_factory=dict)
    categories: dict[str, pd.CategoricalDtype] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def capture(cls, frame: pd.DataFrame) -> FeatureSchema:
        """Record the schema of ``frame`` (a frame from :func:`as_frame`)."""
        cats = {c: frame[c].dtype for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
        return cls(tuple(frame.columns), {c: str(frame[c].dtype) for c in frame.columns}, cats,
                   {c: _kind(frame[c].dtype) for c in frame.columns})

    def kind(self, name: str) -> str:
        """'categorical' (a pandas category dtype), 'numerical' (numbers and bools),
        'datetime' or 'object' for a fitted column (also of a schema pickled by release 0.1,
        which spelled the first two 'category' and 'numeric')."""
        return kind_name(self.kinds[name])

    def align(self, X: Any, what: str = "X") -> pd.DataFrame:
        """Return a new frame with the fitted columns in the fitted order and fitted categories.

        Raises SchemaError naming unseen and missing columns, or a column whose dtype changed
        from numeric to something else. Categorical values unseen at fit become NaN (missing).
        """
        frame = as_frame(X, self.names, what)
        cols = list(frame.columns)
        if cols != list(self.names):
            unseen = [c for c in cols if c not in self.names]
            missing = [c for c in self.names if c not in cols]
            if unseen or missing:
                parts = []
                if unseen:
                    parts.append(f"feature names unseen at fit time: {unseen}")
                if missing:
                    parts.append(f"feature names seen at fit time, yet now missing: {missing}")
                raise SchemaError(f"{what} does not match the columns seen at fit: " + "; ".join(parts) + ".")
            frame = frame[list(self.names)]
        for name, dtype in zip(self.names, list(frame.dtypes)):  # the dtypes at once: a column lookup per name cost more
            if name in self.categories:
                fitted = self.categories[name]
                # CategoricalDtype equality ignores category order for unordered dtypes; the codes
                # depend on the order, so compare the category lists themselves.
                same = (isinstance(dtype, pd.CategoricalDtype) and dtype.ordered == fitted.ordered
                        and dtype.categories.equals(fitted.categories))
                if not same:
                    col = frame[name]
                    if isinstance(dtype, pd.CategoricalDtype):
                        col = col.astype(object)
                    frame[name] = pd.Categorical(col, categories=fitted.categories, ordered=fitted.ordered)
            elif self.kind(name) == NUMERICAL and _kind(dtype) != NUMERICAL:
                raise SchemaError(
                    f"{what} column {name!r} has dtype {dtype}; expected a numeric dtype ({self.dtypes[name]}) as at fit time."
                )
        return frame
