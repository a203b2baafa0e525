"""The metric registry: every metric driftkeeper knows, and the only place that defines one.

Each :class:`Metric` carries its name, the task it scores, its direction, whether it needs
class probabilities, its function and its per-row loss. Policies accept exactly these names
(plus ``auto``, see :data:`AUTO_METRIC`); the gate and the policy signals read their direction
here; the runner, the backtester and the monitor's ``performance`` compute them with
:func:`score`, so a metric is the same number wherever it is reported.

Edge cases, the same everywhere:

* ``r2`` of a constant target is 1.0 for exact predictions and 0.0 otherwise (scikit-learn's
  ``r2_score`` with ``force_finite=True``): there is no variance to explain.
* ``mape`` divides by 1 where the target is 0 (the error counts as absolute there).
* ``roc_auc`` is NaN when the rows hold a single class, and every metric of zero rows is NaN
  (JSON has no NaN: the drift report stores ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._util.suggest import suggest
from .exceptions import ConfigError

__all__ = [
    "AUTO_METRIC", "METRICS", "TASKS", "Metric", "default_metric", "evaluate", "evaluate_many", "evaluate_rows",
    "get_metric", "higher_is_better", "metric_names", "score",
]

TASKS = ("regression", "classification")
#: What ``metric: auto`` means for each task.
AUTO_METRIC = {"regression": "rmse", "classification": "log_loss"}


@dataclass(frozen=True)
class Metric:
    """One metric. ``fn(y, out, **kw)`` computes it: ``out`` is the predictions (regression)
    or the class probabilities, one column per class of ``classes=`` (classification)."""

    name: str
    task: str
    higher_is_better: bool
    # whether class labels are not enough (log loss, ROC AUC): a scorer that only has the
    # predicted labels cannot compute it
    needs_proba: bool
    fn: Callable[..., float]
    # Per-row losses whose mean orders models the way the metric does (None: the metric is not
    # a mean of per-row terms, e.g. ROC AUC), and the power that turns a metric margin into a
    # loss margin: rmse compares mean squared errors, so (1 + margin) becomes (1 + margin)**2.
    row_loss: Callable[..., np.ndarray] | None = None
    loss_power: int = 1

    def error(self, value: float) -> float:
        """The value as an error (lower is better): ``1 - value`` for accuracy, AUC and R²."""
        return 1.0 - value if self.higher_is_better else value


# per-row losses (the gate's paired test); the mean metrics below are their means
def _sq_rows(y, p, **_):
    return (np.asarray(y, float) - np.asarray(p, float)) ** 2


def _abs_rows(y, p, **_):
    return np.abs(np.asarray(y, float) - np.asarray(p, float))


def _ape_rows(y, p, **_):
    y = np.asarray(y, float)
    return np.abs((y - np.asarray(p, float)) / np.where(y == 0, 1.0, np.abs(y)))


def _miss_rows(y, proba, *, classes):
    return (_labels(proba, classes).astype(str) != np.asarray(y).astype(str)).astype(float)


def _log_loss_rows(y, proba, *, classes):
    idx = {str(c): i for i, c in enumerate(classes)}
    cols = np.array([idx[str(v)] for v in np.asarray(y)])
    return -np.log(np.clip(np.asarray(proba, float)[np.arange(len(cols)), cols], 1e-15, 1.0))


def _rmse(y, p, **_):
    return float(np.sqrt(np.mean(_sq_rows(y, p))))


def _mae(y, p, **_):
    return float(np.mean(_abs_rows(y, p)))


def _r2(y, p, **_):
    y = np.asarray(y, float)
    ss_res = float(np.sum((y - np.asarray(p, float)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:  # a constant target: see the module docstring
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def _mape(y, p, **_):
    return float(np.mean(_ape_rows(y, p)))


def _labels(proba, classes):
    return np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]


def _error_rate(y, proba, *, classes):
    return float(np.mean(_miss_rows(y, proba, classes=classes)))


def _accuracy(y, proba, *, classes):
    return 1.0 - _error_rate(y, proba, classes=classes)


def _log_loss(y, proba, *, classes):
    return float(np.mean(_log_loss_rows(y, proba, classes=classes)))


def _roc_auc(y, proba, *, classes):
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(str)
    if len(set(y)) < 2:
        return float("nan")
    proba = np.asarray(proba, float)
    if len(classes) == 2:
        return float(roc_auc_score(y == str(classes[1]), proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=[str(c) for c in classes]))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", "regression", False, False, _rmse, _sq_rows, 2),
        Metric("mae", "regression", False, False, _mae, _abs_rows),
        Metric("mape", "regression", False, False, _mape, _ape_rows),
        Metric("r2", "regression", True, False, _r2, _sq_rows),
        Metric("error_rate", "classification", False, False, _error_rate, _miss_rows),
        Metric("accuracy", "classification", True, False, _accuracy, _miss_rows),
        Metric("log_loss", "classification", False, True, _log_loss, _log_loss_rows),
        Metric("roc_auc", "classification", True, True, _roc_auc),
    )
}


def metric_names(task: str | None = None) -> list[str]:
    """Names of the metrics of ``task`` (every metric for None), in registry order."""
    return [n for n, m in METRICS.items() if task is None or m.task == task]


def default_metric(task: str) -> str:
    """The metric ``auto`` stands for in ``task``."""
    if task not in AUTO_METRIC:
        raise ConfigError(f"task must be 'regression' or 'classification', got {task!r}")
    return AUTO_METRIC[task]


def higher_is_better(name: str) -> bool:
    """Direction of a metric; ``auto`` (rmse or log_loss) is lower-is-better either way."""
    if name == "auto":
        return False
    return get_metric(name).higher_is_better


def get_metric(name: str, task: str | None = None) -> Metric:
    """The :class:`Metric` called ``name`` (``auto``: the task's default), checked against
    ``task`` when given. Unknown names and metrics of the other task raise ConfigError."""
    if name == "auto":
        if task is None:
            raise ConfigError("metric 'auto' needs the task (regression or classification)")
        name = default_metric(task)
    try:
        m = METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}{suggest(name, METRICS)}; known: {sorted(METRICS)}") from None
    if task is not None and m.task != task:
        raise ConfigError(f"metric {name!r} is for {m.task}, but this model does {task}; use one of {sorted(metric_names(task))}")
    return m


def score(metric: Metric, y: Any, out: Any, classes: Any = None) -> float:
    """``metric`` of predictions ``out`` (class probabilities for classification, columns in
    the order of ``classes``) against targets ``y``; NaN for zero rows."""
    if len(y) == 0:
        return float("nan")
    return metric.fn(y, out, classes=classes) if metric.task == "classification" else metric.fn(y, out)


def _scored(metric: Metric, model: Any, X, y) -> tuple[np.ndarray, Any, list | None]:
    """``(y, predictions or class probabilities, classes)`` of ``model`` for ``metric``."""
    if metric.task == "classification":
        return np.asarray(y), model.predict_proba(X), list(model.classes_)
    return np.asarray(y, float), model.predict(X), None


def evaluate(metric: Metric, model: Any, X, y) -> float:
    """Score ``model`` (an adapter) on ``X, y`` with ``metric``."""
    return score(metric, *_scored(metric, model, X, y))


def evaluate_many(metrics: list[Metric], model: Any, X, y) -> list[float]:
    """Each metric's value of ``model`` on ``X, y``, from one prediction (one ``predict`` and/or
    one ``predict_proba``, whatever the metrics need)."""
    cache: dict[str, tuple[np.ndarray, Any, list | None]] = {}
    out = []
    for m in metrics:
        if m.task not in cache:
            cache[m.task] = _scored(m, model, X, y)
        out.append(score(m, *cache[m.task]))
    return out


def evaluate_rows(metric: Metric, model: Any, X, y) -> tuple[float, np.ndarray | None]:
    """``(metric value, per-row losses)`` of ``model`` on ``X, y`` from one prediction; the
    losses are None for a metric that is not a mean of per-row terms (ROC AUC)."""
    y, out, classes = _scored(metric, model, X, y)
    if metric.row_loss is None:
        return score(metric, y, out, classes), None
    kw = {"classes": classes} if metric.task == "classification" else {}
    return score(metric, y, out, classes), metric.row_loss(y, out, **kw)
