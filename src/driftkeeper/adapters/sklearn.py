"""scikit-learn adapter: any regressor or classifier, alone or at the end of a ``Pipeline``.

How ``update`` works is read from the final step:

* ``partial_fit`` (SGD*, MLP*, PassiveAggressive*, naive Bayes...) → ``update_style="online_update"``:
  ``rounds`` calls of ``partial_fit`` on the batch (default 1), classifiers always with
  ``classes=classes_`` (fixed at fit).
* ``HistGradientBoosting*``, ``GradientBoosting*``, ``RandomForest*``, ``ExtraTrees*`` →
  ``update_style="warm_start"``: ``warm_start=True`` and ``max_iter``/``n_estimators`` grown by
  ``rounds`` (default 20), fitted on the batch. HistGradientBoosting is always fitted with
  ``early_stopping=False`` so iteration counts are exact. A warm-start classifier batch must hold
  every fitted class (the library re-derives ``classes_`` from each batch); otherwise SchemaError.
* anything else → ``update_style=None``; ``update`` raises UpdateNotSupportedError.

``fit`` fits a ``sklearn.base.clone`` of the model, so earlier state is ignored. In a pipeline the
preprocessing steps are fitted by ``fit`` only; ``update`` transforms the batch with them and
updates the final step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from driftkeeper.adapters._validation import check_float, check_int
from driftkeeper.adapters.base import ModelAdapter, fmt_json
from driftkeeper.exceptions import ConfigError, DataQualityError, ModelSizeError, SchemaError
from driftkeeper.table import impute_hint

__all__ = ["SklearnAdapter"]

_WARM_START = ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier", "GradientBoostingRegressor",
               "GradientBoostingClassifier", "RandomForestRegressor", "RandomForestClassifier",
               "ExtraTreesRegressor", "ExtraTreesClassifier")


def _family(est: Any) -> str | None:
    """The warm-start family name in the estimator's MRO, if any."""
    for cls in type(est).__mro__:
        if cls.__name__ in _WARM_START and cls.__module__.startswith("sklearn."):
            return cls.__name__
    return None


