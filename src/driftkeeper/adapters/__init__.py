"""Model adapters: one interface over LightGBM, River and scikit-learn models.

``make_adapter(obj)`` picks the adapter from the object's module, so importing this package
imports neither LightGBM nor River; the concrete adapter modules import them when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from driftkeeper.adapters.base import ModelAdapter
from driftkeeper.exceptions import ConfigError

__all__ = ["LightGBMAdapter", "ModelAdapter", "RiverAdapter", "SklearnAdapter", "make_adapter"]

_LAZY = {
    "LightGBMAdapter": "driftkeeper.adapters.lightgbm",
    "RiverAdapter": "driftkeeper.adapters.river",
    "SklearnAdapter": "driftkeeper.adapters.sklearn",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'driftkeeper.adapters' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


def _root_module(obj: Any) -> str:
    return (type(obj).__module__ or "").split(".", 1)[0]


def make_adapter(obj: Any, **options: Any) -> ModelAdapter:
    """Wrap a LightGBM, River or scikit-learn model in its adapter; return an adapter unchanged.

    A dict is read as LightGBM params (it needs an ``objective``). ``options`` are the adapter's
    keyword-only constructor options (e.g. ``update_rounds=20``). Anything else raises ConfigError
    naming the type.
    """
    if isinstance(obj, ModelAdapter):
        if options:
            raise ConfigError(f"make_adapter got options {sorted(options)} for an existing {type(obj).__name__}; expected none.")
        return obj
    root = _root_module(obj)
    if isinstance(obj, dict) or root == "lightgbm":
        return __getattr__("LightGBMAdapter")(obj, **options)
    if root == "river":
        return __getattr__("RiverAdapter")(obj, **options)
    if root == "sklearn" or (hasattr(obj, "fit") and hasattr(obj, "get_params") and hasattr(obj, "predict")):
        return __getattr__("SklearnAdapter")(obj, **options)
    cls = type(obj)
    raise ConfigError(
        f"make_adapter cannot wrap {cls.__module__}.{cls.__qualname__}; expected a LightGBM, River or scikit-learn model, a LightGBM params dict, or a ModelAdapter."
    )
