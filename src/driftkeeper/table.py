"""The table a keeper maintains: which columns are features, target, time and id, and the
checks every incoming batch passes before anything is computed or written.

:class:`TableSpec` is fixed at ``Keeper.init`` from the initial data and stored in
``ROOT/keeper.json``. :meth:`TableSpec.validate` refuses a batch the model cannot be run on
with one line naming the column and what was expected (the CLI turns that into exit code 2,
nothing changed). Missing feature values are not refused, even a column missing on every row of
a batch: models that take missing values predict through them, and the drift monitor reports
such a column as a data-quality finding.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._util.suggest import suggest
from .exceptions import ConfigError, SchemaError

__all__ = ["CATEGORICAL", "NUMERICAL", "FrameHasher", "TableSpec", "frame_sha256", "impute_hint", "infer_task", "kind_name"]

#: The kinds of a feature column, spelled as Evidently spells them (the drift report too).
NUMERICAL = "numerical"
CATEGORICAL = "categorical"
#: Spellings of release 0.1 (a keeper.json, a pickled adapter's schema) and their kind.
LEGACY_KINDS = {"numeric": NUMERICAL, "category": CATEGORICAL}


def kind_name(kind: str) -> str:
    """The kind ``kind`` spells, also when spelled the way release 0.1 wrote it."""
    return LEGACY_KINDS.get(kind, kind)


def impute_hint(X: pd.DataFrame) -> str | None:
    """Why a model may have predicted NaN on ``X``, and the fix: the columns of ``X`` with missing
    values and their share (``None`` when ``X`` has none)."""
    share = X.isna().mean()
    gaps = [f"{c!r} ({v:.1%})" for c, v in share.items() if v > 0]
    if not gaps:
        return None
    return (f"a model that cannot take missing values predicts NaN, and the data has them in {', '.join(gaps)}; "
            "impute them in a pipeline, e.g. sklearn's SimpleImputer / driftkeeper.adapters.river_prep.TabularPrep")


_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"


def _holds_dates(s: pd.Series) -> bool:
    """A datetime column, or text whose every value is an ISO date (``2024-03-01``, optionally
    with a time): a feature that holds points in time."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return False
    values = s.dropna()
    if not len(values) or not values.map(lambda v: isinstance(v, str)).all():
        return False
    return bool(values.str.fullmatch(_ISO_DATE).all()) and _days(values).notna().all()


def _days(s: pd.Series) -> pd.Series:
    """Dates as days since 1970-01-01 UTC (float; NaN where missing or not a date)."""
    t = pd.to_datetime(s, utc=True, format="mixed", errors="coerce")
    return (t - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)


# d/m/y or m/d/y: 3/09/2016, 03.09.16, 3-9-2016 (a time may follow)
_DMY = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](?:\d{4}|\d{2})(?:[ T].*)?$"


def _day_first(raw: pd.Series, column: str, what: str) -> bool | None:
    """Whether text dates like ``3/09/2016`` put the day first: True when some value's first
    field is over 12, False when some value's second field is, None when no value tells (or the
    column holds no such dates). pandas reads an ambiguous ``3/09/2016`` month first and a
    ``13/09/2016`` day first, so a day-first column read unaided mixes the two orders silently."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return None
    text = raw.dropna()
    text = text[text.map(lambda v: isinstance(v, str))]
    fields = text.str.extract(_DMY).dropna()
    if fields.empty:
        return None
    over = fields.astype(int) > 12
    if over[0].any() and over[1].any():
        raise SchemaError(
            f"time column {column!r} in {what} mixes day-first ({text[over[0]].iloc[0]!r}) and month-first "
            f"({text[over[1]].iloc[0]!r}) dates; write dates as YYYY-MM-DD"
        )
    return True if over[0].any() else False if over[1].any() else None


def _numeric_fix(s: pd.Series) -> str:
    """The first value of a numerical column that arrived as text which is not a number, and the
    fix: ``(e.g. 'n/a'); fix ...``."""
    import re

    bad = next((v for v in s.dropna() if not _is_number(v)), None)
    if bad is None:
        return f"(e.g. {s.dropna().iloc[0]!r}); every value reads as a number: convert the column to numbers (pd.to_numeric)"
    if isinstance(bad, str) and re.fullmatch(r"\s*[-+]?\d*,\d+\s*", bad):
        return f"(e.g. {bad!r}, a decimal comma); write numbers with a decimal point, or separate the fields with ';'"
    return f"(e.g. {bad!r}); fix the values that are not numbers, or leave those cells empty (missing)"


def _string_codes(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A categorical feature's values as text, the way every frame is typed: ``(codes, labels)``
    with ``labels[codes[i]] == str(s[i])`` (pandas' ``string`` conversion) and code -1 where the
    value is missing. Only the distinct values are converted (a per-row conversion dominated the
    cost of typing a batch of a few thousand rows). Values of mixed types, whose distinct values
    may print alike or differently (``1`` and ``True``, ``0`` and ``0.0``), are converted row by row."""
    values = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "boolean", "empty"):
        s = s.astype("string").astype(object).where(s.notna(), None)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if kind == "string" and not isinstance(s.dtype, pd.StringDtype):
        return codes, list(uniques)  # text already: the conversion below would keep each value as it is
    return codes, pd.Index(uniques).astype("string").astype(object).tolist()


