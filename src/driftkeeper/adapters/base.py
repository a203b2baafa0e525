"""The abstract model adapter every concrete adapter (LightGBM, River, scikit-learn) implements.

An adapter wraps one model and gives the runner one vocabulary: ``fit`` from scratch, ``update``
from the current state (warm start or online learning), ``predict``/``predict_proba`` with numpy
out, ``clone``, and a ``describe()`` dict for the registry. It follows scikit-learn's estimator
conventions: settings are the constructor's arguments, read and changed with ``get_params`` /
``set_params``; fitted state ends in ``_`` (``feature_names_in_``, ``n_features_in_``,
``classes_``); only classifiers have ``predict_proba``. The base class owns everything that is
the same for every library: parameter validation, the feature schema (captured at ``fit``, enforced
on every later batch), target checks, the class set of classifiers, the replay reservoir and the
update counter. Subclasses implement the ``_fit``/``_update``/``_predict``/``_predict_proba`` hooks.

Unseen classes: a classifier's classes are fixed at ``fit``. An ``update`` batch whose target
holds a class not seen at fit raises :class:`SchemaError` naming the class (LightGBM's
``num_class`` and scikit-learn's ``partial_fit(classes=...)`` cannot grow); adding a class needs
a retrain with ``fit``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import inspect
import pickle
import types
from typing import Any, Callable, ClassVar, Iterable

import numpy as np
import pandas as pd

from driftkeeper.adapters._replay import Reservoir
from driftkeeper.adapters._schema import FeatureSchema, as_frame, as_target
from driftkeeper.adapters._validation import check_float, check_int
from driftkeeper._util.suggest import suggest
from driftkeeper.exceptions import ConfigError, DataQualityError, NotFittedError, SchemaError, UpdateNotSupportedError

__all__ = ["ModelAdapter"]

# fitted state a new fit starts without (the last_update_* attributes describe the last *update*)
_FITTED = ("schema_", "classes_", "n_updates_", "n_rows_seen_", "replay_", "last_update_rounds_", "last_update_mode_")


class _ClassifierOnly:
    """Method descriptor: the method exists on classifiers only. On a regression adapter the
    attribute lookup raises AttributeError, so ``hasattr(adapter, name)`` is False (scikit-learn's
    ``available_if``, without importing scikit-learn)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        if obj.task != "classification":
            raise AttributeError(f"{obj._label()} is a regression model: {self.name} is only available for classifiers")
        return types.MethodType(self.fn, obj)


