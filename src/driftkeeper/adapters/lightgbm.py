"""LightGBM adapter: trains ``lightgbm.Booster`` objects directly for full control of updates.

Accepts an ``LGBMRegressor``/``LGBMClassifier`` (its parameters are used, the estimator itself is
never fitted) or a params dict with an ``objective``. Training is deterministic: ``seed`` defaults
to ``random_state`` (0) unless given, ``deterministic=True`` and ``force_col_wise=True`` unless set.

Categorical features: pandas categorical columns (and object/string columns, which are turned into
categoricals with sorted categories at fit) are passed to LightGBM as their *fitted* category codes.
Every later batch is aligned to the fitted categories by value, so a batch whose categories come in
another order gets the same codes; values unseen at fit become missing (NaN), which LightGBM sends
down the "not in any learned category" branch of each categorical split.

How ``update`` learns is its mode: ``update(X, y, mode=...)`` for one update, else the
constructor's ``update_mode`` (which a per-update mode leaves as it is). ``"continue"`` boosts
``rounds`` new trees from the current booster (``init_model``) on the batch (plus replayed rows),
optionally with its own learning rate; ``n_trees`` grows by exactly ``rounds`` (× n_classes for
multiclass; fewer only when LightGBM finds no split and stops). ``"refit"`` keeps the tree
structure and refits leaf values (``Booster.refit``, ``decay_rate=refit_decay_rate``); ``n_trees``
is unchanged.

``"correct"`` leaves the fitted booster alone and trains a fresh *correction* booster of
``rounds`` trees on the batch, starting from the fitted booster's raw scores (LightGBM
``init_score``): the model predicts ``link(base raw score + correction raw score)``. Each correct
update *replaces* the previous correction, so the model never grows past ``base + rounds`` trees
and an old adaptation cannot pile up: pass the newest rows that matter (the runner's
``relearn_batches``), not only the newest batch. It is the cheap update of the default policy
(``benchmarks/RESULTS.md``). ``continue`` on a corrected model adds one more correction booster
(started from the whole model's raw scores); ``refit`` refits the base booster and drops the
corrections (the refit re-estimates every leaf on the new rows); ``fit`` starts over without any.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from driftkeeper.adapters._validation import check_float, check_int, check_options
from driftkeeper.adapters.base import ModelAdapter, fmt_json
from driftkeeper.exceptions import ConfigError, ModelSizeError

from driftkeeper.adapters._lightgbm_crossfit import Eval, FoldCurves, fold_stopper

__all__ = ["LightGBMAdapter"]

_ROUND_ALIASES = ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds",
                  "nrounds", "num_boost_round", "n_estimators", "max_iter")
_CLASSIFICATION = {"binary", "multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"}
_RANKING = {"lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart"}
_SEED_KEYS = ("seed", "random_seed", "random_state")
_THREAD_KEYS = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")
_MODES = ("continue", "refit", "correct")
_BASE_CACHE_ROWS = 65_536  # rows whose base raw scores a saved model keeps (see _cached_base_raw)
_BASE_CACHE_LIVE_ROWS = 1 << 20  # ... and a model in memory during a night: its batch, its update and its gate
_SERVING_CACHE_ROWS = 20_000  # outside a night: a corrected model caches predictions of at most this many rows
#: Set by the nightly runner (:func:`night_cache`): every prediction of the night keeps its base scores.
_NIGHT = ContextVar("driftkeeper_lightgbm_night_cache", default=False)


@contextlib.contextmanager
def night_cache() -> Iterator[None]:
    """Within this block every LightGBM model keeps the base scores of what it predicts, whatever
    the size: the runner predicts a batch, scores its labels, and a correction update and the gate
    use the same rows' base scores without the base model predicting them again. Outside it (a
    user's ``predict``), only a corrected model caches, and only requests of at most
    ``_SERVING_CACHE_ROWS`` rows: a cache lookup costs a pass over the cache's keys."""
    token = _NIGHT.set(True)
    try:
        yield
    finally:
        _NIGHT.reset(token)
# How each objective turns a raw score into a prediction, for models with a correction booster
# (whose prediction is link(sum of raw scores)); objectives missing here cannot be corrected.
_IDENTITY = {"regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error",
             "rmse", "regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape",
             "mean_absolute_percentage_error"}
