"""The ``performance`` part of a drift report: every metric of the task on the labelled rows.

The metrics are :mod:`driftkeeper.metrics`' (one registry, one function per metric), so each
number equals :func:`driftkeeper.metrics.evaluate` of the model on the same rows. The monitor
has one prediction per row, which for classification is either the positive-class
probability of a binary target or a class label; from labels alone the metrics that need
probabilities (log loss, ROC AUC) cannot be computed and are ``None``. A value the metric
leaves undefined (NaN: no rows, or ROC AUC with a single class present) is ``None`` too, as
JSON has no NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import METRICS, metric_names, score
from .stattests import NUM

__all__ = ["performance"]


class _NoClass:
    """The other column of a binary probability when only one class was ever seen: a label
    no target equals."""

    def __str__(self) -> str:
        return "<no other class>"


def performance(y: pd.Series, p: pd.Series, target_kind: str, reference_classes: list[Any]) -> dict[str, Any]:
    """``{"task", "rows", "metrics"}`` of predictions ``p`` against targets ``y``, on the rows
    where both are present. A numerical target is regression; a categorical one is
    classification with the classes of the reference target (``reference_classes``) and of
    ``y``, the positive class being the larger label."""
    ok = (y.notna() & p.notna()).to_numpy()
    y, p = y[ok], p[ok]
    if target_kind == NUM:
        task = "regression"
        values = {n: score(METRICS[n], y.to_numpy(dtype=float), p.to_numpy(dtype=float)) for n in metric_names(task)}
    else:
        task = "classification"
        values = _classification(y, p, sorted(set(reference_classes) | set(y.unique().tolist())))
    metrics = {n: None if v is None or math.isnan(v) else float(v) for n, v in values.items()}
    return {"task": task, "rows": int(len(y)), "metrics": metrics}


def _is_binary_proba(p: pd.Series, classes: list[Any]) -> bool:
    return (
        pd.api.types.is_float_dtype(p.dtype) and len(classes) <= 2 and len(p) > 0
        and float(p.min()) >= 0.0 and float(p.max()) <= 1.0
        and not set(p.unique().tolist()) <= set(classes)
    )


def _classification(y: pd.Series, p: pd.Series, classes: list[Any]) -> dict[str, float | None]:
    names = metric_names("classification")
    if _is_binary_proba(p, classes):
        pp = p.to_numpy(dtype=float)
        pair = classes if len(classes) == 2 else [_NoClass(), *classes]
        proba = np.column_stack([1.0 - pp, pp])
        return {n: score(METRICS[n], y.to_numpy(), proba, pair) for n in names}
    # labels: one-hot "probabilities" give the label metrics their usual inputs. Labels are
    # compared as the text of the class they equal (a prediction 1.0 is the class 1).
    text_of = {c: str(c) for c in classes}
    labels = np.asarray([text_of.get(v, str(v)) for v in p.tolist()], dtype=object)
    texts = sorted(set(text_of.values()) | set(labels))
    one_hot = (labels[:, None] == np.asarray(texts, dtype=object)[None, :]).astype(float)
    y_text = np.asarray([text_of[v] for v in y.tolist()], dtype=object)
    return {n: None if METRICS[n].needs_proba else score(METRICS[n], y_text, one_hot, texts) for n in names}
