"""LightGBM retrains and correction updates through ``lightgbm.dask`` (``pip install
driftkeeper[dask]``): the adapter-side fence around Dask, imported only when a caller hands a
``distributed.Client`` over.

:func:`fit` trains a :class:`~driftkeeper.adapters.lightgbm.LightGBMAdapter` from pieces of its
training rows that live on the cluster; :func:`update` is ``adapter.update(X, y, mode="correct")``
with the base booster's raw scores computed on the workers and the correction booster trained
there (LightGBM's ``init_score``: ``lightgbm.dask`` has no ``init_model``, LightGBM issue #4063,
so a correction on top of a base model is the update it can do). Either way the adapter ends up
as :meth:`LightGBMAdapter.fit` / ``update`` leave it, holding ordinary local boosters: serving,
rollback and the registry never see Dask.

What differs from the local path:

* LightGBM's distributed training bins each worker's rows and merges the bins, and every worker
  grows the trees on histograms summed over the cluster: the model is a close relative of the
  local one, not the same model (``tests/test_dask_train.py`` measures the gap);
* an update's early stopping and cross-fit are not applied: ``lightgbm.dask`` evaluates stopping
  rows per worker, so workers could stop at different rounds; :func:`update` trains the given rounds;
* the replay reservoir of a fit is a uniform sample the caller draws of the training rows (the
  local fit offers every row in order): the same distribution, another sample.

Worker functions are module-level and pure, so a piece lost with a worker is recomputed; the
workers need driftkeeper installed (the pieces are driftkeeper objects).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

from driftkeeper.adapters._replay import Reservoir
from driftkeeper.adapters._schema import FeatureSchema, as_frame, as_target
from driftkeeper.adapters._validation import check_float, check_int
from driftkeeper.exceptions import ConfigError, DataQualityError, DriftkeeperError

__all__ = ["fit", "update", "workers"]

# attributes base.ModelAdapter.fit drops before a fit (base._FITTED)
_FITTED = ("schema_", "classes_", "n_updates_", "n_rows_seen_", "replay_", "last_update_rounds_", "last_update_mode_")
# the model text's record of the cluster a booster trained on: a booster loaded from text takes
# its parameters from it, and a refit or a continued training would try to reach those machines
_NETWORK = re.compile(r"^\[(machines|machine_list_filename|machine_list_file|mlist|local_listen_port|local_port|port|"
                      r"num_machines|num_machine|time_out|tree_learner|tree|tree_type|tree_learner_type): .*\]$\n?", re.M)
# sklearn-wrapper arguments that are LightGBM's own main parameter names: the wrapper passes its
# default for them, which would win over an alias (eta, num_leaf, ...) in the model's params
_MAIN_NAMES = ("learning_rate", "num_leaves", "max_depth")
_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


def workers(client: Any) -> int:
    """How many workers the client's cluster has (at least 1)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


# ----------------------------------------------------------------------------- worker side
def _lite(adapter: Any) -> Any:
    """The adapter without its boosters, caches and replay rows: what a worker needs to make a
    piece's matrix and labels (``_matrix``, ``_labels``), small enough to ship with every task."""
    new = type(adapter).__new__(type(adapter))
    new.__dict__.update({k: v for k, v in adapter.__dict__.items()
                         if k not in ("booster_", "corrections_", "base_cache_", "replay_")})
    return new


def _matrix(lite: Any, schema: FeatureSchema, piece: tuple[pd.DataFrame, np.ndarray]) -> np.ndarray:
    """A piece's float matrix as ``fit`` makes it: object columns made categorical, the frame
    aligned to the fitted schema (its categories fix the codes), then ``_matrix``."""
    frame = lite._coerce_fit_frame(as_frame(piece[0]))
    return np.ascontiguousarray(lite._matrix(schema.align(frame)))


def _labels(lite: Any, piece: tuple[pd.DataFrame, np.ndarray]) -> np.ndarray:
    return lite._labels(as_target(piece[1], len(piece[0])))


