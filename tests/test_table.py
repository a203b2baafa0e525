"""Column kinds have one spelling (Evidently's ``numerical`` / ``categorical``) in the table
spec, the adapters' feature schema and the monitor; what release 0.1 wrote still reads."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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
