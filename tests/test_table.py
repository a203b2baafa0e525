"""Column kinds have one spelling (Evidently's ``numerical`` / ``categorical``) in the table
spec, the adapters' feature schema and the monitor; what release 0.1 wrote still reads."""

from __future__ import annotations

import json
import pickle
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as hst

from driftkeeper.adapters._schema import FeatureSchema
from driftkeeper.exceptions import ConfigError, SchemaError
from driftkeeper.monitor import Monitor
from driftkeeper.table import CATEGORICAL, NUMERICAL, TableSpec

ROOT_V01 = Path(__file__).parent / "data" / "root-v0.1"


def frame():
    return pd.DataFrame({
        "city": ["a", "b", "a", "c"], "rooms": [1, 2, 3, 4], "t": pd.date_range("2024-01-01", periods=4),
        "area": [10.0, 20.5, 30.0, 41.0], "garden": [True, False, True, True], "price": [1.0, 2.0, 3.0, 4.0],
    })


def test_a_spec_spells_kinds_like_the_monitor_and_lists_them_in_column_order():
    spec = TableSpec.from_frame(frame(), target="price", time_column="t")
    assert spec.kinds == {"city": "categorical", "rooms": "numerical", "area": "numerical", "garden": "categorical"}
    assert spec.numerical_columns == ["rooms", "area"] and spec.categorical_columns == ["city", "garden"]
    report = Monitor(numerical=spec.numerical_columns, categorical=spec.categorical_columns).fit(
        spec.features_frame(frame())).check(spec.features_frame(frame()))
    assert {c.name: c.kind for c in report.columns} == spec.kinds


def test_a_spec_written_by_release_0_1_reads_with_todays_kinds():
    d = json.loads((ROOT_V01 / "keeper.json").read_text())["spec"]
    assert set(d["kinds"].values()) == {"numeric", "categorical"}  # as 0.1 wrote it
    spec = TableSpec.from_dict(d)
    assert set(spec.kinds.values()) == {NUMERICAL, CATEGORICAL}
    assert spec.numerical_columns == ["x1", "x2", "x3", "x4"] and spec.categorical_columns == ["cat"]
    assert TableSpec.from_dict(spec.to_dict()) == spec


def test_a_spec_with_an_unknown_kind_is_refused():
    d = TableSpec.from_frame(frame(), target="price", time_column="t").to_dict()
    d["kinds"]["rooms"] = "ordinal"
    with pytest.raises(ConfigError, match=r"^table spec: column 'rooms' has kind 'ordinal'; expected 'numerical' or 'categorical'$"):
        TableSpec.from_dict(d)


def test_a_feature_schema_pickled_with_0_1_spellings_still_checks_columns():
    X = pd.DataFrame({"n": [1.0, 2.0], "c": pd.Categorical(["x", "y"])})
    schema = FeatureSchema.capture(X)
    assert schema.kinds == {"n": "numerical", "c": "categorical"}
    old = pickle.loads(pickle.dumps(FeatureSchema(schema.names, schema.dtypes, schema.categories,
                                                  {"n": "numeric", "c": "category"})))
    assert (old.kind("n"), old.kind("c")) == ("numerical", "categorical")
    aligned = old.align(pd.DataFrame({"n": [3.0], "c": ["y"]}))
    assert aligned["c"].cat.codes.tolist() == [1]
    with pytest.raises(SchemaError, match=r"^X column 'n' has dtype object; expected a numeric dtype \(float64\) as at fit time\.$"):
        old.align(pd.DataFrame({"n": np.array(["3"], dtype=object), "c": ["y"]}))


def test_impute_hint_names_the_columns_with_missing_values_and_the_fix():
    from driftkeeper.table import impute_hint

    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": ["x", None, None, "y"], "c": [1, 2, 3, 4]})
    assert impute_hint(X) == (
        "a model that cannot take missing values predicts NaN, and the data has them in 'a' (25.0%), 'b' (50.0%); "
        "impute them in a pipeline, e.g. sklearn's SimpleImputer / driftkeeper.adapters.river_prep.TabularPrep")
    assert impute_hint(X[["c"]]) is None


def _typed_per_row(spec, df):
    """The categorical typing as release 0.1–0.2 wrote it (every row converted to text): the
    reference the faster one in ``features_frame`` must equal."""
    X = df.loc[:, spec.features].copy()
    for c, cats in spec.categories.items():
        values = X[c].astype("string").astype(object).where(X[c].notna(), None)
        extra = sorted({v for v in values.dropna().unique() if v not in set(cats)})
        X[c] = pd.Categorical(values, categories=list(cats) + extra)
    return X


_VALUES = hst.one_of(hst.none(), hst.just(np.nan), hst.sampled_from(["a", "b", "zz", "", "1", "1.0", "nan"]),
                     hst.integers(-3, 3), hst.floats(allow_nan=False, allow_infinity=False, width=16), hst.booleans(),
                     hst.just(-0.0))


_DTYPES = ("object", "category", "category+unused", "string", "float64", "Int64", "boolean", "bool")


