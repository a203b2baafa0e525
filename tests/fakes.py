"""Test doubles: a dependency-free adapter for tests of code that drives adapters (runner, gate, registry).

``FakeAdapter`` predicts the running mean of ``y`` (regression) or the running class frequencies
(classification, ``task="classification"``); ``update`` keeps counting, so it "keeps earlier
learning". ``update_style`` is configurable so a test can play a warm-start, online or
retrain-only model. It passes the adapter conformance suite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from driftkeeper.adapters._validation import check_int, check_options
from driftkeeper.adapters.base import ModelAdapter

__all__ = ["FakeAdapter"]


class FakeAdapter(ModelAdapter):
    """Mean / class-frequency predictor; ``model`` is ignored (any value, kept for clone)."""

    kind = "fake"

    def __init__(self, model: Any = None, *, task: str = "regression", update_style: str | None = "online_update",
                 update_rounds: int = 1, replay_fraction: float = 0.0, replay_size: int = 1000,
                 random_state: int = 0) -> None:
        self.model = model
        self._task = task
        self._update_style = update_style
        self.update_rounds = update_rounds
        self.replay_fraction = replay_fraction
        self.replay_size = replay_size
        self.random_state = random_state

    def set_params(self, **params: Any) -> FakeAdapter:
        # task and update_style are read-only properties of every adapter: the fake keeps them apart
        for name in ("task", "update_style"):
            if name in params:
                setattr(self, f"_{name}", params.pop(name))
        super().set_params(**params)
        return self

    def _validate_params(self) -> None:
        super()._validate_params()
        check_options("FakeAdapter", "task", self._task, ("regression", "classification"))
        check_int("FakeAdapter", "update_rounds", self.update_rounds, low=1)

    @property
    def task(self) -> str:
        """As given to the constructor."""
        return self._task

    @property
    def update_style(self) -> str | None:
        """As given to the constructor."""
        return self._update_style

    @property
    def estimator(self) -> str:
        """Always "fakes.FakeAdapter" (this module's path)."""
        return f"{__name__}.FakeAdapter"

    def _clone_model(self) -> Any:
        return self.model

    def _model_object(self) -> Any:
        return getattr(self, "totals_", None)

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.totals_ = np.zeros(len(self.classes_)) if self._task == "classification" else np.zeros(2)
        self._learn(y)

    def _update(self, X: pd.DataFrame, y: np.ndarray, *, rounds: int, learning_rate: float | None) -> None:
        for _ in range(rounds):
            self._learn(y)

    def _learn(self, y: np.ndarray) -> None:
        if self._task == "classification":
            self.totals_ = self.totals_ + np.array([(y == c).sum() for c in self.classes_])
        else:
            self.totals_ = self.totals_ + np.array([y.astype(float).sum(), len(y)])

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        if self._task == "classification":
            return np.repeat(self.classes_[np.argmax(self.totals_)], len(X))
        return np.full(len(X), self.totals_[0] / self.totals_[1])

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile(self.totals_ / self.totals_.sum(), (len(X), 1))