class ModelAdapter(abc.ABC):
    """Uniform fit / update / predict interface over one wrapped model.

    Fitted state ends in ``_``: ``schema_``, ``feature_names_in_``, ``n_features_in_``,
    ``classes_`` (classifiers), ``n_updates_``, ``n_rows_seen_``, and after an update
    ``last_update_rounds_``. State-changing methods return ``self``; the caller's data is never
    modified. Constructor arguments are stored unchanged as attributes of the same name and
    checked where work starts (``fit``/``update``).
    """

    kind: ClassVar[str] = ""
    # True when _fit_chunks learns from chunks without concatenating them (see fit_chunks)
    fits_in_chunks: ClassVar[bool] = False

    # ---------------------------------------------------------------- parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as given (the wrapped model unfitted, as passed in)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> ModelAdapter:
        """Change constructor settings by name (scikit-learn's ``set_params``); returns ``self``.

        Values are checked where work starts, as the constructor's: an update setting applies
        from the next ``update``, ``model`` from the next ``fit``. An unknown name raises
        ConfigError listing the adapter's parameters.
        """
        valid = self.get_params()
        for name in params:
            if name not in valid:
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {name!r}{suggest(name, valid)}; its parameters: {sorted(valid)}"
                )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self) -> ModelAdapter:
        """A new, unfitted adapter with the same parameters (the wrapped model is cloned too)."""
        params = self.get_params()
        params["model"] = self._clone_model()
        return type(self)(**params)

    def _validate_params(self) -> None:
        """Check the constructor's update settings; subclasses extend with their own."""
        owner = type(self).__name__
        check_float(owner, "replay_fraction", self.replay_fraction, low=0.0, high=1.0, closed="left")
        check_int(owner, "replay_size", self.replay_size, low=0)
        check_int(owner, "random_state", self.random_state, low=0)

    def _validate_update_params(self) -> None:
        """What :meth:`update` checks before it trains: by default all of :meth:`_validate_params`
        (an adapter whose wrapped model's settings only matter to a fit may check less)."""
        self._validate_params()

    # ---------------------------------------------------------------- what the model is
    @property
    @abc.abstractmethod
    def task(self) -> str:
        """``"regression"`` or ``"classification"``, read from the wrapped model."""

    @property
    @abc.abstractmethod
    def update_style(self) -> str | None:
        """``"warm_start"``, ``"online_update"`` or ``None`` when only a retrain is possible."""

    @property
    def supports_update(self) -> bool:
        """True when :meth:`update` can continue from the current state."""
        return self.update_style is not None

    @property
    def update_overrides(self) -> tuple[str, ...]:
        """Keyword overrides :meth:`update` accepts with a non-None value (in the default ``mode``)."""
        return self.update_overrides_for(None)

    def update_overrides_for(self, mode: str | None) -> tuple[str, ...]:
        """Keyword overrides :meth:`update` accepts with a non-None value in ``update(mode=mode)``;
        ``None``: the constructor's default. Only adapters whose :attr:`update_overrides` list
        ``mode`` take a mode (LightGBM: a ``refit`` adds no trees, so it takes no
        ``early_stopping_rounds`` nor ``l2_regularization``)."""
        return ("rounds", "replay_fraction") if self.supports_update else ()

    @property
    def update_relearns_window(self) -> bool:
        """True when the newest :meth:`update` re-learned the rows it was given in place of its
        previous update (LightGBM's ``mode="correct"``); before any update, whether one in the
        default settings would.

        The runner then does not feed the gate's holdout rows as an extra update after a
        candidate passes: the next update gets them again with the policy's ``relearn_batches``.
        """
        return False

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has run."""
        return hasattr(self, "schema_")

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The feature columns seen at fit, in order (an object array, as in scikit-learn)."""
        self._check_fitted("read feature_names_in_ of")
        return np.asarray(list(self.schema_.names), dtype=object)

    @property
    def n_features_in_(self) -> int:
        """Number of feature columns seen at fit."""
        self._check_fitted("read n_features_in_ of")
        return len(self.schema_.names)

    @property
    def n_trees(self) -> int | None:
        """Number of trees in the fitted model; ``None`` for models without trees or before fit."""
        return None

    @property
    def estimator(self) -> str:
        """Dotted class path of the wrapped model (``"lightgbm.sklearn.LGBMRegressor"``)."""
        cls = type(self.model)
        return f"{cls.__module__}.{cls.__qualname__}"

    def _label(self) -> str:
        """Short name for messages: ``"LightGBMAdapter(LGBMRegressor)"``."""
        return f"{type(self).__name__}({self.estimator.rsplit('.', 1)[-1]})"

    # ---------------------------------------------------------------- work
    def fit(self, X: Any, y: Any) -> ModelAdapter:
        """Train from scratch on ``X``/``y``, ignoring earlier state, and record the feature schema.

        The schema is the column names and dtypes and, for pandas categorical columns, their
        categories. Classifiers record ``classes_`` (sorted unique labels). Returns ``self``.
        """
        self._validate_params()
        frame = self._coerce_fit_frame(as_frame(X))
        target = as_target(y, len(frame))
        for name in _FITTED:
            self.__dict__.pop(name, None)
        self._clear_fitted()
        schema = FeatureSchema.capture(frame)
        frame = schema.align(frame)
        if self.task == "classification":
            classes = np.asarray(sorted(pd.unique(target).tolist()))
            if len(classes) < 2:
                raise DataQualityError(f"y has a single class {classes.tolist()}; a classifier needs at least 2 classes.")
            self.classes_ = classes
        self._fit(frame, target)
        self.schema_ = schema
        self.n_updates_ = 0
        self.n_rows_seen_ = len(frame)
        self.replay_ = Reservoir(self.replay_size, self.random_state)
        self.replay_.add(frame, target)
        return self

    def fit_chunks(self, chunks: Callable[[], Iterable[tuple[Any, Any]]]) -> ModelAdapter:
        """Train from scratch on rows given in pieces, as :meth:`fit` on them concatenated would.

        ``chunks()`` returns a fresh iterable of ``(X, y)`` pieces, the same rows in the same
        order on every call; every ``X`` has the same columns, and a categorical column the same
        categories in every piece (else SchemaError naming the column and the piece). An adapter
        that needs one frame (scikit-learn, River) concatenates the pieces and calls :meth:`fit`.
        One that learns from pieces (:attr:`fits_in_chunks`: LightGBM) goes through ``chunks()``
        once for the schema, the classes, the targets and the replay reservoir, then as often as
        its library reads the rows, and never holds more than one piece as a frame. Returns ``self``.
        """
        if not self.fits_in_chunks:
            frames, targets = [], []
            for X, y in chunks():
                frames.append(as_frame(X))
                targets.append(as_target(y, len(frames[-1])))
            if not frames:
                raise DataQualityError("X has 0 rows; expected at least 1.")
            X = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            del frames
            return self.fit(X, np.concatenate(targets))
        self._validate_params()
        schema, target, lengths, replay = self._scan_chunks(chunks)
        for name in _FITTED:
            self.__dict__.pop(name, None)
        self._clear_fitted()
        if self.task == "classification":
            classes = np.asarray(sorted(pd.unique(target).tolist()))
            if len(classes) < 2:
                raise DataQualityError(f"y has a single class {classes.tolist()}; a classifier needs at least 2 classes.")
            self.classes_ = classes

        def aligned() -> Iterable[pd.DataFrame]:
            for i, (X, _) in enumerate(chunks()):
                yield schema.align(self._coerce_fit_frame(as_frame(X, what=f"X (piece {i})")), what=f"X (piece {i})")

        self._fit_chunks(aligned, target, lengths, schema)
        self.schema_ = schema
        self.n_updates_ = 0
        self.n_rows_seen_ = len(target)
        self.replay_ = replay
        return self

    def _scan_chunks(self, chunks: Callable[[], Iterable[tuple[Any, Any]]]) -> tuple[FeatureSchema, np.ndarray, list[int], Reservoir]:
        """One pass over the pieces of :meth:`fit_chunks`: the feature schema (the first piece's;
        a numerical column's dtype the one concatenating gives), the targets, each piece's row
        count and the replay reservoir offered every row in order."""
        schema: FeatureSchema | None = None
        dtypes: dict[str, np.dtype] = {}
        targets, lengths = [], []
        replay = Reservoir(self.replay_size, self.random_state)
        for i, (X, y) in enumerate(chunks()):
            what = f"X (piece {i})"
            frame = self._coerce_fit_frame(as_frame(X, what=what))
            if schema is None:
                schema = FeatureSchema.capture(frame)
            elif list(frame.columns) != list(schema.names):
                raise SchemaError(f"{what} has columns {list(frame.columns)}; piece 0 has {list(schema.names)}: every piece needs the same columns.")
            for name in schema.names:
                dtype = frame[name].dtype
                if name in schema.categories:
                    if not (isinstance(dtype, pd.CategoricalDtype) and dtype.categories.equals(schema.categories[name].categories)):
                        raise SchemaError(f"{what} column {name!r} is not categorical with the categories of piece 0; "
                                          "type it as pandas category with the same categories in every piece.")
                elif isinstance(dtype, np.dtype):
                    dtypes[name] = np.result_type(dtypes.get(name, dtype), dtype)
            target = as_target(y, len(frame))
            targets.append(target)
            lengths.append(len(frame))
            replay.add(schema.align(frame, what=what), target)
        if schema is None:
            raise DataQualityError("X has 0 rows; expected at least 1.")
        schema = dataclasses.replace(schema, dtypes={**schema.dtypes, **{c: str(d) for c, d in dtypes.items()}})
        return schema, np.concatenate(targets), lengths, replay

    def update(self, X: Any, y: Any, *, rounds: int | None = None, learning_rate: float | None = None,
               replay_fraction: float | None = None, known_rows: int = 0, eval_set: tuple[Any, Any] | None = None,
               early_stopping_rounds: int | None = None, l2_regularization: float | None = None,
               mode: str | None = None, crossfit: bool = False) -> ModelAdapter:
        """Continue training from the current state on a new batch; returns ``self``.

        Keyword arguments override the constructor's settings for this call only: ``rounds``
        (``update_rounds``: trees/iterations added by warm starts, passes over the batch for online
        models), ``learning_rate`` (``update_learning_rate``; only where :attr:`update_overrides`
        lists it, else ConfigError) and ``replay_fraction`` (share of the training rows drawn from
        the replay reservoir of earlier rows; 0.5 means as many replayed rows as new ones).
        ``known_rows``: the first ``known_rows`` rows of ``X`` were learned before (context given
        again, e.g. the runner's ``relearn_batches``); they are trained on, but not offered to the
        replay reservoir again nor counted in ``n_rows_seen_``.
        ``early_stopping_rounds`` with ``eval_set=(X_val, y_val)`` (rows not in ``X``; only where
        :attr:`update_overrides` lists it): ``rounds`` becomes a maximum — training stops once the
        loss on ``eval_set`` has not improved for that many rounds and keeps the best round count
        (``last_update_rounds_`` says how many were kept). ``crossfit=True`` with early stopping
        (only where :attr:`update_overrides` lists ``crossfit``; at least 4 ``eval_set`` rows)
        scores the update honestly on every ``eval_set`` row: the rows form two alternating folds
        (rows 0, 2, 4, ... and 1, 3, 5, ...), each fold picks its own best round count, and
        ``last_eval_output_`` holds each row's prediction (class probabilities for a classifier)
        by the model cut at the round count the *other* fold picked — a prediction nothing was
        tuned on. The model keeps the round count best on all the rows. ``l2_regularization`` (only where
        :attr:`update_overrides` lists it): L2 penalty on the leaf values of the trees this update
        adds (LightGBM ``lambda_l2``). ``mode`` (only where :attr:`update_overrides` lists it;
        LightGBM: ``"continue"``, ``"refit"`` or ``"correct"``): how this update learns, in place
        of the constructor's ``update_mode``, which stays as it is; :meth:`update_overrides_for`
        says which overrides a mode takes.

        Raises NotFittedError before ``fit``, UpdateNotSupportedError when only retraining is
        possible, SchemaError when the batch's columns differ from fit or ``y`` holds a class unseen
        at fit, ModelSizeError when the update would pass ``max_trees``.
        """
        self._check_fitted("update")
        if not self.supports_update:
            raise UpdateNotSupportedError(
                f"{self._label()} cannot be updated incrementally (no partial_fit or warm_start); only a full retrain with fit() is possible."
            )
        self._validate_update_params()
        owner = f"{type(self).__name__}.update"
        rounds = check_int(owner, "rounds", rounds, low=1, allow_none=True) or self._default_rounds()
        lr, extra = self._checked_overrides(owner, mode=mode, learning_rate=learning_rate,
                                            early_stopping_rounds=early_stopping_rounds, l2_regularization=l2_regularization)
        stop = extra.get("early_stopping_rounds")
        if stop is not None and eval_set is None:
            raise ConfigError(f"{owner}: early_stopping_rounds={stop} needs eval_set=(X_val, y_val), rows to stop on.")
        if crossfit:
            if "crossfit" not in self.update_overrides_for(mode):
                raise ConfigError(f"{self._label()} does not support crossfit; supported overrides: {list(self.update_overrides_for(mode))}.")
            if stop is None:
                raise ConfigError(f"{owner}: crossfit=True needs early_stopping_rounds and eval_set: it cross-fits the round count.")
            extra["crossfit"] = True
        if replay_fraction is None:
            replay_fraction = self.replay_fraction
        replay_fraction = check_float(owner, "replay_fraction", replay_fraction, low=0.0, high=1.0, closed="left")
        frame = self.schema_.align(X)
        target = as_target(y, len(frame))
        known_rows = check_int(owner, "known_rows", known_rows, low=0, high=len(frame))
        self._check_classes(target, "y")
        if stop is not None:
            if not (isinstance(eval_set, (tuple, list)) and len(eval_set) == 2):
                raise ConfigError(f"{owner}: eval_set must be a pair (X_val, y_val); got {type(eval_set).__name__}.")
            val_frame = self.schema_.align(eval_set[0])
            val_target = as_target(eval_set[1], len(val_frame))
            if crossfit and len(val_frame) < 4:
                raise ConfigError(f"{owner}: crossfit=True needs at least 4 eval_set rows (two per fold); got {len(val_frame)}.")
            self._check_classes(val_target, "eval_set's y")
            extra["eval_set"] = (val_frame, val_target)
        self._check_update_size(rounds, mode)
        train_X, train_y = frame, target
        if replay_fraction > 0 and len(self.replay_):
            n_replay = int(round(replay_fraction / (1.0 - replay_fraction) * len(frame)))
            if n_replay:
                old_X, old_y = self.replay_.sample(n_replay)
                train_X = pd.concat([old_X, frame], ignore_index=True)  # replayed rows first, newest last
                train_y = np.concatenate([old_y, target])
        self.last_update_rounds_ = rounds
        self.__dict__.pop("last_eval_output_", None)
        self._update(train_X, train_y, rounds=rounds, learning_rate=lr, **extra)
        if known_rows < len(frame):
            self.replay_.add(frame.iloc[known_rows:], target[known_rows:])
        self.n_updates_ += 1
        self.n_rows_seen_ += len(frame) - known_rows
        return self

    def _checked_overrides(self, owner: str, *, mode: str | None, learning_rate: float | None,
                           early_stopping_rounds: int | None, l2_regularization: float | None) -> tuple[float | None, dict[str, Any]]:
        """``(learning_rate, {name: value} of the other overrides given)``, each checked; ConfigError
        for a bad value or an override this adapter does not take (in ``mode``)."""
        if mode is not None and "mode" not in self.update_overrides:
            raise ConfigError(
                f"{self._label()} does not support a mode override; supported overrides: {list(self.update_overrides)}."
            )
        accepted = self.update_overrides_for(mode)
        values = {
            "learning_rate": check_float(owner, "learning_rate", learning_rate, low=0.0, closed="neither", allow_none=True),
            "early_stopping_rounds": check_int(owner, "early_stopping_rounds", early_stopping_rounds, low=1, allow_none=True),
            "l2_regularization": check_float(owner, "l2_regularization", l2_regularization, low=0.0, closed="left", allow_none=True),
            "mode": mode,
        }
        for name, value in values.items():
            if value is not None and name not in accepted:
                what = "a learning_rate override" if name == "learning_rate" else name
                where = f" in mode={mode!r}" if mode is not None else ""
                raise ConfigError(f"{self._label()} does not support {what}{where}; supported overrides: {list(accepted)}.")
        lr = values.pop("learning_rate")
        return lr, {k: v for k, v in values.items() if v is not None}

    def _check_classes(self, target: np.ndarray, what: str) -> None:
        """SchemaError when a classifier's ``target`` holds a class unseen at fit."""
        if self.task != "classification":
            return
        known = set(self.classes_.tolist())
        unseen = sorted({v for v in pd.unique(target).tolist() if v not in known}, key=str)
        if unseen:
            raise SchemaError(
                f"{what} contains class(es) {unseen} not seen at fit time; expected one of {self.classes_.tolist()} (a new class needs a retrain with fit())."
            )

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for ``X`` as a 1-D numpy array (class labels for classifiers)."""
        self._check_fitted("predict with")
        return np.asarray(self._predict(self.schema_.align(X)))

    @_ClassifierOnly
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_rows, n_classes)``, columns ordered as ``classes_``.

        For binary classification column 1 is the positive class ``classes_[1]``. Classifiers only:
        on a regression adapter the attribute does not exist (AttributeError).
        """
        self._check_fitted("predict with")
        return np.asarray(self._predict_proba(self.schema_.align(X)), dtype=float)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary for the registry and reports.

        Keys: kind, estimator, task, params, n_trees, size_bytes (pickled wrapped model/booster,
        without the replay reservoir), update_style, supports_update, update_overrides, is_fitted,
        n_updates (since the last fit), n_rows_seen, n_features, replay_rows, classes (classifiers).
        """
        info: dict[str, Any] = {
            "kind": self.kind,
            "estimator": self.estimator,
            "task": self.task,
            "params": self._describe_params(),
            "n_trees": self.n_trees,
            "size_bytes": len(pickle.dumps(self._model_object(), protocol=pickle.HIGHEST_PROTOCOL)),
            "update_style": self.update_style,
            "supports_update": self.supports_update,
            "update_overrides": list(self.update_overrides),
            "is_fitted": self.is_fitted,
            "n_updates": getattr(self, "n_updates_", 0),
            "n_rows_seen": getattr(self, "n_rows_seen_", 0),
            "n_features": len(self.schema_.names) if self.is_fitted else None,
            "replay_rows": len(self.replay_) if self.is_fitted else 0,
        }
        if self.task == "classification" and self.is_fitted:
            info["classes"] = self.classes_.tolist()
        return info

    def __repr__(self) -> str:
        """``<SklearnAdapter(Ridge) fitted, update_style=None>``."""
        state = "fitted" if self.is_fitted else "unfitted"
        return f"<{self._label()} {state}, update_style={self.update_style!r}>"

    # ---------------------------------------------------------------- helpers / hooks
    def _check_fitted(self, action: str) -> None:
        """Raise NotFittedError saying to call fit first (sklearn ``check_is_fitted`` style)."""
        if not hasattr(self, "schema_"):
            raise NotFittedError(f"This {self._label()} is not fitted yet; call fit(X, y) before you {action} it.")

    def _coerce_fit_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Hook: adjust the fit frame before its schema is captured (default: unchanged)."""
        return frame

    def _clear_fitted(self) -> None:
        """Hook: drop library-specific fitted state before a fresh fit."""

    def _check_update_size(self, rounds: int, mode: str | None) -> None:
        """Hook: raise ModelSizeError when an update of ``rounds`` (in ``mode``, None: the default)
        would pass ``max_trees`` (default: no cap)."""

    def _default_rounds(self) -> int:
        """``update_rounds`` or the adapter's default when it is None."""
        return self.update_rounds if self.update_rounds is not None else 1

    def _describe_params(self) -> dict[str, Any]:
        """Hook: the wrapped model's parameters, JSON-friendly."""
        return {}

    @abc.abstractmethod
    def _clone_model(self) -> Any:
        """An unfitted copy of the wrapped model."""

    @abc.abstractmethod
    def _model_object(self) -> Any:
        """The object whose pickle size ``describe()`` reports (fitted model, or the unfitted one)."""

    @abc.abstractmethod
    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Train from scratch on an aligned frame."""

    def _fit_chunks(self, chunks: Callable[[], Iterable[pd.DataFrame]], y: np.ndarray, lengths: list[int],
                    schema: FeatureSchema) -> None:
        """Train from scratch on aligned pieces (``chunks()``: a fresh iterable of them, with
        ``lengths`` rows each; ``y``: all their targets); only where :attr:`fits_in_chunks`."""
        raise NotImplementedError

    @abc.abstractmethod
    def _update(self, X: pd.DataFrame, y: np.ndarray, *, rounds: int, learning_rate: float | None) -> None:
        """Continue training on an aligned frame (replayed rows already mixed in)."""

    @abc.abstractmethod
    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions for an aligned frame."""

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities for an aligned frame, columns ordered as ``classes_``."""
        raise NotImplementedError


def fmt_json(value: Any) -> Any:
    """Best-effort JSON-friendly version of a parameter value (objects become their repr)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [fmt_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fmt_json(v) for k, v in value.items()}
    return repr(value)