_EXP = {"poisson", "gamma", "tweedie"}
_SIGMOID = {"binary", "cross_entropy", "xentropy", "multiclassova", "multiclass_ova", "ova", "ovr"}
_SOFTMAX = {"multiclass", "softmax"}


class LightGBMAdapter(ModelAdapter):
    """Adapter for LightGBM models; ``update_style == "warm_start"``.

    Parameters (keyword-only after ``model``): ``update_rounds`` (trees per update, default 50),
    ``update_learning_rate`` (None: the model's learning rate), ``replay_fraction`` (default 0.0),
    ``replay_size`` (reservoir capacity, default 10_000 rows; 0 disables), ``update_mode``
    ("continue" | "refit" | "correct": the default of ``update``'s ``mode``), ``refit_decay_rate`` (weight of the old leaf values in a refit),
    ``max_trees`` (cap; an update past it raises ModelSizeError), ``num_threads`` (None: LightGBM's
    default or the model's own setting), ``random_state`` (seed when the model sets none),
    ``correction_max_bin`` (histogram bins of a correction booster's features, default 63, at
    most the model's own ``max_bin``; None: the model's).
    """

    kind = "lightgbm"
    fits_in_chunks = True

    def __init__(self, model: Any, *, update_rounds: int = 50, update_learning_rate: float | None = None,
                 replay_fraction: float = 0.0, replay_size: int = 10_000, update_mode: str = "continue",
                 refit_decay_rate: float = 0.9, max_trees: int | None = None, num_threads: int | None = None,
                 random_state: int = 0, correction_max_bin: int | None = 63) -> None:
        self.model = model
        self.update_rounds = update_rounds
        self.update_learning_rate = update_learning_rate
        self.replay_fraction = replay_fraction
        self.replay_size = replay_size
        self.update_mode = update_mode
        self.refit_decay_rate = refit_decay_rate
        self.max_trees = max_trees
        self.num_threads = num_threads
        self.random_state = random_state
        self.correction_max_bin = correction_max_bin

    def __deepcopy__(self, memo: dict[int, Any]) -> "LightGBMAdapter":
        # LightGBM copies a Booster through its text format (model_to_string, then a parse):
        # longer than a small update's training. Nothing here changes a booster in place (fit,
        # update and refit put new ones in its place), so a copy shares the boosters and the
        # cached base scores (replaced, never written into) and copies everything else.
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key in ("booster_", "base_cache_"):
                new.__dict__[key] = value
            elif key == "corrections_":
                new.__dict__[key] = list(value)
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        cache = state.get("base_cache_")
        if cache is not None and len(cache[0]) > _BASE_CACHE_ROWS:  # saved: the newest rows only
            state["base_cache_"] = (cache[0][-_BASE_CACHE_ROWS:], cache[1][-_BASE_CACHE_ROWS:])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a model saved before correction_max_bin existed keeps correcting with its own bins
        state.setdefault("correction_max_bin", None)
        self.__dict__.update(state)

    # ------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        self._validate_update_params()
        self._base_params()  # raises ConfigError for an unusable model

    def _validate_update_params(self) -> None:
        """What an update checks: the adapter's own parameters, not the wrapped model's (an update
        trains on the ``params_`` of the fit, and LGBMModel.get_params — inspect.signature — cost
        ~4 ms of a ~50 ms correction). A fit checks both, before it drops the fitted model."""
        super()._validate_params()
        owner = type(self).__name__
        check_int(owner, "update_rounds", self.update_rounds, low=1)
        check_float(owner, "update_learning_rate", self.update_learning_rate, low=0.0, closed="neither", allow_none=True)
        check_options(owner, "update_mode", self.update_mode, _MODES)
        check_float(owner, "refit_decay_rate", self.refit_decay_rate, low=0.0, high=1.0)
        check_int(owner, "max_trees", self.max_trees, low=1, allow_none=True)
        check_int(owner, "num_threads", self.num_threads, low=1, allow_none=True)
        check_int(owner, "correction_max_bin", self.correction_max_bin, low=2, allow_none=True)

    def _base_params(self) -> tuple[dict[str, Any], int]:
        """LightGBM training params from the wrapped model, and the number of boosting rounds."""
        model = self.model
        if isinstance(model, dict):
            params = copy.deepcopy(model)
            if "objective" not in params and "application" not in params and "app" not in params:
                raise ConfigError("The LightGBM params dict needs an 'objective' key (e.g. 'regression' or 'binary').")
        else:
            from lightgbm import LGBMClassifier, LGBMRegressor

            if not isinstance(model, (LGBMRegressor, LGBMClassifier)):
                raise ConfigError(
                    f"LightGBMAdapter wraps an LGBMRegressor, LGBMClassifier or a params dict; got {type(model).__qualname__}."
                )
            params = dict(model.get_params())
            if params.pop("class_weight", None) is not None:
                raise ConfigError("LightGBMAdapter does not support class_weight; expected class_weight=None.")
            params.pop("importance_type", None)
            params["boosting"] = params.pop("boosting_type", "gbdt")
            params["bin_construct_sample_cnt"] = params.pop("subsample_for_bin", 200000)
            if params.get("objective") is None:
                params.pop("objective", None)
            for key in ("n_jobs", "random_state"):
                if params.get(key) is None:
                    params.pop(key, None)
        n_rounds = 100
        for key in _ROUND_ALIASES:
            if key in params:
                n_rounds = int(params.pop(key))
        for key in ("objective", "application", "app"):
            if key in params:
                params["objective"] = params.pop(key)
        if "objective" in params and not isinstance(params["objective"], str):
            raise ConfigError("LightGBMAdapter needs a built-in objective given by name; got a callable objective.")
        if params.get("objective") in _RANKING:
            raise ConfigError(f"LightGBMAdapter supports regression and classification objectives; got {params['objective']!r}.")
        if not any(k in params for k in _SEED_KEYS):
            params["seed"] = self.random_state
        params.setdefault("deterministic", True)
        if not params.get("force_row_wise"):
            params.setdefault("force_col_wise", True)
        params.setdefault("verbose", -1)
        if self.num_threads is not None:
            for key in _THREAD_KEYS:
                params.pop(key, None)
            params["num_threads"] = self.num_threads
        return params, n_rounds

    @property
    def task(self) -> str:
        """"classification" for LGBMClassifier or a classification objective, else "regression"."""
        if isinstance(self.model, dict):
            objective = self.model.get("objective", self.model.get("application", self.model.get("app")))
            return "classification" if objective in _CLASSIFICATION else "regression"
        return "classification" if type(self.model).__name__ == "LGBMClassifier" else "regression"

    @property
    def update_style(self) -> str:
        """Always "warm_start" (boosting continues from the current booster)."""
        return "warm_start"

    def update_overrides_for(self, mode: str | None) -> tuple[str, ...]:
        """rounds, learning_rate, replay_fraction and mode can be overridden per update, and (except
        in mode ``"refit"``, which adds no trees) early_stopping_rounds, crossfit and l2_regularization.
        ``mode`` None: the constructor's ``update_mode``."""
        if mode is not None:
            check_options(f"{type(self).__name__}.update", "mode", mode, _MODES)
        base = ("rounds", "learning_rate", "replay_fraction", "mode")
        return base if (mode or self.update_mode) == "refit" else (*base, "early_stopping_rounds", "crossfit", "l2_regularization")

    @property
    def update_relearns_window(self) -> bool:
        """True when the newest update was a ``"correct"`` one (it replaced the previous
        correction); before any update since fit, when ``update_mode`` is ``"correct"``."""
        return getattr(self, "last_update_mode_", self.update_mode) == "correct"

    @property
    def n_trees(self) -> int | None:
        """``Booster.num_trees()`` (rounds × n_classes for multiclass) plus the correction boosters'; None before fit."""
        booster = getattr(self, "booster_", None)
        if booster is None:
            return None
        return int(booster.num_trees()) + sum(int(c.num_trees()) for c in getattr(self, "corrections_", ()))

    @property
    def estimator(self) -> str:
        """Class path of the wrapped estimator, or ``"lightgbm.Booster"`` for a params dict."""
        return "lightgbm.Booster" if isinstance(self.model, dict) else super().estimator

    def _clone_model(self) -> Any:
        if isinstance(self.model, dict):
            return copy.deepcopy(self.model)
        from sklearn.base import clone

        return clone(self.model)

    def _model_object(self) -> Any:
        booster = getattr(self, "booster_", None)
        if booster is None:
            return self.model
        corrections = getattr(self, "corrections_", None)
        return (booster, *corrections) if corrections else booster

    def _describe_params(self) -> dict[str, Any]:
        params = dict(getattr(self, "params_", None) or self._base_params()[0])
        params["num_boost_round"] = self._base_params()[1]
        return fmt_json(params)

    def _clear_fitted(self) -> None:
        for name in ("booster_", "corrections_", "base_cache_", "params_", "categorical_indices_", "lgb_feature_names_"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------ data
    def _coerce_fit_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Object/string/bool-free: object and string columns become categoricals (sorted categories)."""
        for name in frame.columns:
            dtype = frame[name].dtype
            if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
                if not isinstance(dtype, pd.CategoricalDtype):
                    frame[name] = frame[name].astype("category")
        return frame

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Float matrix: numeric columns as floats, categoricals as fitted codes (unseen/missing → NaN)."""
        dtypes = list(X.dtypes)
        if all(pd.api.types.is_numeric_dtype(d) and not isinstance(d, pd.CategoricalDtype) for d in dtypes):
            return X.to_numpy(dtype=np.float64, na_value=np.nan)  # one block copy instead of a loop over columns
        out = np.empty(X.shape, dtype=np.float64)
        for j, name in enumerate(X.columns):
            col = X[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.cat.codes.to_numpy().astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                out[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _labels(self, y: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return np.searchsorted(self.classes_, y).astype(np.float64)
        return y.astype(np.float64)

    def _dataset(self, X: pd.DataFrame | np.ndarray, y: np.ndarray, params: dict[str, Any], init_score: np.ndarray | None = None,
                 reference: Any = None):
        """A LightGBM Dataset of ``X`` (a frame, or a matrix already made by :meth:`_matrix`);
        ``reference``: the training Dataset of a validation one (same bins)."""
        import lightgbm as lgb

        matrix = X if isinstance(X, np.ndarray) else self._matrix(X)
        return lgb.Dataset(matrix, label=self._labels(y), init_score=init_score, feature_name=self.lgb_feature_names_,
                           categorical_feature=self.categorical_indices_ or "auto", params=params, free_raw_data=True,
                           reference=reference)

    # ------------------------------------------------------------ hooks
    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        import lightgbm as lgb

        params, n_rounds = self._fit_params(list(X.columns), [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)])
        self.booster_ = lgb.train(params, self._dataset(X, y, params), num_boost_round=n_rounds)
        self.corrections_ = []

    def _fit_chunks(self, chunks: Callable[[], Iterable[pd.DataFrame]], y: np.ndarray, lengths: list[int],
                    schema: Any) -> None:
        """:meth:`_fit` on pieces: LightGBM bins rows straight from them (``lightgbm.Sequence``,
        one per piece), each piece made into a matrix by :meth:`_matrix` as ``_fit`` makes the
        whole frame, one piece at a time. The Dataset is the one ``_fit`` builds — the same
        sampled rows set the bins, the same rows in the same order fill them — so the model is
        identical. LightGBM reads the rows twice (a sample for the bins, then every row), so the
        pieces are read twice; the matrices are dropped as soon as the Dataset holds the bins."""
        import lightgbm as lgb

        from driftkeeper.adapters._lightgbm_chunks import chunked_dataset

        names = list(schema.names)
        params, n_rounds = self._fit_params(names, [c for c in names if c in schema.categories])
        train_set = chunked_dataset(self._matrix, chunks, lengths, label=self._labels(y), feature_name=self.lgb_feature_names_,
                                    categorical_feature=self.categorical_indices_ or "auto", params=params)
        # the booster lgb.train returns is rebuilt from the model's text: it holds no reference to
        # the Dataset, whose binned rows go with the last reference here
        self.booster_ = lgb.train(params, train_set, num_boost_round=n_rounds)
        del train_set
        self.corrections_ = []

    def _fit_params(self, columns: list[str], categorical: list[str]) -> tuple[dict[str, Any], int]:
        """The training params and round count of a fit on ``columns`` (``categorical`` among them);
        records ``params_``, ``categorical_indices_`` and ``lgb_feature_names_``."""
        params, n_rounds = self._base_params()
        if self.task == "classification":
            k = len(self.classes_)
            objective = params.get("objective")
            if objective is None:
                params["objective"] = "binary" if k == 2 else "multiclass"
            elif objective == "binary" and k != 2:
                raise ConfigError(f"Objective 'binary' needs 2 classes; y has {k}: {self.classes_.tolist()}.")
            if params["objective"] != "binary":
                params["num_class"] = k
        else:
            params.setdefault("objective", "regression")
        if self.max_trees is not None:
            planned = n_rounds * (params.get("num_class", 1))
            if planned > self.max_trees:
                raise ModelSizeError(f"fit would build {planned} trees, past max_trees={self.max_trees}; lower n_estimators or raise max_trees.")
        wanted = set(categorical)
        self.categorical_indices_ = [j for j, c in enumerate(columns) if c in wanted]
        self.lgb_feature_names_ = _safe_names(list(columns))
        self.params_ = params
        return params, n_rounds

    def _check_update_size(self, rounds: int, mode: str | None) -> None:
        mode = mode or self.update_mode
        if mode == "correct":
            self._link()  # ConfigError for an objective a correction cannot be added to
        if mode == "refit" or self.max_trees is None:
            return
        base = int(self.booster_.num_trees()) if mode == "correct" else self.n_trees
        new_total = base + rounds * self.params_.get("num_class", 1)
        if new_total > self.max_trees:
            raise ModelSizeError(
                f"update would grow {self._label()} from {self.n_trees} to {new_total} trees, past max_trees={self.max_trees}; retrain with fit() instead."
            )

    def _update(self, X: pd.DataFrame, y: np.ndarray, *, rounds: int, learning_rate: float | None,
                eval_set: tuple[pd.DataFrame, np.ndarray] | None = None, early_stopping_rounds: int | None = None,
                l2_regularization: float | None = None, mode: str | None = None, crossfit: bool = False) -> None:
        mode = mode or self.update_mode
        self.last_update_mode_ = mode
        if mode == "refit":
            self.booster_ = self.booster_.refit(
                self._matrix(X), self._labels(y), decay_rate=self.refit_decay_rate,
                feature_name=self.lgb_feature_names_, categorical_feature=self.categorical_indices_ or "auto",
            )
            self.corrections_ = []  # the refit re-estimated every leaf on these rows
            self.__dict__.pop("base_cache_", None)
            return
        params = dict(self.params_)
        lr = learning_rate if learning_rate is not None else self.update_learning_rate
        if lr is not None:
            for key in ("eta", "shrinkage_rate"):
                params.pop(key, None)
            params["learning_rate"] = lr
        if l2_regularization is not None:
            # A leaf's value is -G / (H + lambda_l2). For a classifier, rows the model is already
            # sure about have hessians p(1 - p) near 0, so without a penalty a leaf of a few such
            # rows takes a step of many logits: an update that is confidently wrong next week.
            for key in ("reg_lambda", "lambda", "l2_regularization"):
                params.pop(key, None)
            params["lambda_l2"] = l2_regularization
        corrections = list(getattr(self, "corrections_", ()))
        if mode == "correct" or corrections:
            # a fresh booster on top of the current raw scores: replaces the corrections
            # (correct) or adds one more (continue on an already corrected model)
            matrix = self._matrix(X)
            if self.correction_max_bin is not None:
                # a correction learns a few batches: coarser bins cost less per tree and lose
                # nothing measurable there (benchmarks/RESULTS.md); the base keeps its own bins
                params["max_bin"] = min(int(params.get("max_bin", 255)), self.correction_max_bin)
            if mode == "correct":
                corrections = []
            init = self._raw(matrix, corrections, base=self._cached_base_raw(matrix))
            train_set = self._dataset(matrix, y, params, init_score=init)
            valid = None
            if early_stopping_rounds is not None:
                vmatrix = self._matrix(eval_set[0])  # its base scores are cached: the next update relearns these rows
                vinit = self._raw(vmatrix, corrections, base=self._cached_base_raw(vmatrix))
                valid = Eval(self, params, train_set, vmatrix, eval_set[1], vinit, crossfit)
            booster = self._boost(params, train_set, rounds, valid, early_stopping_rounds)
            self.corrections_ = corrections + [booster]
            return
        self.__dict__.pop("base_cache_", None)  # the base booster changes
        train_set = self._dataset(X, y, params)
        valid = None
        if early_stopping_rounds is not None:  # init scores from init_model, as for the training rows
            valid = Eval(self, params, train_set, self._matrix(eval_set[0]), eval_set[1], None, crossfit)
        self.booster_ = self._boost(params, train_set, rounds, valid, early_stopping_rounds, init_model=self.booster_)

    def _boost(self, params: dict[str, Any], train_set: Any, rounds: int, valid: "Eval | None", stop: int | None,
               init_model: Any = None):
        """``lgb.train`` for ``rounds`` rounds; with ``valid`` rows and ``stop``, until their loss
        (the objective's default metric, or the model's first ``metric``) has not improved for
        ``stop`` rounds, then the rounds after the best one are dropped. Cross-fitted ``valid``
        rows (two folds) train until neither fold has improved for ``stop`` rounds and keep the
        round count best on both folds together; ``last_eval_output_`` then holds each row's
        prediction at the round count the other fold picked. Records the rounds kept in
        ``last_update_rounds_``."""
        import lightgbm as lgb

        # keep_training_booster=True: the returned booster is usable as is. With False LightGBM
        # round-trips the whole model through its text format (model_to_string + parse) after
        # every call, which costs more than boosting a few rounds on a small batch.
        kwargs: dict[str, Any] = {}
        folds = FoldCurves()
        if valid is not None and stop is not None:
            callback = (fold_stopper(stop, valid.names, folds) if valid.crossfit
                        else lgb.early_stopping(stop, first_metric_only=True, verbose=False))
            kwargs = {"valid_sets": valid.sets, "valid_names": valid.names, "callbacks": [callback]}
            for key in ("metric", "metrics", "metric_types"):
                if str(params.get(key, "")).lower() in ("none", "null", "na", "custom"):
                    params = {k: v for k, v in params.items() if k != key}  # stop on the objective's own loss
        booster = lgb.train(params, train_set, num_boost_round=rounds, init_model=init_model, keep_training_booster=True, **kwargs)
        booster.free_dataset()  # drop the Python references to the batch's Datasets
        if kwargs:
            start = init_model.current_iteration() if init_model is not None else 0
            if valid.crossfit:
                best = valid.crossfit_output(self, booster, folds, start)
            else:
                best = booster.best_iteration or booster.current_iteration()
            for _ in range(booster.current_iteration() - best):
                booster.rollback_one_iter()  # cheap: no round trip through the model text
            booster.best_iteration = 0  # predict with every tree kept (LightGBM's own mark may lie past them)
            self.last_update_rounds_ = booster.current_iteration() - start
        return booster

    def _cached_base_raw(self, matrix: np.ndarray) -> np.ndarray:
        """The base booster's raw scores on ``matrix``, from a cache of rows it already scored.

        Correction updates get the newest rows *again* (the runner's ``relearn_batches``) while the
        base booster does not change, so most of their base scores were computed by an earlier
        update: rows are keyed by a 64-bit hash of their feature values and the newest
        ``_BASE_CACHE_ROWS`` keys are saved with the model (1 MB; in memory up to ``_BASE_CACHE_LIVE_ROWS``). Anything that changes
        the base booster (fit, refit, a continue update without corrections) empties it.
        """
        if len(matrix) == 0:
            return self.booster_.predict(matrix, raw_score=True, **self._predict_params())
        keys = _row_keys(matrix)
        cached_keys, cached_raw = getattr(self, "base_cache_", (None, None))
        if cached_keys is not None and len(cached_keys):
            where = pd.Index(cached_keys).get_indexer(keys)
        else:
            where = np.full(len(keys), -1)
        miss = where < 0
        if not miss.any():
            return cached_raw[where]
        fresh = self.booster_.predict(matrix[miss], raw_score=True, **self._predict_params())
        raw = np.empty((len(keys),) + fresh.shape[1:], dtype=np.float64)
        raw[miss] = fresh
        if (~miss).any():
            raw[~miss] = cached_raw[where[~miss]]
        new_keys, first = np.unique(keys[miss], return_index=True)
        if cached_keys is None:
            cached_keys, cached_raw = new_keys, fresh[first]
        else:
            cached_keys, cached_raw = np.concatenate([cached_keys, new_keys]), np.concatenate([cached_raw, fresh[first]])
        self.base_cache_ = (cached_keys[-_BASE_CACHE_LIVE_ROWS:], cached_raw[-_BASE_CACHE_LIVE_ROWS:])
        return raw

    def _predict_params(self) -> dict[str, Any]:
        """``num_threads`` for ``Booster.predict`` when the model sets a thread count.

        LightGBM predicts on every core unless told otherwise, whatever the training params say;
        and OpenMP threads left spinning after a parallel predict burn CPU in whatever runs next
        (a one-thread update measured 2× its cost right after an all-core predict).
        """
        params = getattr(self, "params_", None) or {}
        for key in _THREAD_KEYS:
            value = params.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return {"num_threads": value}
        return {}

    def _raw(self, matrix: np.ndarray, corrections: list[Any], base: np.ndarray | None = None) -> np.ndarray:
        """Sum of the raw scores of the base booster (``base`` if already known) and ``corrections``
        ((n,) or (n, n_classes))."""
        raw = self.booster_.predict(matrix, raw_score=True, **self._predict_params()) if base is None else base
        for booster in corrections:
            raw = raw + booster.predict(matrix, raw_score=True, **self._predict_params())
        return raw

    def _link(self):
        """The objective's raw-score → prediction transform (for corrected models)."""
        objective = str(self.params_.get("objective", "regression"))
        if self.params_.get("reg_sqrt"):
            raise ConfigError("update_mode='correct' cannot correct a model trained with reg_sqrt (LightGBM squares its "
                              "raw score); use update_mode='continue'.")
        if objective in _IDENTITY:
            return lambda raw: raw
        if objective in _EXP:
            return np.exp
        if objective in _SIGMOID:
            scale = float(self.params_.get("sigmoid", 1.0)) if objective not in ("cross_entropy", "xentropy") else 1.0
            return lambda raw: 0.5 * (1.0 + np.tanh(0.5 * scale * raw))  # the logistic function, overflow-free
        if objective in _SOFTMAX:
            def softmax(raw: np.ndarray) -> np.ndarray:
                e = np.exp(raw - raw.max(axis=1, keepdims=True))
                return e / e.sum(axis=1, keepdims=True)
            return softmax
        raise ConfigError(
            f"update_mode='correct' supports LightGBM objectives with a known link (regression, binary, multiclass, "
            f"poisson, ...); got objective {objective!r}: use update_mode='continue'."
        )

    def _output(self, X: pd.DataFrame) -> np.ndarray:
        """What ``Booster.predict`` returns (transformed scores), corrections included."""
        matrix = self._matrix(X)
        corrections = getattr(self, "corrections_", None)
        night = _NIGHT.get()
        if not corrections and not (night and self._linkable()):
            return self.booster_.predict(matrix, **self._predict_params())
        # the model keeps the base scores of what it predicts: a correction update (the policy
        # may ask for one whatever the model's own update_mode) learns the batch's rows on top of
        # them, and the gate and the run's metric score them, without the base model predicting
        # them again (the runner predicts a batch before it updates on it)
        limit = _BASE_CACHE_LIVE_ROWS if night else _SERVING_CACHE_ROWS
        base = self._cached_base_raw(matrix) if 0 < len(matrix) <= limit else None
        return self._link()(self._raw(matrix, corrections or [], base=base))

    def _linkable(self) -> bool:
        try:
            self._link()
        except ConfigError:
            return False
        return True

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raw = self._output(X)
        if self.task == "regression":
            return raw
        proba = self._to_proba(raw)
        return self.classes_[np.argmax(proba, axis=1)]

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._to_proba(self._output(X))

    def _to_proba(self, raw: np.ndarray) -> np.ndarray:
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw


def _row_keys(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a 2-D array: ``pd.util.hash_pandas_object(pd.DataFrame(matrix),
    index=False)`` to the bit (the keys of caches saved by earlier releases still match), in a
    third of its time (no frame, no Series per column)."""
    # pandas' combine_hash_arrays, over the columns' hashes
    out = np.full(len(matrix), 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    n = matrix.shape[1]
    with np.errstate(over="ignore"):
        for i in range(n):
            out ^= pd.util.hash_array(np.ascontiguousarray(matrix[:, i]))
            out *= mult
            mult += np.uint64(82520 + 2 * (n - i))
        out += np.uint64(97531)
    return out


def _safe_names(names: list[str]) -> list[str]:
    """LightGBM rejects some characters in feature names; replace them and keep names unique."""
    out = [re.sub(r'[\s",:\[\]{}]', "_", n) or f"Column_{i}" for i, n in enumerate(names)]
    if len(set(out)) != len(out):
        out = [f"Column_{i}" for i in range(len(names))]
    return out