def _categories(cats: list[Any]) -> tuple[pd.Index, pd.CategoricalDtype]:
    """The index and dtype of a categorical feature's categories seen at init. Text categories
    (what :meth:`TableSpec.from_frame` records) are built once for every batch, holdout and
    training window typed with them; others (a spec made by hand: ``1`` and ``True`` would be one
    key of the cache) every time."""
    key = tuple(cats)
    if all(type(c) is str for c in key):
        return _text_categories(key)
    return pd.Index(list(cats)), pd.CategoricalDtype(list(cats))


@functools.lru_cache(maxsize=256)
def _text_categories(cats: tuple[str, ...]) -> tuple[pd.Index, pd.CategoricalDtype]:
    return pd.Index(list(cats)), pd.CategoricalDtype(list(cats))


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float, np.number)):
        return True
    try:
        float(str(v))
    except ValueError:
        return False
    return True


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a frame (column names, order and values), stable across processes."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


class FrameHasher:
    """:func:`frame_sha256` of a frame given in row chunks (:meth:`add` each, in order): the same
    digest as of the chunks concatenated when they hold the same dtypes. A column a chunk lacks
    is hashed as missing values (what concatenating would put there)."""

    def __init__(self, columns: list[str]):
        self.columns = list(columns)
        self._h = hashlib.sha256()
        self._h.update("\x1f".join(map(str, self.columns)).encode())

    def add(self, chunk: pd.DataFrame) -> None:
        if list(chunk.columns) != self.columns:
            chunk = chunk.reindex(columns=self.columns)
        self._h.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def infer_task(y: pd.Series) -> str:
    """``classification`` for text, bool, category or integer targets with at most two values
    (0/1 labels; also when missing values made the integers floats); ``regression`` for other
    numeric targets."""
    if (
        pd.api.types.is_bool_dtype(y)
        or isinstance(y.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(y)
        or pd.api.types.is_string_dtype(y)
    ):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique(dropna=True) <= 2:
        return "classification"
    if pd.api.types.is_float_dtype(y) and y.isna().any():  # 0/1 with gaps reads as 0.0/1.0/NaN
        v = y.dropna()
        if len(v) and v.nunique() <= 2 and bool((v == v.round()).all()):
            return "classification"
    return "regression"


@dataclass
class TableSpec:
    """Roles and kinds of a keeper's columns, fixed from the initial data."""

    target: str
    features: list[str]
    kinds: dict[str, str]  # feature -> NUMERICAL | CATEGORICAL
    task: str  # "regression" | "classification"
    time_column: str | None = None
    id_column: str | None = None
    exclude: list[str] = field(default_factory=list)
    classes: list[Any] | None = None  # classification targets, sorted
    categories: dict[str, list[Any]] = field(default_factory=dict)  # categorical features
    dates: list[str] = field(default_factory=list)  # numerical features that hold dates (days since 1970)
    # a time column of d/m/y text: True when the initial data shows the day first (13/09/2016),
    # False when it shows the month first (9/13/2016), None when it does not tell or is not such text
    day_first: bool | None = None
    # features a frame may lack, read as missing: columns added after init (stored rows older than
    # the column lack it; see driftkeeper.keeper.schema_change)
    missing_ok: list[str] = field(default_factory=list)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a spec pickled by an earlier release (inside a registered bundle) lacks the fields added
        # since: they take their defaults, which describe what that release did
        for f in dataclasses.fields(self):
            if f.name not in state:
                state[f.name] = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        self.__dict__.update(state)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        target: str,
        time_column: str | None = None,
        id_column: str | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        task: str | None = None,
    ) -> "TableSpec":
        cols = [str(c) for c in df.columns]
        for role, name in (("target", target), ("time column", time_column), ("id column", id_column)):
            if name is not None and name not in cols:
                raise SchemaError(f"{role} {name!r} is not a column of the data{suggest(name, cols)}; columns: {cols}")
        for name in exclude:
            if name not in cols:
                raise SchemaError(f"excluded column {name!r} is not a column of the data{suggest(name, cols)}")
        if task is not None and task not in ("regression", "classification"):
            raise ConfigError(f"task must be 'regression' or 'classification', got {task!r}")
        roles = {target, time_column, id_column, *exclude} - {None}
        features = [c for c in cols if c not in roles]
        if not features:
            raise SchemaError("the data has no feature columns left after target, time, id and excluded columns")
        kinds: dict[str, str] = {}
        categories: dict[str, list[Any]] = {}
        dates: list[str] = []
        for c in features:
            s = df[c]
            if _holds_dates(s):
                kinds[c] = NUMERICAL  # a date is a point in time: days since 1970, not a category
                dates.append(c)
            elif pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
                kinds[c] = CATEGORICAL
                categories[c] = sorted(map(str, s.dropna().unique()))
            else:
                kinds[c] = NUMERICAL
        y = df[target]
        if y.isna().any():
            raise SchemaError(f"target {target!r} has {int(y.isna().sum())} missing values in the initial data; label every row")
        task = task or infer_task(y)
        classes = None
        if task == "classification":
            classes = sorted(y.unique().tolist(), key=str)
            if len(classes) < 2:
                raise SchemaError(f"target {target!r} has a single class {classes}; a classifier needs at least two")
        elif not pd.api.types.is_numeric_dtype(y):
            raise SchemaError(f"target {target!r} must be numeric for regression, got dtype {y.dtype}")
        day_first = _day_first(df[time_column], time_column, "the initial data") if time_column is not None else None
        return cls(
            target=target,
            features=features,
            kinds=kinds,
            task=task,
            time_column=time_column,
            id_column=id_column,
            exclude=list(exclude),
            classes=classes,
            categories=categories,
            dates=dates,
            day_first=day_first,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TableSpec":
        """The spec :meth:`to_dict` wrote (also one written by release 0.1)."""
        kinds = {c: kind_name(k) for c, k in d.get("kinds", {}).items()}
        for c, k in kinds.items():
            if k not in (NUMERICAL, CATEGORICAL):
                raise ConfigError(f"table spec: column {c!r} has kind {k!r}; expected {NUMERICAL!r} or {CATEGORICAL!r}")
        return cls(**{**d, "kinds": kinds})

    # ------------------------------------------------------------------ use
    @property
    def numerical_columns(self) -> list[str]:
        """The numerical features, in column order."""
        return [c for c in self.features if self.kinds[c] == NUMERICAL]

    @property
    def categorical_columns(self) -> list[str]:
        """The categorical features, in column order."""
        return [c for c in self.features if self.kinds[c] == CATEGORICAL]

    @property
    def expected_columns(self) -> list[str]:
        cols = list(self.features)
        for c in (self.time_column, self.id_column, *self.exclude):
            if c is not None:
                cols.append(c)
        return cols

    def times(self, df: pd.DataFrame, *, what: str = "batch") -> pd.Series | None:
        """The time column parsed as UTC datetimes (None without a time column). Text dates
        like ``3/09/2016`` are read in the order the initial data showed (:attr:`day_first`), else
        in the order this frame shows; a frame showing the other order is refused."""
        if self.time_column is None:
            return None
        raw = df[self.time_column]
        day_first = _day_first(raw, self.time_column, what)
        if day_first is not None and self.day_first is not None and day_first != self.day_first:
            order = "day" if self.day_first else "month"
            raise SchemaError(f"time column {self.time_column!r} in {what} puts the {'day' if day_first else 'month'} "
                              f"first, but the initial data put the {order} first; write dates as YYYY-MM-DD")
        day_first = self.day_first if self.day_first is not None else day_first
        try:
            if pd.api.types.is_numeric_dtype(raw):
                # integers like 20141013 are dates; anything else numeric is a row index
                t = pd.to_datetime(raw.astype("int64").astype(str), format="%Y%m%d", utc=True)
            else:
                t = pd.to_datetime(raw, utc=True, format="mixed", dayfirst=bool(day_first))
        except (ValueError, TypeError) as exc:
            bad = raw.iloc[0]
            raise SchemaError(
                f"time column {self.time_column!r} in {what} cannot be parsed as dates (e.g. {bad!r}): {str(exc).splitlines()[0]}"
            ) from exc
        if t.isna().any():
            raise SchemaError(f"time column {self.time_column!r} in {what} has {int(t.isna().sum())} missing values")
        return t

    def features_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Feature columns in schema order with categorical columns typed the same way every time
        (pandas ``category`` with the categories seen at init plus any new ones appended)."""
        absent = [c for c in getattr(self, "missing_ok", ()) if c in self.features and c not in df.columns]
        if absent:  # rows stored before the column existed: missing values (numbers NaN, categories None)
            df = df.assign(**{c: np.full(len(df), np.nan) if self.kinds[c] == NUMERICAL else np.full(len(df), None, dtype=object)
                              for c in absent})
        X = df.loc[:, self.features]  # a new frame (one copy: df[cols].copy() made two)
        for c in self.dates:
            X[c] = _days(X[c])
        for c in self.numerical_columns:
            # an entirely missing column may arrive as None in an object column: it is NaN
            if not pd.api.types.is_numeric_dtype(X[c]) and not X[c].notna().any():
                X[c] = np.full(len(X), np.nan)
        for c, cats in self.categories.items():
            codes, labels = _string_codes(X[c])
            index, dtype = _categories(cats)
            where = index.get_indexer(labels)
            if (where < 0).any():  # values unseen at init: appended, sorted
                known = set(cats)
                categories = list(cats) + sorted({v for v in labels if v not in known})
                index, dtype = pd.Index(categories), pd.CategoricalDtype(categories)
                where = index.get_indexer(labels)
            # each distinct value's code, then -1 last: a missing value's code -1 picks it
            X[c] = pd.Categorical.from_codes(np.append(where, -1)[codes], dtype=dtype)
        return X

    def window_categories(self, chunks: Any) -> dict[str, list[Any]]:
        """The categories :meth:`features_frame` gives each categorical feature on the rows of
        ``chunks`` (frames of stored rows, holding at least the categorical features) taken as one
        frame: those seen at init, then every other value of the chunks, sorted. With them
        :meth:`features_chunk` types every chunk as that one frame would be typed."""
        known = {c: set(cats) for c, cats in self.categories.items()}
        extra: dict[str, set[Any]] = {c: set() for c in self.categories}
        for chunk in chunks:
            for c in self.categories:
                if c in chunk.columns:  # rows stored before the column existed have none
                    extra[c].update(v for v in _string_codes(chunk[c])[1] if v not in known[c])  # as features_frame reads them
        return {c: list(cats) + sorted(extra[c]) for c, cats in self.categories.items()}

    def features_chunk(self, df: pd.DataFrame, categories: dict[str, list[Any]]) -> pd.DataFrame:
        """:meth:`features_frame` of one chunk of a larger frame, categorical features typed with
        that frame's ``categories`` (:meth:`window_categories`): every chunk gets the codes the
        whole frame would give."""
        X = self.features_frame(df)
        for c, cats in categories.items():
            X[c] = X[c].cat.set_categories(cats)
        return X

    def validate(self, df: pd.DataFrame, *, what: str = "batch", require_target: bool = False) -> bool:
        """Refuse a batch that does not match the schema. Returns whether it carries labels.

        Every failure is a :class:`~driftkeeper.exceptions.SchemaError` whose one-line message
        names the column and what was expected. Missing feature values pass, also a column
        that is missing on every row (:meth:`features_frame` types it as at init).
        """
        if len(df.columns) == 0:
            raise SchemaError(f"{what} has no columns; expected {self.expected_columns}")
        if len(df) == 0:
            raise SchemaError(f"{what} has no rows (header only or empty); expected at least one row")
        cols = [str(c) for c in df.columns]
        expected = self.expected_columns
        missing = [c for c in expected if c not in cols]
        allowed = set(expected) | {self.target}
        unexpected = [c for c in cols if c not in allowed]
        if missing or unexpected:
            parts = []
            if missing:
                hint = "".join(suggest(m, unexpected) for m in missing[:1]) if unexpected else ""
                parts.append(f"missing column(s) {missing}{hint}")
            if unexpected:
                parts.append(f"unexpected column(s) {unexpected}")
            raise SchemaError(f"{what} does not match the training schema: " + "; ".join(parts))
        for c in self.dates:
            s = df[c]
            bad = s.notna() & _days(s).isna()
            if bad.any():
                raise SchemaError(
                    f"column {c!r} in {what} held dates at init but {s[bad].iloc[0]!r} is not a date; "
                    "write dates as YYYY-MM-DD (a time may follow), or leave the cell empty (missing)"
                )
        for c in self.features:
            s = df[c]
            if c in self.dates:
                continue
            if self.kinds[c] == NUMERICAL and s.notna().any():
                if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                    raise SchemaError(f"column {c!r} in {what} should be numeric but arrived as {s.dtype} {_numeric_fix(s)}")
                n_inf = int(np.isinf(s.to_numpy(dtype="float64", na_value=np.nan)).sum())
                if n_inf:
                    raise SchemaError(f"column {c!r} in {what} contains {n_inf} infinite value(s); expected finite numbers or NaN")
        self.times(df, what=what)
        if self.id_column is not None:
            dup = df[self.id_column].duplicated()
            if dup.any():
                ex = df.loc[dup, self.id_column].iloc[0]
                raise SchemaError(f"id column {self.id_column!r} in {what} has {int(dup.sum())} duplicate id(s), e.g. {ex!r}")
            if df[self.id_column].isna().any():
                raise SchemaError(f"id column {self.id_column!r} in {what} has missing ids")
        if self.target not in cols:
            if require_target:
                raise SchemaError(f"{what} has no target column {self.target!r}")
            return False
        self.validate_target(df[self.target], what=what)
        return True

    def validate_target(self, y: pd.Series, *, what: str = "batch") -> None:
        n_missing = int(y.isna().sum())
        if n_missing:
            raise SchemaError(
                f"target {self.target!r} in {what} has {n_missing} missing value(s); label every row or leave the column out"
            )
        if self.task == "regression":
            if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
                raise SchemaError(
                    f"target {self.target!r} in {what} should be numeric (regression) but arrived as {y.dtype} (e.g. {y.iloc[0]!r})"
                )
            if np.isinf(y.to_numpy(dtype="float64")).any():
                raise SchemaError(f"target {self.target!r} in {what} contains infinite values")
        else:
            known = set(map(str, self.classes or []))
            unseen = sorted({str(v) for v in y.unique()} - known)
            if unseen:
                raise SchemaError(
                    f"target {self.target!r} in {what} has class(es) {unseen} never seen at init; known classes: {sorted(known)}"
                )

    def target_values(self, y: pd.Series) -> pd.Series:
        """Target in the dtype of the initial data (classes mapped back by their text)."""
        if self.task == "classification":
            by_text = {str(c): c for c in self.classes or []}
            if not isinstance(y.dtype, pd.CategoricalDtype):
                distinct = pd.unique(y)
                if not (y.dtype == object or isinstance(y.dtype, pd.StringDtype)) or all(type(v) is str for v in distinct):
                    # numbers, booleans or plain text: each distinct value mapped once (mixed types
                    # — 1 and True, a str subclass and its text — are one key of a dict: row by
                    # row; a categorical keeps its unused categories: row by row too)
                    return y.map({v: by_text.get(str(v), v) for v in distinct})
            return y.map(lambda v: by_text.get(str(v), v))
        return y.astype("float64")
