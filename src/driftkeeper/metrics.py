"""Performance metrics the runner, the gate and the backtester share.

Each metric knows its direction; :func:`error` turns any of them into "lower is better" so
the gate and the backtester compare errors whatever the metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._util.suggest import suggest
from .exceptions import ConfigError

__all__ = ["METRICS", "Metric", "get_metric", "default_metric", "evaluate", "evaluate_rows"]


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    higher_is_better: bool
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
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


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
        Metric("error_rate", "classification", False, True, _error_rate, _miss_rows),
        Metric("accuracy", "classification", True, True, _accuracy, _miss_rows),
        Metric("log_loss", "classification", False, True, _log_loss, _log_loss_rows),
        Metric("roc_auc", "classification", True, True, _roc_auc),
    )
}


def default_metric(task: str) -> str:
    return "rmse" if task == "regression" else "log_loss"


def get_metric(name: str, task: str | None = None) -> Metric:
    if name == "auto":
        if task is None:
            raise ConfigError("metric 'auto' needs the task (regression or classification)")
        name = default_metric(task)
    try:
        m = METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}{suggest(name, METRICS)}; known: {sorted(METRICS)}") from None
    if task is not None and m.task != task:
        ok = sorted(k for k, v in METRICS.items() if v.task == task)
        raise ConfigError(f"metric {name!r} is for {m.task}, but this model does {task}; use one of {ok}")
    return m


def _scored(metric: Metric, model: Any, X, y) -> tuple[np.ndarray, Any, dict]:
    """``(y, predictions or probabilities, extra kwargs)`` for ``metric``'s functions."""
    if metric.task == "classification":
        return np.asarray(y), model.predict_proba(X), {"classes": list(model.classes_)}
    return np.asarray(y, float), model.predict(X), {}


def evaluate(metric: Metric, model: Any, X, y) -> float:
    """Score ``model`` (an adapter) on ``X, y`` with ``metric``."""
    y, out, kw = _scored(metric, model, X, y)
    return metric.fn(y, out, **kw)


def evaluate_many(metrics: list[Metric], model: Any, X, y) -> list[float]:
    """Each metric's value of ``model`` on ``X, y``, from one prediction (one ``predict`` and/or
    one ``predict_proba``, whatever the metrics need)."""
    cache: dict[str, tuple[np.ndarray, Any, dict]] = {}
    out = []
    for m in metrics:
        if m.task not in cache:
            cache[m.task] = _scored(m, model, X, y)
        y_, pred, kw = cache[m.task]
        out.append(m.fn(y_, pred, **kw))
    return out


def evaluate_rows(metric: Metric, model: Any, X, y) -> tuple[float, np.ndarray | None]:
    """``(metric value, per-row losses)`` of ``model`` on ``X, y`` from one prediction; the
    losses are None for a metric that is not a mean of per-row terms (ROC AUC)."""
    y, out, kw = _scored(metric, model, X, y)
    return metric.fn(y, out, **kw), (None if metric.row_loss is None else metric.row_loss(y, out, **kw))