class SklearnAdapter(ModelAdapter):
    """Adapter for scikit-learn estimators and pipelines.

    Parameters (keyword-only after ``model``): ``update_rounds`` (None: 1 partial_fit pass or 20
    warm-start iterations/trees), ``update_learning_rate`` (HistGradientBoosting only: learning
    rate of the added iterations), ``replay_fraction`` (default 0.0), ``replay_size`` (reservoir
    capacity, default 10_000; 0 disables), ``max_trees`` (cap for warm-start ensembles; an update
    past it raises ModelSizeError), ``random_state`` (seed of the replay sampler; the estimator's
    own ``random_state`` is left as given).
    """

    kind = "sklearn"

    def __init__(self, model: Any, *, update_rounds: int | None = None, update_learning_rate: float | None = None,
                 replay_fraction: float = 0.0, replay_size: int = 10_000, max_trees: int | None = None,
                 random_state: int = 0) -> None:
        self.model = model
        self.update_rounds = update_rounds
        self.update_learning_rate = update_learning_rate
        self.replay_fraction = replay_fraction
        self.replay_size = replay_size
        self.max_trees = max_trees
        self.random_state = random_state

    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__
        check_int(owner, "update_rounds", self.update_rounds, low=1, allow_none=True)
        check_float(owner, "update_learning_rate", self.update_learning_rate, low=0.0, closed="neither", allow_none=True)
        check_int(owner, "max_trees", self.max_trees, low=1, allow_none=True)
        if self.update_learning_rate is not None and "learning_rate" not in self.update_overrides:
            raise ConfigError(f"update_learning_rate is only supported for HistGradientBoosting models; {self._label()} has no per-update learning rate.")
        self.task  # noqa: B018 - raises ConfigError for a non-estimator

    # ------------------------------------------------------------ what the model is
    @staticmethod
    def _final_of(model: Any) -> Any:
        from sklearn.pipeline import Pipeline

        return model.steps[-1][1] if isinstance(model, Pipeline) else model

    @property
    def task(self) -> str:
        """From ``sklearn.base.is_classifier`` / ``is_regressor`` of the model (pipelines: final step)."""
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(self.model):
            return "classification"
        if is_regressor(self.model):
            return "regression"
        raise ConfigError(f"SklearnAdapter wraps a scikit-learn regressor or classifier; got {type(self.model).__qualname__}.")

    @property
    def update_style(self) -> str | None:
        """"online_update" (partial_fit), "warm_start" (tree ensembles) or None."""
        final = self._final_of(self.model)
        if hasattr(final, "partial_fit"):
            return "online_update"
        if _family(final):
            return "warm_start"
        return None

    def update_overrides_for(self, mode: str | None) -> tuple[str, ...]:
        """rounds and replay_fraction; plus learning_rate for HistGradientBoosting (no modes)."""
        base = super().update_overrides_for(mode)
        if self.update_style == "warm_start" and (_family(self._final_of(self.model)) or "").startswith("Hist"):
            return base + ("learning_rate",)
        return base

    @property
    def n_trees(self) -> int | None:
        """Trees in a fitted tree ensemble (iterations × trees per iteration); None otherwise."""
        if not hasattr(self, "model_"):
            return None
        final = self._final_of(self.model_)
        family = _family(final) or ""
        if family.startswith("Hist"):
            return int(final.n_iter_ * final.n_trees_per_iteration_)
        if family.startswith("GradientBoosting"):
            return int(final.estimators_.size)
        if family:
            return len(final.estimators_)
        return None

    def _default_rounds(self) -> int:
        if self.update_rounds is not None:
            return self.update_rounds
        return 20 if self.update_style == "warm_start" else 1

    def _clone_model(self) -> Any:
        from sklearn.base import clone

        return clone(self.model)

    def _model_object(self) -> Any:
        return getattr(self, "model_", self.model)

    def _describe_params(self) -> dict[str, Any]:
        return fmt_json(self.model.get_params(deep=False))

    def _clear_fitted(self) -> None:
        self.__dict__.pop("model_", None)

    # ------------------------------------------------------------ hooks
    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        model = self._clone_model()
        final = self._final_of(model)
        if (_family(final) or "").startswith("Hist"):
            final.set_params(early_stopping=False)
        if _family(final):
            final.set_params(warm_start=False)
        with _missing_values_named(X, final, "fit on"):
            model.fit(X, y)
        self.model_ = model

    def _update(self, X: pd.DataFrame, y: np.ndarray, *, rounds: int, learning_rate: float | None) -> None:
        from sklearn.pipeline import Pipeline

        Xt = self.model_[:-1].transform(X) if isinstance(self.model_, Pipeline) else X
        final = self._final_of(self.model_)
        if self.update_style == "online_update":
            kwargs = {"classes": self.classes_} if self.task == "classification" else {}
            with _missing_values_named(X, final, "learn from"):
                for _ in range(rounds):
                    final.partial_fit(Xt, y, **kwargs)
            return
        if self.task == "classification":
            missing = [c for c in self.classes_.tolist() if c not in set(pd.unique(y).tolist())]
            if missing:
                raise SchemaError(
                    f"update batch lacks class(es) {missing}; {type(final).__name__} warm starts need every fitted class {self.classes_.tolist()} in each batch (use replay_fraction or fit)."
                )
        family = _family(final)
        if family.startswith("Hist"):
            old_lr = final.learning_rate
            lr = learning_rate if learning_rate is not None else self.update_learning_rate
            final.set_params(warm_start=True, early_stopping=False, max_iter=final.n_iter_ + rounds,
                             learning_rate=old_lr if lr is None else lr)
            try:
                final.fit(Xt, y)
            finally:
                final.set_params(learning_rate=old_lr)  # shrinkage is baked into each tree
        else:
            final.set_params(warm_start=True, n_estimators=self._n_stages(final) + rounds)
            final.fit(Xt, y)

    def _check_update_size(self, rounds: int, mode: str | None) -> None:
        if self.max_trees is None or self.update_style != "warm_start":
            return
        final = self._final_of(self.model_)
        stages = final.n_iter_ if _family(final).startswith("Hist") else self._n_stages(final)
        new_total = self.n_trees + rounds * (self.n_trees // max(1, stages))
        if new_total > self.max_trees:
            raise ModelSizeError(
                f"update would grow {self._label()} from {self.n_trees} to {new_total} trees, past max_trees={self.max_trees}; retrain with fit() instead."
            )

    @staticmethod
    def _n_stages(final: Any) -> int:
        est = final.estimators_
        return int(est.shape[0]) if hasattr(est, "shape") else len(est)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        with _missing_values_named(X, self._final_of(self.model_), "predict on"):
            return np.asarray(self.model_.predict(X))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self.model_, "predict_proba"):
            raise ConfigError(f"{self._label()} has no predict_proba; use a classifier with probability estimates.")
        with _missing_values_named(X, self._final_of(self.model_), "predict on"):
            proba = np.asarray(self.model_.predict_proba(X))
        order = [list(self.model_.classes_).index(c) for c in self.classes_.tolist()]
        return proba[:, order]


class _missing_values_named:
    """Turn scikit-learn's "Input X contains NaN" into a one-line error naming the columns and the
    fix (most estimators take no missing values; an imputer in a pipeline does)."""

    def __init__(self, X: pd.DataFrame, final: Any, doing: str):
        self.X, self.final, self.doing = X, final, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, ValueError) and "NaN" in str(exc):
            hint = impute_hint(self.X)
            if hint:
                raise DataQualityError(f"{type(self.final).__name__} cannot {self.doing} missing values: {hint}") from exc
        return False
