"""The did-you-mean hint of every error message that names an unknown key, column or value.

One shape everywhere, appended right after the unknown word::

    unknown metric 'rsme' (did you mean 'rmse'?); metrics: ...
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable

__all__ = ["closest", "suggest"]


def _fold(text: str) -> str:
    return text.casefold().replace("_", "").replace("-", "")


def closest(word: Any, choices: Iterable[Any]) -> str | None:
    """The choice ``word`` most likely misspells, or None.

    A choice equal to ``word`` up to case, ``_`` and ``-`` wins (``X2`` for ``x2``,
    ``x_3`` for ``x3``); otherwise the closest by :func:`difflib.get_close_matches`
    (ratio at least 0.6). Choices are compared as text.

    >>> closest("treshold", ["threshold", "method"]), closest("X2", ["x1", "x2"]), closest("zzz", ["a"])
    ('threshold', 'x2', None)
    """
    text = str(word)
    options = [str(c) for c in choices]
    folded = [o for o in options if _fold(o) == _fold(text)]
    if folded:
        return folded[0]
    close = difflib.get_close_matches(text, options, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: Any, choices: Iterable[Any]) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to ``word``, or ``""``.

    >>> "unknown metric 'rsme'" + suggest("rsme", ["rmse", "mae"])
    "unknown metric 'rsme' (did you mean 'rmse'?)"
    """
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""
