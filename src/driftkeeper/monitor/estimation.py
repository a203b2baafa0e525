"""Estimated performance: what the model's metric probably is on a batch whose labels have not
arrived yet.

Two estimators, both fitted on labelled rows **the model did not train on** (the gate's
holdout, or out-of-fold rows of a cross-fit — never in-sample: a model's errors on its own
training rows are smaller than on new rows, and an estimator fitted on them is optimistic;
:func:`check_disjoint` refuses such rows), then applied to each new batch (chunk) without labels:

* :class:`CBPE` (classifiers, confidence-based performance estimation as NannyML does it):
  the model's class scores are calibrated on the fitting rows (isotonic regression, one
  vs. rest and renormalised for more than two classes). For each
  row the calibrated probability ``c`` of each class is the chance the label is that class, so
  the expected confusion matrix of a chunk is the sum of ``c`` over its rows, and from it the
  expected accuracy / error rate, precision, recall and F1 (binary: positive class =
  ``classes[1]``); the expected log loss of the model's own scores ``q`` is the mean of
  ``-sum_k c_k log q_k``; the expected ROC AUC comes from the calibrated probabilities sorted by
  the model's score (each row counts ``c`` of a positive and ``1 - c`` of a negative: the
  expected ROC curve), one vs. rest and macro-averaged for more than two classes.
* :class:`DLE` (regressors, direct loss estimation): a small LightGBM "nanny" model predicts
  each row's loss of the metric (``|y - ŷ|`` for mae, ``(y - ŷ)²`` for rmse and mse, the
  absolute percentage error for mape; :data:`driftkeeper.metrics` per-row losses) from the
  features and the model's prediction. Its size (leaves, rounds) is chosen by 3-fold
  cross-validation on the fitting rows, against a constant (the mean loss) it must beat. The
  chunk's estimate is the mean predicted loss (rmse: its square root).

**Standard errors** are the sampling error of the realised metric around the estimate when the
estimator is right — how far a chunk of ``n`` rows' realised value falls from its expectation
by chance, which shrinks as ``1 / sqrt(n)``: for a classifier's metric each label is a draw
from the calibrated probabilities, so the variance is the exact sum over rows of the squared
gradient of the metric with respect to the label times ``c (1 - c)`` (the delta method for
precision, recall and F1; for log loss the variance of ``-log q_y``; for ROC AUC Hanley &
McNeil's formula with the expected class counts). For a regressor's loss the per-row variance
is ``k × predicted loss²``, ``k`` fitted on the nanny's out-of-fold residuals (for a normal
error ``k = π/2 - 1`` for the absolute and 2 for the squared error: a row with twice the
expected loss has twice its spread); rmse takes the delta method from mse. This is not the
estimator's own error (a finite fitting set, a shift it cannot see): :meth:`Estimate.agrees_with`
tells when realised labels contradict an estimate by more than chance. An estimate also carries
``fit_error``, a first-order account of the estimator's own uncertainty: it learned the metric's
level from ``m`` fitting rows, so its level is as uncertain as that metric measured on ``m``
rows — the sampling error above with ``m`` rows in place of the chunk's ``n``
(``std_error × sqrt(n / m)``). :attr:`Estimate.total_error` combines the two.

**Assumption: no concept shift.** Both estimators assume ``P(y | x)`` stays what it was on the
fitting rows; only the inputs may move (covariate shift), and they may move only where the
fitting rows were (a tree cannot extrapolate a loss it never saw). When the relation between
inputs and label changes (a concept shift — the same applicant now defaults more often), the
estimate stays where the old relation puts it and is wrong, silently: no estimator without
labels can see that. What it can say: :attr:`ChunkEstimate.outside_share` — the share of the
chunk's rows with a numerical feature or the prediction outside the fitting rows' range, or a
category they never had — and :attr:`ChunkEstimate.doubtful` when that share exceeds what
rows like the fitting rows show (measured on the fitting rows by halves) by
:data:`DOUBTFUL_MARGIN`; and once the labels arrive, :meth:`Estimate.agrees_with` says whether
the realised value lies within ``z`` standard errors of the estimate (the runner's records judge
agreement on the estimate's whole error band instead: ``driftkeeper.keeper.late_labels.errors``).

Everything here is pure (no files): ``fit`` on rows, ``estimate`` on a chunk. A fitted
estimator pickles into a few kilobytes (CBPE: the isotonic breakpoints; DLE: the nanny's
trees) and keeps no rows. Example::

    est = fit_estimator("classification", X_holdout, y_holdout, model.predict_proba(X_holdout),
                        classes=model.classes_)
    chunk = est.estimate(X_batch, model.predict_proba(X_batch))
    chunk["error_rate"].value, chunk["error_rate"].std_error, chunk.doubtful
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, SchemaError
from ..metrics import METRICS

__all__ = [
    "CBPE", "CLASSIFICATION_ESTIMATES", "DLE", "DOUBTFUL_MARGIN", "MIN_CALIBRATION_ROWS", "REGRESSION_ESTIMATES", "ChunkEstimate", "Estimate",
    "check_disjoint", "fit_estimator",
]

#: What CBPE estimates (the registry's classification metrics, plus precision/recall/F1 of a
#: binary target's positive class, which no policy uses yet).
CLASSIFICATION_ESTIMATES = ("accuracy", "error_rate", "log_loss", "roc_auc", "precision", "recall", "f1")
#: What DLE can estimate: the registry's regression metrics that are a mean of per-row losses
#: (r2 is not: it divides by the chunk's target variance, which is unknown without labels), and mse.
REGRESSION_ESTIMATES = ("mae", "rmse", "mse", "mape")
#: A chunk is doubtful when its share of rows outside the fitting rows' range exceeds the share
#: rows like the fitting rows show by this much.
DOUBTFUL_MARGIN = 0.1
#: Fewer fitting rows than this: CBPE takes the model's scores as they are.
MIN_CALIBRATION_ROWS = 50
_EPS = 1e-15


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Estimate:
    """One estimated metric of one chunk: ``value`` ± ``std_error`` (see the module docstring)."""

    metric: str
    value: float
    std_error: float  # the sampling error of a chunk of ``rows`` rows: shrinks as 1 / sqrt(rows)
    rows: int
    fit_error: float = 0.0  # the estimator's own uncertainty, from its fitting rows (see the module docstring)

    @property
    def higher_is_better(self) -> bool:
        return self.metric in ("accuracy", "roc_auc", "precision", "recall", "f1")

    @property
    def total_error(self) -> float:
        """Sampling and fitting error together: how far the realised value may fall from the estimate."""
        return math.sqrt(self.std_error ** 2 + self.fit_error ** 2)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        return self.value - z * self.total_error, self.value + z * self.total_error

    def agrees_with(self, realised: float, z: float = 3.0) -> bool:
        """Whether a realised value lies within ``z`` total errors of the estimate: ``False``
        means the labels contradict it by more than chance (a concept shift, or a shift the
        estimator cannot follow), and the estimate should not be trusted for this model."""
        if not (math.isfinite(realised) and math.isfinite(self.value)):
            return True
        return abs(realised - self.value) <= z * max(self.total_error, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": _f(self.value), "std_error": _f(self.std_error),
                "fit_error": _f(self.fit_error), "rows": self.rows}


@dataclass(frozen=True)
class ChunkEstimate:
    """Every estimated metric of one chunk, and how far the chunk lies from the fitting rows."""

    rows: int
    estimates: dict[str, Estimate]
    outside_share: float  # rows with a feature/prediction outside the fitting rows' range or an unseen category
    baseline_outside_share: float  # the same share among rows like the fitting rows
    doubtful: bool
    outside_columns: dict[str, float] = field(default_factory=dict)  # per column, the share outside (> 0 only)

    def __getitem__(self, metric: str) -> Estimate:
        try:
            return self.estimates[metric]
        except KeyError:
            raise ConfigError(f"no estimate of {metric!r}; estimated: {sorted(self.estimates)}") from None

    def __contains__(self, metric: str) -> bool:
        return metric in self.estimates

    def to_dict(self) -> dict[str, Any]:
        """The form a run record stores (JSON: no NaN)."""
        return {
            "rows": self.rows,
            "estimates": {k: v.to_dict() for k, v in self.estimates.items()},
            "outside_share": round(self.outside_share, 4),
            "baseline_outside_share": round(self.baseline_outside_share, 4),
            "doubtful": self.doubtful,
            "outside_columns": {k: round(v, 4) for k, v in self.outside_columns.items()},
        }


def _f(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


# --------------------------------------------------------------------------- the fitting rows' range
class _Range:
    """Where the fitting rows lie: min/max of each numerical column (and the prediction), the
    categories of each categorical one. Holds no rows."""

    def __init__(self, X: pd.DataFrame, pred: np.ndarray):
        self.numeric: dict[str, tuple[float, float]] = {}
        self.categories: dict[str, set] = {}
        for c in X.columns:
            s = X[c]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                v = s.to_numpy(dtype="float64", na_value=np.nan)
                v = v[np.isfinite(v)]
                if len(v):
                    self.numeric[str(c)] = (float(v.min()), float(v.max()))
            else:
                self.categories[str(c)] = set(map(str, s.dropna().unique()))
        p = _pred_matrix(pred)
        self.pred_range = (p.min(axis=0), p.max(axis=0)) if len(p) else None

    def outside(self, X: pd.DataFrame, pred: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Per row: outside on any column; per column: the share of rows outside (> 0 only)."""
        n = len(X)
        out = np.zeros(n, dtype=bool)
        cols: dict[str, float] = {}
        for c, (lo, hi) in self.numeric.items():
            if c not in X.columns:
                continue
            v = X[c].to_numpy(dtype="float64", na_value=np.nan)
            hit = (v < lo) | (v > hi)  # NaN compares False: a missing value is not outside
            if hit.any():
                cols[c] = float(hit.mean())
                out |= hit
        for c, known in self.categories.items():
            if c not in X.columns:
                continue
            s = X[c]
            hit = (s.notna() & ~s.astype(str).isin(known)).to_numpy()
            if hit.any():
                cols[c] = float(hit.mean())
                out |= hit
        if self.pred_range is not None and n:
            p = _pred_matrix(pred)
            hit = ((p < self.pred_range[0]) | (p > self.pred_range[1])).any(axis=1)
            if hit.any():
                cols["prediction"] = float(hit.mean())
                out |= hit
        return out, cols


