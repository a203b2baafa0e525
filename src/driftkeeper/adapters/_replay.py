"""A bounded, seeded reservoir of training rows kept inside an adapter (pickled with it).

Replaying a sample of it during ``update`` limits forgetting: the reservoir is a uniform
sample (Vitter's algorithm R) of every row seen by ``fit`` and ``update`` since the last ``fit``.
"""

from __future__ import annotations

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
        """Offer every row of ``X``/``y`` to the reservoir (algorithm R, vectorised)."""
        if self.capacity == 0:
            self.n_seen += len(X)
            return
        kept = len(self)
        base_X = X.reset_index(drop=True) if self.X is None else pd.concat([self.X, X], ignore_index=True)
        base_y = y if self.y is None else np.concatenate([self.y, y])
        slots = list(range(kept))  # slot -> row of base_X
        n_fill = min(self.capacity - kept, len(X))
        slots.extend(range(kept, kept + n_fill))
        rest = np.arange(n_fill, len(X))
        if len(rest):
            t = self.n_seen + rest  # global index of each remaining row
            j = self.rng.integers(0, t + 1)
            for row, slot in zip(rest[j < self.capacity], j[j < self.capacity]):
                slots[slot] = kept + row  # later rows overwrite earlier ones, as in the sequential algorithm
        self.n_seen += len(X)
        idx = np.asarray(slots, dtype=int)
        self.X = base_X.iloc[idx].reset_index(drop=True)
        self.y = base_y[idx]

    def sample(self, n: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Return ``min(n, len(self))`` rows drawn without replacement."""
        n = min(n, len(self))
        idx = np.sort(self.rng.choice(len(self), size=n, replace=False))
        return self.X.iloc[idx].reset_index(drop=True), self.y[idx]
