"""River preprocessing for real tables, and the model ``--model river`` builds with it: missing
numbers imputed with their running mean and standardised, categories one-hot encoded (a missing
category encodes as all zeros, a category never seen before starts with weight zero), then a
linear model (a regression learns the standardised target: :class:`ScaledTarget`). Imports River.

Put :class:`TabularPrep` first in your own River pipeline to take missing values::

    from driftkeeper.adapters.river_prep import TabularPrep
    model = TabularPrep() | river.linear_model.PARegressor()

River's own :class:`~river.preprocessing.StatImputer` fills ``None`` only and needs every
feature named, and a River pipeline receives a missing number as ``NaN``: :class:`TabularPrep`
fills both, on whatever features hold numbers.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from river import base, linear_model, multiclass, optim

__all__ = ["ScaledTarget", "TabularPrep", "default_river_model"]


def _number(v: Any) -> bool:
    """A value the linear model can take as a number (not a missing one, not a category)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


class TabularPrep(base.MiniBatchTransformer):
    """Numbers standardised with their running mean and standard deviation, a missing one
    (``None``, ``NaN``, ``pd.NA``) imputed with the mean (0.0 once standardised); text values
    one-hot encoded as ``<feature>_<value>`` (a missing category encodes as all zeros, a new one
    starts with weight zero). A feature never seen with a number nor text is left out.

    One step rather than River's ``StandardScaler`` + ``OneHotEncoder`` under a union: it needs no
    column names (the same model fits any table), and a table without numbers or without
    categories has nothing to concatenate."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.means: dict[str, float] = {}
        self.m2: dict[str, float] = {}

    def _merge(self, k: str, n: int, mean: float, m2: float) -> None:
        """Chan's parallel update of the running count, mean and sum of squared deviations."""
        n0, mean0, m20 = self.counts.get(k, 0), self.means.get(k, 0.0), self.m2.get(k, 0.0)
        total = n0 + n
        delta = mean - mean0
        self.counts[k] = total
        self.means[k] = mean0 + delta * n / total
        self.m2[k] = m20 + m2 + delta * delta * n0 * n / total

    def _std(self, k: str) -> float:
        return math.sqrt(self.m2[k] / self.counts[k]) if self.counts.get(k) else 0.0

    def learn_one(self, x: dict) -> None:
        for k, v in x.items():
            if _number(v):
                self._merge(k, 1, float(v), 0.0)

    def transform_one(self, x: dict) -> dict:
        out: dict[str, float] = {}
        for k, v in x.items():
            if isinstance(v, str):
                out[f"{k}_{v}"] = 1.0
            elif k in self.means:
                std = self._std(k)
                out[k] = (float(v) - self.means[k]) / std if _number(v) and std > 0 else 0.0
        return out

    @staticmethod
    def _numeric(s: pd.Series) -> bool:
        return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)

    def learn_many(self, X: pd.DataFrame) -> None:
        for k in X.columns:
            if self._numeric(X[k]):
                v = X[k].dropna().to_numpy(dtype=float)
                if v.size:
                    self._merge(k, int(v.size), float(v.mean()), float(((v - v.mean()) ** 2).sum()))

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for k in X.columns:
            if self._numeric(X[k]):
                if k in self.means:
                    std = self._std(k)
                    v = X[k].astype(float)
                    parts.append(((v - self.means[k]) / std if std > 0 else v * 0.0).fillna(0.0).rename(k))
            else:
                text = X[k].where(X[k].map(lambda v: isinstance(v, str)))
                parts.append(pd.get_dummies(text, prefix=k, prefix_sep="_", dtype=float))
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)


class ScaledTarget(base.Wrapper, base.MiniBatchRegressor):
    """A regressor that learns the target standardised with its running mean and standard
    deviation, and scales its predictions back.

    River's linear models take plain gradient steps on the raw target: on house prices in the
    hundreds of thousands the first steps overshoot and the weights diverge (predictions of 1e10
    whatever the policy). Standardised, the target is on the scale the step size is made for.
    River's own ``TargetStandardScaler`` learns row by row only; this one also takes mini-batches."""

    def __init__(self, regressor: base.Regressor) -> None:
        self.regressor = regressor
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    @property
    def _wrapped_model(self) -> base.Regressor:
        return self.regressor

    def _merge(self, n: int, mean: float, m2: float) -> None:
        """Chan's parallel update, as :meth:`TabularPrep._merge`."""
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    def _std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else 0.0

    def _scale(self, y: Any) -> Any:
        std = self._std()
        return (y - self.mean) / std if std > 0 else y * 0.0

    def _unscale(self, y: Any) -> Any:
        return y * self._std() + self.mean

    def learn_one(self, x: dict, y: float) -> None:
        self._merge(1, float(y), 0.0)
        self.regressor.learn_one(x, self._scale(float(y)))

    def predict_one(self, x: dict) -> float:
        return self._unscale(self.regressor.predict_one(x))

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        v = y.to_numpy(dtype=float)
        if v.size:
            self._merge(int(v.size), float(v.mean()), float(((v - v.mean()) ** 2).sum()))
        self.regressor.learn_many(X, self._scale(y.astype(float)))

    def predict_many(self, X: pd.DataFrame) -> pd.Series:
        return self._unscale(self.regressor.predict_many(X))


def default_river_model(task: str, n_classes: int | None = 2) -> Any:
    """``TabularPrep`` feeding a ``LinearRegression`` (AdaGrad steps) on the standardised
    target (:class:`ScaledTarget`; regression), a ``LogisticRegression`` (two classes) or one logistic
    regression per class (more, or ``None``: not known)."""
    if task == "regression":
        # AdaGrad: per-feature steps that shrink where gradients were large, so a feature with
        # far outliers (a lot size 40 standard deviations out) does not throw the weights off
        final: Any = ScaledTarget(linear_model.LinearRegression(optimizer=optim.AdaGrad(0.1)))
    elif n_classes == 2:
        final = linear_model.LogisticRegression()
    else:
        final = multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
    return TabularPrep() | final