def _fit_error(se: float, rows: int, fit_rows: int) -> float:
    """The sampling error of the metric on the estimator's ``fit_rows`` fitting rows, from that
    of a ``rows``-row chunk (see the module docstring)."""
    return float(se * math.sqrt(rows / fit_rows)) if rows and fit_rows and math.isfinite(se) else float("nan")


def _pred_matrix(pred: Any) -> np.ndarray:
    p = np.asarray(pred, dtype="float64")
    return p.reshape(len(p), -1)


def _baseline_outside(X: pd.DataFrame, pred: np.ndarray, seed: int = 0) -> float:
    """The share of rows outside the range of *other* rows like them: ranges from one random
    half of the fitting rows, measured on the other half, both ways. A half has fewer rows
    than the whole, so this errs high (fewer chunks flagged)."""
    n = len(X)
    if n < 4:
        return 0.0
    idx = np.random.default_rng(seed).permutation(n)
    a, b = idx[: n // 2], idx[n // 2:]
    p = _pred_matrix(pred)
    shares = []
    for fit, test in ((a, b), (b, a)):
        r = _Range(X.iloc[fit], p[fit])
        hit, _ = r.outside(X.iloc[test], p[test])
        shares.append(float(hit.mean()))
    return float(np.mean(shares))


class _Estimator:
    """What CBPE and DLE share: the fitting rows' range and the doubtful flag."""

    task: str = ""
    metrics: tuple[str, ...] = ()

    def _fit_range(self, X: pd.DataFrame, pred: np.ndarray) -> None:
        self.features_ = [str(c) for c in X.columns]
        self.range_ = _Range(X, pred)
        self.baseline_outside_ = _baseline_outside(X, pred)
        self.fit_rows_ = int(len(X))

    def _chunk(self, X: pd.DataFrame, pred: np.ndarray, estimates: dict[str, Estimate]) -> ChunkEstimate:
        n = len(X)
        hit, cols = self.range_.outside(X, pred) if n else (np.zeros(0, bool), {})
        share = float(hit.mean()) if n else 0.0
        return ChunkEstimate(rows=n, estimates=estimates, outside_share=share, baseline_outside_share=self.baseline_outside_,
                             doubtful=bool(share > self.baseline_outside_ + DOUBTFUL_MARGIN), outside_columns=cols)

    def _check_chunk(self, X: pd.DataFrame, out: Any) -> None:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise SchemaError(f"the chunk lacks the column(s) {missing} the estimator was fitted with")
        if len(X) != len(out):
            raise SchemaError(f"the chunk has {len(X)} rows but {len(out)} predictions")


# --------------------------------------------------------------------------- CBPE
def _isotonic(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints of the isotonic regression of ``y`` (0/1) on ``score`` (``np.interp`` them:
    sklearn's IsotonicRegression predicts the same, clipped at both ends)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True).fit(score, y)
    return np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)


def _interp(score: np.ndarray, knots: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    if knots is None:
        return score
    x, y = knots
    if len(x) == 1:
        return np.full(len(score), y[0])
    return np.interp(score, x, y)


class CBPE(_Estimator):
    """Confidence-based performance estimation for a classifier (see the module docstring).

    ``classes``: the model's classes, in the column order of its probabilities; binary metrics
    take ``classes[1]`` as the positive class. ``calibration``: ``"isotonic"`` (unless the
    fitting rows lack a class or number fewer than :data:`MIN_CALIBRATION_ROWS`: then the raw
    scores, ``calibrated_`` says which) or ``"none"`` (the model's scores taken as calibrated).
    Isotonic rather than a smoother map: a chunk's estimate is a mean over its rows, where a
    calibration's noise averages out but its bias does not.
    """

    task = "classification"

    def __init__(self, classes: Sequence[Any], *, calibration: str = "isotonic"):
        if calibration not in ("isotonic", "none"):
            raise ConfigError(f"calibration must be 'isotonic' or 'none', got {calibration!r}")
        self.classes = list(classes)
        if len(self.classes) < 2:
            raise ConfigError("CBPE needs at least two classes")
        self.calibration = calibration
        self.metrics = CLASSIFICATION_ESTIMATES if len(self.classes) == 2 else ("accuracy", "error_rate", "log_loss", "roc_auc")

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: Any, proba: Any) -> "CBPE":
        """Calibrate on rows the model did not train on: features ``X`` (for the range only),
        labels ``y`` and the model's class probabilities ``proba`` (one column per class)."""
        P = self._proba(proba, len(X))
        y = np.asarray(y)
        idx = {str(c): i for i, c in enumerate(self.classes)}
        unknown = sorted({str(v) for v in y} - set(idx))
        if unknown:
            raise SchemaError(f"labels {unknown} are not among the model's classes {self.classes}")
        if len(y) < 10:
            raise SchemaError(f"{len(y)} labelled rows: too few to fit a performance estimator (at least 10)")
        Y = np.zeros_like(P)
        Y[np.arange(len(y)), [idx[str(v)] for v in y]] = 1.0
        columns = [1] if len(self.classes) == 2 else list(range(len(self.classes)))
        use = (self.calibration == "isotonic" and len(y) >= MIN_CALIBRATION_ROWS
               and all(0 < Y[:, k].sum() < len(y) for k in columns))
        self.calibrated_ = bool(use)
        self.knots_ = {k: (_isotonic(P[:, k], Y[:, k]) if use else None) for k in columns}
        self._fit_range(X, P[:, 1] if len(self.classes) == 2 else P)
        return self

    def _calibrate(self, P: np.ndarray, knots: dict[int, Any] | None = None) -> np.ndarray:
        knots = self.knots_ if knots is None else knots
        if len(self.classes) == 2:
            c1 = np.clip(_interp(P[:, 1], knots[1]), 0.0, 1.0)
            return np.column_stack([1.0 - c1, c1])
        C = np.column_stack([np.clip(_interp(P[:, k], knots[k]), 0.0, 1.0) for k in range(P.shape[1])])
        s = C.sum(axis=1, keepdims=True)
        return np.where(s > 0, C / np.where(s > 0, s, 1.0), 1.0 / C.shape[1])

    def _proba(self, proba: Any, n: int) -> np.ndarray:
        P = np.asarray(proba, dtype="float64")
        if P.ndim == 1 and len(self.classes) == 2:  # the positive class's probability alone
            P = np.column_stack([1.0 - P, P])
        if P.ndim != 2 or P.shape[1] != len(self.classes) or len(P) != n:
            raise SchemaError(f"expected class probabilities of shape ({n}, {len(self.classes)}), got {P.shape}")
        return P

    # ------------------------------------------------------------------ estimate
    def estimate(self, X: pd.DataFrame, proba: Any) -> ChunkEstimate:
        """The expected metrics of a chunk from its features and the model's class probabilities."""
        self._check_chunk(X, proba)
        P = self._proba(proba, len(X))
        C = self._calibrate(P) if len(P) else P
        out: dict[str, Estimate] = {}
        n = len(P)
        for name in self.metrics:
            value, se = _cbpe_metric(name, P, C) if n else (float("nan"), float("nan"))
            out[name] = Estimate(name, float(value), float(se), n, _fit_error(se, n, self.fit_rows_))
        return self._chunk(X, P[:, 1] if len(self.classes) == 2 else P, out)


def _cbpe_metric(name: str, P: np.ndarray, C: np.ndarray) -> tuple[float, float]:
    """(expected value, standard error) of one metric: ``P`` the model's probabilities, ``C``
    the calibrated ones (each row's label is a draw from ``C``)."""
    n, k = P.shape
    pred = np.argmax(P, axis=1)
    if name in ("accuracy", "error_rate"):
        c = C[np.arange(n), pred]  # chance the predicted class is right
        acc = float(c.mean())
        se = float(np.sqrt(np.sum(c * (1 - c))) / n)
        return (acc if name == "accuracy" else 1.0 - acc), se
    if name == "log_loss":
        L = -np.log(np.clip(P, _EPS, 1.0))  # the loss of each label the row may have
        mean_row = np.sum(C * L, axis=1)
        var_row = np.sum(C * L ** 2, axis=1) - mean_row ** 2
        return float(mean_row.mean()), float(np.sqrt(np.maximum(var_row, 0).sum()) / n)
    if name == "roc_auc":
        if k == 2:
            return _expected_auc(P[:, 1], C[:, 1])
        vals = [_expected_auc(P[:, j], C[:, j]) for j in range(k)]
        ok = [v for v in vals if math.isfinite(v[0])]
        if not ok:
            return float("nan"), float("nan")
        return float(np.mean([v[0] for v in ok])), float(np.sqrt(np.sum([v[1] ** 2 for v in ok])) / len(ok))
    # binary confusion-matrix metrics of the positive class (classes[1]); y_i ~ Bernoulli(c_i)
    c = C[:, 1]
    pos = pred == 1
    var = c * (1 - c)
    tp, n_pos, n_true = float(c[pos].sum()), float(pos.sum()), float(c.sum())
    if name == "precision":
        if n_pos == 0:
            return float("nan"), float("nan")
        return tp / n_pos, float(np.sqrt(np.sum(var[pos])) / n_pos)
    if name == "recall":
        if n_true <= 0:
            return float("nan"), float("nan")
        g = (pos / n_true) - tp / n_true ** 2  # d(TP/T)/dy_i
        return tp / n_true, float(np.sqrt(np.sum(g ** 2 * var)))
    if name == "f1":
        d = n_pos + n_true
        if d <= 0:
            return float("nan"), float("nan")
        g = 2 * pos / d - 2 * tp / d ** 2  # d(2TP/(P̂ + T))/dy_i
        return 2 * tp / d, float(np.sqrt(np.sum(g ** 2 * var)))
    raise ConfigError(f"CBPE does not estimate {name!r}; it estimates {list(CLASSIFICATION_ESTIMATES)}")


def _expected_auc(score: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """The expected ROC AUC (NannyML's CBPE): rows sorted by the model's score, each counting
    ``c`` of a true positive and ``1 - c`` of a false one; the area under that curve. Standard
    error: Hanley & McNeil (1982) with the expected class counts."""
    order = np.argsort(-score, kind="mergesort")
    s, c = score[order], c[order]
    # tied scores form one step of the curve (as roc_auc_score treats ties)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tps = np.r_[0.0, np.cumsum(c)[last]]
    fps = np.r_[0.0, np.cumsum(1.0 - c)[last]]
    n1, n0 = tps[-1], fps[-1]
    if n1 <= 1e-9 or n0 <= 1e-9:
        return float("nan"), float("nan")
    x, y = fps / n0, tps / n1
    auc = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))  # the trapezoidal area
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n0 - 1) * (q2 - auc ** 2)) / (n1 * n0)
    return auc, float(np.sqrt(max(var, 0.0)))


