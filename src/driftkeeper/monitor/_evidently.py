"""The fence around Evidently: the only driftkeeper module that imports ``evidently``.

Evidently is imported inside the functions (it takes seconds to import), so importing
driftkeeper, its monitor or its CLI never pulls it in. Everything returned here is
driftkeeper's own types (floats, strings, dicts, dataclasses).

* :func:`registered_methods` / :func:`default_threshold` — Evidently's stattest registry.
* :func:`evidently_default_method` — Evidently's own default-method rule.
* :func:`evidently_score` — run one Evidently stattest on two value arrays.
* :func:`build_report` / :func:`write_html` — Evidently's ``Report`` of ``ValueDrift``
  metrics with an explicit ``DataDefinition`` and the monitor's methods and thresholds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..table import CATEGORICAL, NUMERICAL

__all__ = [
    "registered_methods",
    "evidently_default_method",
    "evidently_score",
    "EvidentlyColumn",
    "build_report",
    "read_value_drift",
    "write_html",
]


def _column_type(kind: str):
    from evidently.legacy.core import ColumnType

    return ColumnType.Numerical if kind == NUMERICAL else ColumnType.Categorical


def registered_methods() -> dict[str, tuple[frozenset[str], float]]:
    """``{method: (kinds, default_threshold)}`` for every stattest Evidently registers for
    numerical or categorical columns."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    names = {ColumnType.Numerical: NUMERICAL, ColumnType.Categorical: CATEGORICAL}
    out: dict[str, tuple[frozenset[str], float]] = {}
    for name, by_type in _registered_stat_tests.items():
        kinds = frozenset(names[t] for t in by_type if t in names)
        if kinds:
            out[name] = (kinds, next(iter(by_type.values())).default_threshold)
    return out


def evidently_default_method(reference: np.ndarray, current: np.ndarray, kind: str) -> str:
    """Name of the stattest Evidently picks by default for these (non-missing) values."""
    from evidently.legacy.calculations.stattests.registry import get_stattest

    return get_stattest(pd.Series(reference), pd.Series(current), _column_type(kind), None).name


def evidently_score(
    method: str, reference: np.ndarray, current: np.ndarray, kind: str, threshold: float | None = None
) -> tuple[float, bool, float]:
    """Run Evidently's stattest ``method`` on non-missing values: ``(score, drifted, threshold)``.

    ``method`` must fit ``kind`` except for ``chisquare``/``z``, which Evidently's default
    rule also applies to numerical columns with few values.
    """
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests, get_registered_stattest
    from evidently.legacy.core import ColumnType

    ctype = _column_type(kind)
    if method in ("chisquare", "z") and kind == NUMERICAL:
        test = _registered_stat_tests[method][ColumnType.Categorical]
    else:
        test = get_registered_stattest(method, ctype)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = test(pd.Series(np.array(reference, copy=True)), pd.Series(np.array(current, copy=True)), ctype, threshold)
    return float(res.drift_score), bool(res.drifted), float(res.actual_threshold)


@dataclass(frozen=True)
class EvidentlyColumn:
    """One ``ValueDrift`` result read back from an Evidently snapshot."""

    name: str
    method: str
    threshold: float
    score: float
    drifted: bool


def _method_name(label: str) -> str:
    """Evidently reports auto-resolved methods by display name ("K-S p_value"); map back."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    for name, by_type in _registered_stat_tests.items():
        if label == name or any(t.display_name == label for t in by_type.values()):
            return name
    return label


def build_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    methods: dict[str, str | None],
    thresholds: dict[str, float | None],
    drift_share: float = 0.5,
):
    """Run Evidently's ``Report`` of one ``ValueDrift`` per column (``include_tests=True``).

    ``kinds`` gives each column's kind (an explicit ``DataDefinition``, no inference);
    ``methods``/``thresholds`` give each column's method and threshold (``None``: let
    Evidently resolve its default, which is what the monitor's ``"auto"`` reproduces).

    Returns ``(snapshot, {column: EvidentlyColumn})``.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    cols = list(kinds)
    definition = DataDefinition(
        numerical_columns=[c for c in cols if kinds[c] == NUMERICAL],
        categorical_columns=[c for c in cols if kinds[c] == CATEGORICAL],
    )
    metrics: list[Any] = [
        ValueDrift(column=c, method=methods.get(c), threshold=thresholds.get(c)) for c in cols
    ]
    metrics.append(DriftedColumnsCount(columns=cols, drift_share=drift_share))
    report = Report(metrics, include_tests=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        snapshot = report.run(
            Dataset.from_pandas(current[cols].copy(), data_definition=definition),
            Dataset.from_pandas(reference[cols].copy(), data_definition=definition),
        )
    return snapshot, read_value_drift(snapshot)


def read_value_drift(snapshot: Any) -> dict[str, EvidentlyColumn]:
    """Per-column ``ValueDrift`` results of a snapshot (``Report`` of ValueDrift metrics or
    ``DataDriftPreset``). ``drifted`` comes from the snapshot's tests when it has them
    (``include_tests=True``), else from the method's own comparison of score and threshold."""
    from .stattests import METHODS

    d = snapshot.dict()
    status = {}
    for t in d.get("tests", []):
        params = (t.get("metric_config") or {}).get("params") or {}
        if params.get("type", "").endswith(":ValueDrift"):
            status[params["column"]] = t["status"] == "FAIL"
    out: dict[str, EvidentlyColumn] = {}
    for m in d["metrics"]:
        cfg = m["config"]
        if not cfg.get("type", "").endswith(":ValueDrift"):
            continue
        c = cfg["column"]
        method = _method_name(cfg["method"])
        score, threshold = float(m["value"]), float(cfg["threshold"])
        drifted = status[c] if c in status else METHODS[method].drifted(score, threshold)
        out[c] = EvidentlyColumn(name=c, method=method, threshold=threshold, score=score, drifted=drifted)
    return out


def write_html(snapshot: Any, path: str | Path) -> Path:
    """Save an Evidently snapshot as a self-contained HTML page."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(p))
    return p
