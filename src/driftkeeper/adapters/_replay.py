"""A bounded, seeded reservoir of training rows kept inside an adapter (pickled with it).

Replaying a sample of it during ``update`` limits forgetting: the reservoir is a uniform
sample (Vitter's algorithm R) of every row seen by ``fit`` and ``update`` since the last ``fit``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Reservoir"]


class Reservoir:
    """Uniform sample of at most ``capacity`` rows of everything added so far."""

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.n_seen = 0
        self.X: pd.DataFrame | None = None
        self.y: np.ndarray | None = None

    def __len__(self) -> int:
        return 0 if self.X is None else len(self.X)

    def add(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Offer every row of ``X``/``y`` to the reservoir (algorithm R, vectorised).

        Only the rows that enter are copied: once the reservoir is full, a new row enters with
        probability ``capacity / rows seen``, so a night's batch adds a handful of rows to a
        reservoir of thousands. The frame and labels are replaced, never written into (a copy
        of the reservoir shares them: :meth:`__deepcopy__`). Their dtypes are pandas' (numpy's)
        of the rows kept joined with the rows that enter; a batch none of whose rows enters
        leaves the reservoir as it was."""
        if self.capacity == 0:
            self.n_seen += len(X)
            return
        kept = len(self)
        n_fill = min(self.capacity - kept, len(X))
        src = np.arange(kept + n_fill)  # slot -> a kept row (its slot, < kept) or new row r (kept + r)
        rest = np.arange(n_fill, len(X))
        if len(rest):
            t = self.n_seen + rest  # global index of each remaining row
            j = self.rng.integers(0, t + 1)
            hit = j < self.capacity
            rows, slots = rest[hit], j[hit]
            # later rows overwrite earlier ones, as in the sequential algorithm: each slot's last row
            last = len(slots) - 1 - np.unique(slots[::-1], return_index=True)[1]
            src[slots[last]] = kept + rows[last]
        self.n_seen += len(X)
        new = src >= kept
        if self.X is not None and not new.any():
            return
        entering = np.unique(src[new] - kept)  # rows of X kept, in their order
        part = X.iloc[entering]
        base_X = part.reset_index(drop=True) if self.X is None else pd.concat([self.X, part], ignore_index=True)
        y = np.asarray(y)
        base_y = y[entering] if self.y is None else np.concatenate([self.y, y[entering]])
        src[new] = kept + np.searchsorted(entering, src[new] - kept)
        self.X = base_X.iloc[src].reset_index(drop=True)
        self.y = base_y[src]

    def __deepcopy__(self, memo: dict[int, Any]) -> "Reservoir":
        # the rows are replaced by add(), never written into: a copy shares them (copying a
        # reservoir of 10,000 rows cost more than a small update's training) and copies the rest
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key in ("X", "y") else copy.deepcopy(value, memo)
        return new

    def sample(self, n: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Return ``min(n, len(self))`` rows drawn without replacement."""
        n = min(n, len(self))
        idx = np.sort(self.rng.choice(len(self), size=n, replace=False))
        return self.X.iloc[idx].reset_index(drop=True), self.y[idx]