# --------------------------------------------------------------------------- DLE
_NANNY_BASE = dict(objective="regression", metric="l2", learning_rate=0.1, bagging_fraction=0.8, bagging_freq=1,
                   feature_fraction=0.8, lambda_l2=1.0, num_threads=1, verbose=-1, seed=0, deterministic=True)
_NANNY_GRID = ({"num_leaves": 4}, {"num_leaves": 8}, {"num_leaves": 16})
_NANNY_MAX_ROUNDS = 200


class DLE(_Estimator):
    """Direct loss estimation for a regressor (see the module docstring): a LightGBM nanny
    predicts each row's loss of ``metrics`` from the features and the model's prediction."""

    task = "regression"

    def __init__(self, metrics: Sequence[str] = ("mae", "rmse")):
        bad = [m for m in metrics if m not in REGRESSION_ESTIMATES]
        if bad:
            raise ConfigError(f"DLE does not estimate {bad}; it estimates {list(REGRESSION_ESTIMATES)} "
                              "(r2 needs the chunk's target variance, which is unknown without labels)")
        self.metrics = tuple(dict.fromkeys(metrics))

    @staticmethod
    def _loss_of(metric: str) -> str:
        return "mse" if metric == "rmse" else metric

    @staticmethod
    def _row_loss(loss: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return METRICS["rmse" if loss == "mse" else loss].row_loss(y, pred)

    def _inputs(self, X: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
        Z = X[self.features_].copy() if hasattr(self, "features_") else X.copy()
        Z.columns = [f"f{i}" for i in range(Z.shape[1])]  # any column names, none clashing with the prediction's
        Z["prediction"] = np.asarray(pred, dtype="float64")
        for c in Z.columns:
            if not (pd.api.types.is_numeric_dtype(Z[c]) or isinstance(Z[c].dtype, pd.CategoricalDtype)):
                Z[c] = Z[c].astype("category")
            elif pd.api.types.is_bool_dtype(Z[c]):
                Z[c] = Z[c].astype("int8")
        return Z

    def fit(self, X: pd.DataFrame, y: Any, pred: Any) -> "DLE":
        """Fit one nanny per loss on rows the model did not train on: features ``X``, targets
        ``y``, the model's predictions ``pred``."""
        y = np.asarray(y, dtype="float64")
        pred = np.asarray(pred, dtype="float64")
        if len(y) != len(X) or len(pred) != len(X):
            raise SchemaError(f"{len(X)} rows, {len(y)} targets and {len(pred)} predictions: expected the same count")
        if len(y) < 20:
            raise SchemaError(f"{len(y)} labelled rows: too few to fit a loss estimator (at least 20)")
        if not (np.isfinite(y).all() and np.isfinite(pred).all()):
            raise SchemaError("targets and predictions must be finite to fit a loss estimator")
        self._fit_range(X, pred)
        Z = self._inputs(X, pred)
        self.nannies_: dict[str, dict[str, Any]] = {}
        for loss in dict.fromkeys(self._loss_of(m) for m in self.metrics):
            self.nannies_[loss] = _fit_nanny(Z, self._row_loss(loss, y, pred))
        return self

    def estimate(self, X: pd.DataFrame, pred: Any) -> ChunkEstimate:
        """The estimated metrics of a chunk from its features and the model's predictions."""
        self._check_chunk(X, pred)
        pred = np.asarray(pred, dtype="float64")
        n = len(pred)
        Z = self._inputs(X, pred) if n else None
        per_loss: dict[str, tuple[float, float]] = {}
        for loss, nanny in self.nannies_.items():
            if not n:
                per_loss[loss] = (float("nan"), float("nan"))
                continue
            rows = np.maximum(_nanny_predict(nanny, Z), 0.0)
            per_loss[loss] = (float(rows.mean()), float(np.sqrt(nanny["k"] * np.sum(rows ** 2)) / n))
        out: dict[str, Estimate] = {}
        for m in self.metrics:
            value, se = per_loss[self._loss_of(m)]
            if m == "rmse":  # delta method: d sqrt(v) = dv / (2 sqrt(v))
                value, se = math.sqrt(value), (se / (2 * math.sqrt(value)) if value > 0 else float("nan"))
            out[m] = Estimate(m, value, se, n, _fit_error(se, n, self.fit_rows_))
        return self._chunk(X, pred, out)


def _fit_nanny(Z: pd.DataFrame, loss: np.ndarray, folds: int = 3) -> dict[str, Any]:
    """The nanny for one per-row loss: the configuration (leaves) and round count with the best
    out-of-fold squared error (early stopping), or a constant — the mean loss — when no tree
    model beats it; refitted on every row. ``k`` relates the per-row variance of the loss to its
    prediction squared (out-of-fold)."""
    import lightgbm as lgb

    n = len(Z)
    order = np.random.default_rng(0).permutation(n)
    tests = [np.sort(order[f::folds]) for f in range(folds)]
    splits = [(np.setdiff1d(order, t), t) for t in tests]
    oof = np.empty(n)
    for train, test in splits:
        oof[test] = loss[train].mean()
    best: dict[str, Any] = {"params": None, "rounds": 0, "mse": float(np.mean((loss - oof) ** 2)), "oof": oof}
    for grid in _NANNY_GRID:
        params = {**_NANNY_BASE, **grid, "min_data_in_leaf": max(20, n // 100)}
        res = lgb.cv(params, lgb.Dataset(Z, label=loss, params={"verbose": -1}), num_boost_round=_NANNY_MAX_ROUNDS,
                     folds=splits, stratified=False, return_cvbooster=True,
                     callbacks=[lgb.early_stopping(20, verbose=False)])
        curve = res["valid l2-mean"]
        rounds = int(np.argmin(curve)) + 1
        if curve[rounds - 1] < best["mse"]:
            oof = np.empty(n)
            for booster, (_, test) in zip(res["cvbooster"].boosters, splits):
                oof[test] = booster.predict(Z.iloc[test], num_iteration=rounds)
            best = {"params": params, "rounds": rounds, "mse": float(curve[rounds - 1]), "oof": oof}
    oof = np.maximum(best["oof"], 0.0)
    # per-row variance of the loss = k × predicted loss²: k from the out-of-fold residuals
    k = float(np.sum((loss - oof) ** 2) / max(float(np.sum(oof ** 2)), 1e-300))
    out = {"model": None, "constant": float(loss.mean()), "k": k, "cv_mse": best["mse"], "rows": n}
    if best["params"] is not None:
        out["model"] = lgb.train(best["params"], lgb.Dataset(Z, label=loss, params={"verbose": -1}),
                                 num_boost_round=best["rounds"])
        out.update(num_leaves=best["params"]["num_leaves"], rounds=best["rounds"])
    return out


def _nanny_predict(nanny: dict[str, Any], Z: pd.DataFrame) -> np.ndarray:
    if nanny["model"] is None:
        return np.full(len(Z), nanny["constant"])
    return np.asarray(nanny["model"].predict(Z), dtype="float64")


# --------------------------------------------------------------------------- entry points
def fit_estimator(task: str, X: pd.DataFrame, y: Any, out: Any, *, classes: Sequence[Any] | None = None,
                  metrics: Sequence[str] | None = None, calibration: str = "isotonic") -> CBPE | DLE:
    """A fitted :class:`CBPE` (``task="classification"``; ``out``: class probabilities in the
    order of ``classes``) or :class:`DLE` (``"regression"``; ``out``: predictions, ``metrics``:
    which losses, default mae and rmse), on rows the model did not train on."""
    if task == "classification":
        if classes is None:
            raise ConfigError("a classifier's performance estimator needs its classes (in the order of its probabilities)")
        return CBPE(classes, calibration=calibration).fit(X, y, out)
    if task == "regression":
        return DLE(metrics or ("mae", "rmse")).fit(X, y, out)
    raise ConfigError(f"task must be 'regression' or 'classification', got {task!r}")


def check_disjoint(training: pd.DataFrame, fitting: pd.DataFrame) -> None:
    """Refuse fitting rows that are also training rows (by content of the shared columns): an
    estimator fitted on rows the model learned is optimistic. Raises ConfigError naming how many."""
    cols = [c for c in fitting.columns if c in training.columns]
    if not cols or not len(training) or not len(fitting):
        return
    a = pd.util.hash_pandas_object(training[cols], index=False)
    b = pd.util.hash_pandas_object(fitting[cols], index=False)
    shared = int(b.isin(set(a.to_numpy().tolist())).sum())
    if shared:
        raise ConfigError(f"{shared} of the {len(fitting)} rows a performance estimator would be fitted on are training "
                          "rows of the model; fit it on rows the model did not train on (the gate's holdout)")