def _classes(piece: tuple[pd.DataFrame, np.ndarray]) -> list[Any]:
    return pd.unique(as_target(piece[1], len(piece[0]))).tolist()


def _base_raw(booster: Any, matrix: np.ndarray, predict_params: dict[str, Any]) -> np.ndarray:
    return booster.predict(matrix, raw_score=True, **predict_params)


# ----------------------------------------------------------------------------- client side
def _compute(client: Any, tasks: list[Any]) -> list[Any]:
    return client.gather(client.compute(tasks))


def _local(booster: Any, params: dict[str, Any]) -> Any:
    """A local Booster of the model a distributed training returned: its text without the
    cluster's network settings (a serial tree learner), its ``params`` the adapter's, as
    ``lightgbm.train`` leaves them on a booster trained here."""
    import lightgbm as lgb

    text = _NETWORK.sub("", booster.model_to_string())
    local = lgb.Booster(model_str=text)
    local.params = dict(params)
    return local


def _estimator(adapter: Any, client: Any, params: dict[str, Any], rounds: int) -> Any:
    """A ``lightgbm.dask`` estimator training ``rounds`` rounds with the adapter's ``params``."""
    from lightgbm.basic import _ConfigAliases
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    kwargs = dict(params)
    for main in _MAIN_NAMES:
        for alias in _ConfigAliases.get(main) - {main}:
            if alias in kwargs:
                kwargs[main] = kwargs.pop(alias)
    # the wrapper sets num_class from the labels, and every worker's thread count from its own
    for key in _ConfigAliases.get("num_class", "num_threads"):
        kwargs.pop(key, None)
    # LightGBM's socket timeout, in minutes (default 120): a worker whose peer was lost mid-training
    # waits that long before its training task gives its thread back to the cluster
    if not any(k in kwargs for k in _ConfigAliases.get("time_out")):
        kwargs["time_out"] = 1
    cls = DaskLGBMClassifier if adapter.task == "classification" else DaskLGBMRegressor
    return cls(client=client, n_estimators=rounds, **kwargs)


def _train(adapter: Any, client: Any, params: dict[str, Any], rounds: int, X: Any, y: Any, init: Any = None) -> Any:
    """Train on the cluster; the booster made local. A lost worker is one clear error."""
    est = _estimator(adapter, client, params, rounds)

    def fit() -> None:
        import warnings

        with warnings.catch_warnings():
            # the wrapper's own n_jobs argument: each worker's thread count replaces it, as it should
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored", category=UserWarning)
            est.fit(X, y, init_score=init, feature_name=adapter.lgb_feature_names_,
                    categorical_feature=adapter.categorical_indices_ or "auto")

    _watched(client, fit)
    return _local(est.booster_, params)


def _worker_addresses(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.workers)


def _training_keys(dask_scheduler: Any) -> list[Any]:
    return [k for k in dask_scheduler.tasks if str(k).startswith("_train_part")]


def _watched(client: Any, fit: Any) -> None:
    """Run ``fit`` while watching the workers. ``lightgbm.dask`` pins one training task to each
    worker and its workers wait on each other: a worker lost mid-training leaves a task that
    can run nowhere and a peer waiting on a dead socket, so the training would never end. On
    a lost worker the training tasks are cancelled and a :class:`DriftkeeperError` raised."""
    import threading

    from distributed import Future

    before = set(client.run_on_scheduler(_worker_addresses))
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            fit()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="driftkeeper-lightgbm-dask", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        gone = before - set(client.scheduler_info()["workers"])
        if thread.is_alive() and gone:
            # the client's view is a cache the scheduler refreshes every few seconds, and a loaded
            # machine can leave it without workers for a moment: ask the scheduler itself
            gone = before - set(client.run_on_scheduler(_worker_addresses))
        if thread.is_alive() and gone:
            client.cancel([Future(k, client) for k in client.run_on_scheduler(_training_keys)], force=True)
            thread.join(60)
            raise DriftkeeperError(f"the Dask cluster lost worker(s) {sorted(gone)} while training; nothing was "
                                   "registered: rerun once the cluster is healthy")
    if "error" in outcome:
        exc = outcome["error"]
        _raise_lost(exc)
        raise exc


