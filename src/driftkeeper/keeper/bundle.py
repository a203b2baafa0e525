"""What the registry stores for each version (:class:`ModelBundle`), and how a version's drift
reference is fitted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..table import TableSpec

__all__ = ["REFERENCE_ROWS", "ModelBundle", "fit_monitor", "prediction_signal"]

#: Rows of a version's drift reference: its newest training rows, so versions stay small however
#: much history a retrain used.
REFERENCE_ROWS = 10_000


class ModelBundle:
    """The model adapter, the drift monitor fitted on the data that model was trained on, and the
    table schema. Rolling back a version rolls back its drift reference too."""

    def __init__(self, adapter: Any, monitor: Any, spec: TableSpec):
        self.adapter = adapter
        self.monitor = monitor
        self.spec = spec

    def describe(self) -> dict[str, Any]:
        d = dict(self.adapter.describe())
        d["monitor_reference_rows"] = getattr(self.monitor, "reference_rows_", None)
        return d


def prediction_signal(adapter: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """What prediction drift is computed on: the value (regression), the positive-class
    probability (binary) or the predicted label (multiclass)."""
    if task == "regression":
        return np.asarray(adapter.predict(X), dtype=float)
    proba = adapter.predict_proba(X)
    if proba.shape[1] == 2:
        return np.asarray(proba[:, 1], dtype=float)
    return np.asarray(adapter.predict(X)).astype(str)


def fit_monitor(policy: Any, spec: TableSpec, train: pd.DataFrame, adapter: Any) -> Any:
    """The drift reference of a new version: its newest training rows (at most
    :data:`REFERENCE_ROWS`), the model's predictions on them and their target."""
    from ..monitor import Monitor

    train = train.iloc[-REFERENCE_ROWS:]
    X = spec.features_frame(train)
    mon = Monitor(categorical=spec.categorical_columns or None, numerical=spec.numerical_columns or None,
                  **policy.monitor_kwargs())
    y = spec.target_values(train[spec.target]).reset_index(drop=True)
    pred = prediction_signal(adapter, X, spec.task)
    return mon.fit(X.reset_index(drop=True), target=y, prediction=pd.Series(pred, name="prediction"))