def _as_dtype(batch: list, dtype: str) -> pd.Series | None:
    """``batch`` as a column of ``dtype`` as a file or a user's frame may bring it (None: not expressible)."""
    col = pd.Series(batch, dtype=object)
    text = col.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    numbers = [v for v in batch if v is not None and not isinstance(v, str) and not (isinstance(v, float) and np.isnan(v))]
    if dtype == "object":
        return col
    if dtype.startswith("category"):
        out = text.astype("category")
        return out.cat.add_categories(["never-seen"]) if dtype.endswith("unused") else out  # unused categories too
    if dtype == "string":
        return text.astype("string")
    if dtype in ("float64", "Int64"):
        vals = [float(v) if v is not None and not isinstance(v, str) else np.nan for v in batch]
        if dtype == "Int64":
            vals = [None if np.isnan(v) else int(v) for v in vals]
        return pd.Series(vals, dtype=dtype)
    if dtype in ("boolean", "bool"):
        if dtype == "bool" and len(numbers) < len(batch):
            return None
        return pd.Series([None if v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v)) else bool(v)
                          for v in batch], dtype=dtype)
    raise AssertionError(dtype)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(init=hst.lists(hst.sampled_from(["a", "b", "c", "1", "True", "0.0"]), min_size=2, max_size=8),
       batch=hst.lists(_VALUES, min_size=1, max_size=30), dtype=hst.sampled_from(_DTYPES))
def test_categorical_features_are_typed_as_text_the_same_way_whatever_the_values(init, batch, dtype):
    spec = TableSpec.from_frame(pd.DataFrame({"city": init + ["a"], "y": np.arange(len(init) + 1.0)}), target="y")
    assert spec.kinds["city"] == CATEGORICAL
    col = _as_dtype(batch, dtype)  # a column read back from a file may come typed (category, string, numbers, ...)
    if col is None:
        return
    df = pd.DataFrame({"city": col, "y": np.zeros(len(batch))})
    got, want = spec.features_frame(df), _typed_per_row(spec, df)
    assert list(got["city"].cat.categories) == list(want["city"].cat.categories)
    np.testing.assert_array_equal(got["city"].cat.codes.to_numpy(), want["city"].cat.codes.to_numpy())
    chunks = [df.iloc[: len(df) // 2], df.iloc[len(df) // 2:]]
    assert spec.window_categories(chunks)["city"] == list(want["city"].cat.categories)


_LABELS = hst.one_of(hst.sampled_from(["yes", "no", "1", "0", "True"]), hst.sampled_from([0, 1, 2]),
                     hst.sampled_from([True, False]), hst.sampled_from([0.0, 1.0]))


class _Color(str, Enum):
    """A str subclass whose str() is not its text: ``str(_Color.RED) == "_Color.RED"``."""

    RED = "red"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(init=hst.lists(_LABELS, min_size=2, max_size=6), batch=hst.lists(_LABELS | hst.just(_Color.RED), min_size=1, max_size=20),
       dtype=hst.sampled_from([None, "category", "category+unused", "string", "int64", "bool"]))
def test_target_values_map_each_label_to_the_class_of_its_text(init, batch, dtype):
    """A label arriving as 1, "1" or True goes back to the class of the same text at init; an
    object column of mixed types (1 and True are one dict key, a str subclass equals its text)
    is mapped row by row; a categorical column keeps categories no batch value uses."""
    assume(len({str(v) for v in init}) >= 2 and pd.Series(init, dtype=object).nunique() >= 2)  # two classes
    classes = pd.Series(init, dtype=object)
    spec = TableSpec.from_frame(pd.DataFrame({"x": np.arange(len(init)), "y": classes}), target="y", task="classification")
    y = pd.Series(batch, dtype=object)
    if dtype.startswith("category") if dtype else False:
        y = y.astype("category")
        if dtype.endswith("unused"):
            y = y.cat.add_categories([c for c in (7, 8) if c not in set(y.cat.categories)])
    elif dtype == "string":
        y = y.map(str).astype("string")
    elif dtype in ("int64", "bool"):
        if not all(isinstance(v, (bool, int)) for v in batch):
            return
        y = pd.Series(batch, dtype=dtype)
    by_text = {str(c): c for c in spec.classes}
    want = y.map(lambda v: by_text.get(str(v), v))
    got = spec.target_values(y)
    pd.testing.assert_series_equal(got, want)
    assert [type(v) for v in got] == [type(v) for v in want]


def test_a_categorical_value_that_is_a_str_subclass_is_typed_by_its_text_as_before():
    spec = TableSpec.from_frame(pd.DataFrame({"c": ["red", "blue", "red"], "y": [1.0, 2.0, 3.0]}), target="y")
    df = pd.DataFrame({"c": [_Color.RED, "blue", None], "y": [0.0, 0.0, 0.0]})
    got, want = spec.features_frame(df), _typed_per_row(spec, df)
    assert list(got["c"].cat.categories) == list(want["c"].cat.categories) == ["blue", "red"]
    assert got["c"].cat.codes.tolist() == want["c"].cat.codes.tolist() == [1, 0, -1]


def test_categories_of_other_types_are_not_typed_with_another_specs():
    # hand-made specs (from_frame records text): 1 and True are one key of a dict
    frames = {}
    for cats in (["a", 1], ["a", True], ["a", "1"]):
        spec = TableSpec(target="y", features=["c"], kinds={"c": CATEGORICAL}, task="regression", categories={"c": cats})
        frames[repr(cats)] = spec.features_frame(pd.DataFrame({"c": ["a", "a"], "y": [0.0, 1.0]}))
    assert [list(f["c"].cat.categories) for f in frames.values()] == [["a", 1], ["a", True], ["a", "1"]]
    assert [type(f["c"].cat.categories[1]) for f in frames.values()] == [int, bool, str]