def _arrays(lite: Any, schema: FeatureSchema, pieces: Sequence[tuple[Any, int]], booster: Any = None) -> tuple[Any, Any, Any]:
    """Dask arrays of the pieces' matrices and labels (one block per piece, its row count known)
    and, given the base ``booster`` (a future), its raw scores on them, computed by the workers."""
    import dask
    import dask.array as da

    n_features = len(schema.names)
    lite_d, schema_d = dask.delayed(lite, pure=True), dask.delayed(schema, pure=True)
    Xs, ys, raws = [], [], []
    k = int(getattr(lite, "params_", {}).get("num_class", 1))
    width = (k,) if k > 1 else ()  # a multiclass model has one raw score per class
    for piece, n in pieces:
        m = dask.delayed(_matrix, pure=True)(lite_d, schema_d, piece)
        Xs.append(da.from_delayed(m, shape=(n, n_features), dtype=np.float64))
        ys.append(da.from_delayed(dask.delayed(_labels, pure=True)(lite_d, piece), shape=(n,), dtype=np.float64))
        if booster is not None:
            raw = dask.delayed(_base_raw, pure=True)(booster, m, lite._predict_params())
            raws.append(da.from_delayed(raw, shape=(n, *width), dtype=np.float64))
    cat = lambda parts: da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]  # noqa: E731
    return cat(Xs), cat(ys), (cat(raws) if raws else None)


def fit(adapter: Any, pieces: Sequence[tuple[Any, int]], meta: pd.DataFrame, client: Any, *,
        replay: tuple[pd.DataFrame, np.ndarray] | None = None) -> Any:
    """``adapter.fit`` on rows held by the cluster; returns ``adapter``.

    ``pieces``: ``(piece, n_rows)`` pairs in row order, each ``piece`` a Dask delayed object (or
    future) of an ``(X, y)`` pair: a feature frame typed as every other piece (a categorical
    column with the same categories in each) and its targets. ``meta``: an empty frame with the
    pieces' columns and dtypes, from which the feature schema is taken. ``replay``: a uniform
    sample of the rows (at most ``replay_size``) for the replay reservoir, or None for none."""
    adapter._validate_params()
    n_rows = sum(int(n) for _, n in pieces)
    if n_rows == 0:
        raise DataQualityError("X has 0 rows; expected at least 1.")
    pieces = [(p, n) for p, n in pieces if n]
    schema = FeatureSchema.capture(adapter._coerce_fit_frame(meta.rename(columns=str)))
    for name in _FITTED:
        adapter.__dict__.pop(name, None)
    adapter._clear_fitted()
    if adapter.task == "classification":
        import dask

        seen = _compute(client, [dask.delayed(_classes, pure=True)(p) for p, _ in pieces])
        classes = np.asarray(sorted(set().union(*map(set, seen))))
        if len(classes) < 2:
            raise DataQualityError(f"y has a single class {classes.tolist()}; a classifier needs at least 2 classes.")
        adapter.classes_ = classes
    params, n_rounds = adapter._fit_params(list(schema.names), list(schema.categories))
    X, y, _ = _arrays(_lite(adapter), schema, pieces)
    adapter.booster_ = _train(adapter, client, params, n_rounds, X, y)
    adapter.corrections_ = []
    adapter.schema_ = schema
    adapter.n_updates_ = 0
    adapter.n_rows_seen_ = n_rows
    adapter.replay_ = Reservoir(adapter.replay_size, adapter.random_state)
    if replay is not None and len(replay[0]):
        adapter.replay_.add(schema.align(adapter._coerce_fit_frame(as_frame(replay[0]))), as_target(replay[1], len(replay[0])))
    # algorithm R's state after every row: a uniform sample of them, n_seen counting them all
    adapter.replay_.n_seen = n_rows
    return adapter


