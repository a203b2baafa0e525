"""What the registry stores for each version (:class:`ModelBundle`), and how a version's drift
reference is fitted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..table import TableSpec

__all__ = ["ESTIMATOR_MIN_ROWS", "REFERENCE_ROWS", "ModelBundle", "estimate_batch", "fit_estimator", "fit_monitor", "prediction_signal"]

#: Rows of a version's drift reference: its newest training rows, so versions stay small however
#: much history a retrain used.
REFERENCE_ROWS = 10_000


#: Fewest held-out rows a version's performance estimator is fitted on. Estimators are fitted for
#: the initial version and each retrain; updates, and retrains with fewer held-out rows, keep
#: their parent's (``estimator_version`` says whose).
ESTIMATOR_MIN_ROWS = 50


class ModelBundle:
    """The model adapter, the drift monitor fitted on the data that model was trained on, the
    table schema, and the performance estimator (CBPE / DLE, fitted on rows the model did not
    train on; ``None`` when there were too few). Rolling back a version rolls back its drift
    reference and its estimator too."""

    def __init__(self, adapter: Any, monitor: Any, spec: TableSpec, estimator: Any = None,
                 estimator_version: int | None = None):
        self.adapter = adapter
        self.monitor = monitor
        self.spec = spec
        self.estimator = estimator
        self.estimator_version = estimator_version  # the version it was fitted for (None: this one)

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("estimator", None)  # bundles saved before estimation existed
        state.setdefault("estimator_version", None)
        self.__dict__.update(state)

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


def _model_output(adapter: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    return adapter.predict_proba(X) if task == "classification" else np.asarray(adapter.predict(X), dtype=float)


def fit_estimator(spec: TableSpec, adapter: Any, rows: pd.DataFrame, metric: str) -> Any:
    """The performance estimator of a version, fitted on ``rows`` it did not train on (the gate's
    held-out rows); ``None`` with fewer than :data:`ESTIMATOR_MIN_ROWS` of them, a metric no
    estimator estimates (r2), or rows it cannot be fitted on (one class only)."""
    from ..exceptions import ConfigError, SchemaError
    from ..monitor import estimation

    supported = estimation.CLASSIFICATION_ESTIMATES if spec.task == "classification" else estimation.REGRESSION_ESTIMATES
    if len(rows) < ESTIMATOR_MIN_ROWS or metric not in supported:
        return None
    X, y = spec.features_frame(rows), spec.target_values(rows[spec.target])
    try:
        metrics = None if spec.task == "classification" else (metric,)
        return estimation.fit_estimator(spec.task, X.reset_index(drop=True), y.to_numpy(), _model_output(adapter, X, spec.task),
                                        classes=getattr(adapter, "classes_", None), metrics=metrics)
    except (ConfigError, SchemaError):
        return None


def estimate_batch(bundle: ModelBundle, X: pd.DataFrame, metric: str, version: int,
                   output: np.ndarray | None = None, refit: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The serving version's estimate of ``metric`` on a batch (labelled or not): the run
    record's ``estimated_metric``, ``None`` without an estimator for that metric. ``output``:
    the model's predictions (regression) or positive-class probabilities (binary) on ``X`` when
    the caller has them already; otherwise the model predicts. ``refit``: an estimator refitted
    for this version on late labels (``{"estimator", "night", "rows"}``,
    :mod:`driftkeeper.keeper.late_labels`), used in place of the bundle's."""
    est = refit["estimator"] if refit is not None else getattr(bundle, "estimator", None)
    if est is None or metric not in getattr(est, "metrics", ()):
        return None
    if output is None:
        output = _model_output(bundle.adapter, X, bundle.spec.task)
    chunk = est.estimate(X.reset_index(drop=True), output)
    e = chunk[metric]
    out = {"metric": metric, "value": e.value, "std_error": e.std_error, "fit_error": e.fit_error, "rows": e.rows,
           "doubtful": chunk.doubtful, "outside_share": round(chunk.outside_share, 4), "version": version,
           "fitted_for_version": version if refit is not None else bundle.estimator_version or version,
           "fitted_on": "holdout"}
    if refit is not None:
        out.update(fitted_on="late labels", fit_night=refit["night"], fit_rows=refit["rows"])
    return out
