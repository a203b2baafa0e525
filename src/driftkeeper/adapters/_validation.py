"""Parameter validation with scikit-learn's message shape.

"The 'update_rounds' parameter of LightGBMAdapter must be an int in the range [1, inf). Got 0 instead."
Adapters call these where work starts (``fit``/``update``); constructors only store arguments.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from driftkeeper.exceptions import ConfigError

__all__ = ["check_int", "check_float", "check_options", "check_bool"]


def _fmt(value: float | None, default: str) -> str:
    return default if value is None else repr(value)


def _fail(owner: str, name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead.")


def check_int(owner: str, name: str, value: Any, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an int in ``[low, high]`` (``None`` allowed when asked)."""
    if value is None and allow_none:
        return None
    expected = f"an int in the range [{_fmt(low, '-inf')}, {_fmt(high, 'inf')}" + (")" if high is None else "]")
    if allow_none:
        expected += " or None"
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        raise _fail(owner, name, expected, value)
    return int(value)


def check_float(owner: str, name: str, value: Any, *, low: float | None = None, high: float | None = None,
                closed: str = "both", allow_none: bool = False) -> float | None:
    """Return ``value`` as a float if it lies in the interval (``closed``: both/left/right/neither)."""
    if value is None and allow_none:
        return None
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    expected = f"a float in the range {left}{_fmt(low, '-inf')}, {_fmt(high, 'inf')}{right}"
    if allow_none:
        expected += " or None"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok and low is not None:
        ok = value >= low if left == "[" else value > low
    if ok and high is not None:
        ok = value <= high if right == "]" else value < high
    if not ok:
        raise _fail(owner, name, expected, value)
    return float(value)


def check_options(owner: str, name: str, value: Any, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of the string ``options``."""
    options = sorted(options)
    if not isinstance(value, str) or value not in options:
        raise _fail(owner, name, "a str among {" + ", ".join(repr(o) for o in options) + "}", value)
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise _fail(owner, name, "an instance of 'bool'", value)
    return value