def update(adapter: Any, X: Any, y: Any, client: Any, *, rounds: int | None = None, learning_rate: float | None = None,
           l2_regularization: float | None = None, replay_fraction: float | None = None, known_rows: int = 0,
           mode: str | None = None) -> Any:
    """``adapter.update(X, y, mode="correct", ...)`` with the work on the cluster; returns ``adapter``.

    The rows are split into one piece per worker; each worker makes its piece's matrix and the
    base booster's raw scores on it, and ``lightgbm.dask`` trains a fresh correction booster of
    ``rounds`` trees from those scores (``init_score``), which replaces the model's corrections
    as the local correct update does (same parameters: the update's learning rate and L2
    penalty, ``correction_max_bin``). No early stopping (see the module docstring). ``mode``:
    None or ``"correct"`` (the one update ``lightgbm.dask`` can do), else ConfigError."""
    if mode not in (None, "correct"):
        raise ConfigError(f"an update on Dask is a correction (mode 'correct'); got mode {mode!r}: "
                          "update in this process (no Dask client) or set update mode: correct")
    adapter._check_fitted("update")
    adapter._validate_params()
    owner = f"{type(adapter).__name__}.update"
    rounds = check_int(owner, "rounds", rounds, low=1, allow_none=True) or adapter._default_rounds()
    lr, extra = adapter._checked_overrides(owner, mode="correct", learning_rate=learning_rate,
                                           early_stopping_rounds=None, l2_regularization=l2_regularization)
    fraction = check_float(owner, "replay_fraction", adapter.replay_fraction if replay_fraction is None else replay_fraction,
                           low=0.0, high=1.0, closed="left")
    frame = adapter.schema_.align(X)
    target = as_target(y, len(frame))
    known_rows = check_int(owner, "known_rows", known_rows, low=0, high=len(frame))
    adapter._check_classes(target, "y")
    adapter._check_update_size(rounds, "correct")
    train_X, train_y = frame, target
    if fraction > 0 and len(adapter.replay_):
        n_replay = int(round(fraction / (1.0 - fraction) * len(frame)))
        if n_replay:
            old_X, old_y = adapter.replay_.sample(n_replay)
            train_X, train_y = pd.concat([old_X, frame], ignore_index=True), np.concatenate([old_y, target])
    _correct(adapter, train_X, train_y, client, rounds, lr, extra.get("l2_regularization"))
    adapter.last_update_rounds_ = rounds
    adapter.last_update_mode_ = "correct"
    adapter.__dict__.pop("last_eval_output_", None)
    if known_rows < len(frame):
        adapter.replay_.add(frame.iloc[known_rows:], target[known_rows:])
    adapter.n_updates_ += 1
    adapter.n_rows_seen_ += len(frame) - known_rows
    return adapter


def _correct(adapter: Any, X: pd.DataFrame, y: np.ndarray, client: Any, rounds: int, lr: float | None,
             l2: float | None) -> None:
    """The correction booster of ``_update(mode="correct")``, trained on the cluster."""
    params = dict(adapter.params_)
    if lr is not None:
        for key in ("eta", "shrinkage_rate"):
            params.pop(key, None)
        params["learning_rate"] = lr
    if l2 is not None:
        for key in ("reg_lambda", "lambda", "l2_regularization"):
            params.pop(key, None)
        params["lambda_l2"] = l2
    if adapter.correction_max_bin is not None:
        params["max_bin"] = min(int(params.get("max_bin", 255)), adapter.correction_max_bin)
    bounds = np.linspace(0, len(X), min(workers(client), len(X)) + 1).astype(int)
    pieces = [(X.iloc[a:b].reset_index(drop=True), y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    futures = client.scatter(pieces)
    booster = client.scatter(adapter.booster_, broadcast=True)
    dX, dy, init = _arrays(_lite(adapter), adapter.schema_, list(zip(futures, np.diff(bounds))), booster)
    try:
        adapter.corrections_ = [_train(adapter, client, params, rounds, dX, dy, init)]
    finally:
        client.cancel([*futures, booster])
