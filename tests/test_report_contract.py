"""The DriftReport JSON contract as the monitor fills it."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from driftkeeper.monitor import Monitor
from driftkeeper.monitor import SCHEMA_VERSION, ColumnDrift, DriftReport

COLUMN_KEYS = {"name", "kind", "method", "score", "threshold", "drifted", "stattest_type", "rows",
               "missing_share", "unseen_share"}
TOP_KEYS = {"schema_version", "columns", "n_columns", "n_drifted", "drift_share", "drift_share_threshold",
            "dataset_drift", "quality_issues", "reference_rows", "current_rows", "prediction", "target", "performance",
            "warnings", "sample"}


@pytest.fixture(scope="module")
def report() -> DriftReport:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=1200), "k": rng.choice(list("ab"), 1200),
                        "y": rng.normal(size=1200)})
    ref["p"] = ref["y"] + rng.normal(0, 0.2, 1200)
    cur = pd.DataFrame({"x": rng.normal(0.6, 1, 400), "k": rng.choice(list("abc"), 400),
                        "y": rng.normal(size=400)})
    cur["p"] = cur["y"] + 0.3
    cur.loc[:9, "x"] = np.nan
    return Monitor(sample=300).fit(ref, target="y", prediction="p").check(cur, target="y", prediction="p")


def test_to_dict_has_the_documented_keys_and_is_plain_json(report):
    d = report.to_dict()
    assert set(d) == TOP_KEYS and d["schema_version"] == SCHEMA_VERSION
    assert all(set(c) == COLUMN_KEYS for c in d["columns"])
    assert set(d["target"]) == COLUMN_KEYS and set(d["prediction"]) == COLUMN_KEYS
    text = json.dumps(d, allow_nan=False)  # no numpy types, no NaN
    assert json.loads(text) == d
    assert d["performance"]["task"] == "regression" and set(d["performance"]["metrics"]) == {"rmse", "mae", "mape", "r2"}
    assert d["sample"] == {"rows": 300, "seed": 0}
    assert d["quality_issues"] == 1 and d["warnings"] == [report.warnings[0]]  # 'c' is a category never seen
    assert d["warnings"][0].startswith("k: ") and "never seen in reference" in d["warnings"][0]


def test_round_trip_is_equal(report):
    assert DriftReport.from_dict(report.to_dict()) == report
    assert DriftReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_values_have_plain_python_types(report):
    for c in (*report.columns, report.target, report.prediction):
        assert type(c.score) is float and type(c.threshold) is float and type(c.drifted) is bool
        assert type(c.rows) is int and type(c.missing_share) is float
        assert c.stattest_type in {"p_value", "distance"}
        assert c.kind in {"numerical", "categorical"}
    assert report.column("k").unseen_share is not None and report.column("x").unseen_share is None


def test_dataset_numbers_derive_from_columns(report):
    d = report.to_dict()
    assert d["n_columns"] == len(d["columns"]) == 2
    assert d["n_drifted"] == sum(c["drifted"] for c in d["columns"])
    assert d["dataset_drift"] == (d["drift_share"] >= d["drift_share_threshold"])


def test_nan_score_is_stored_as_null():
    c = ColumnDrift("x", "numerical", "ks", float("nan"), 0.05, False, "p_value")
    assert c.to_dict()["score"] is None
    back = ColumnDrift.from_dict(c.to_dict())
    assert back.score is None and not math.isfinite(back.margin)
