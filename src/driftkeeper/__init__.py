"""driftkeeper: keep tabular ML models accurate after deployment.

Public API (everything else is private and may change)::

    from driftkeeper import Monitor, DriftReport, ColumnDrift      # drift monitor
    from driftkeeper import Registry, ModelVersion                 # versioned model registry
    from driftkeeper import Policy, load_policy, decide, Decision, Context   # policy engine
    from driftkeeper import Keeper, RunRecord                      # nightly runner / embedding API
    from driftkeeper import run_backtest, BacktestResult           # replay history under policies
    from driftkeeper.adapters import make_adapter                  # model adapters
    from driftkeeper import exceptions                             # the error hierarchy

Names are imported lazily (PEP 562), so ``import driftkeeper`` is cheap and never imports
Evidently, LightGBM or River until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Monitor": ".monitor",
    "DriftReport": ".monitor",
    "ColumnDrift": ".monitor",
    "Registry": ".registry",
    "ModelVersion": ".registry",
    "Policy": ".policy",
    "load_policy": ".policy",
    "decide": ".policy",
    "Decision": ".policy",
    "Context": ".policy",
    "Keeper": ".keeper",
    "RunRecord": ".keeper",
    "run_backtest": ".backtest",
    "BacktestResult": ".backtest",
    "DriftkeeperError": ".exceptions",
}

__all__ = sorted(_LAZY) + ["__version__", "exceptions", "adapters"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in ("exceptions", "adapters"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'driftkeeper' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
