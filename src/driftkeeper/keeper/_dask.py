"""The keeper's side of training on a Dask cluster (``pip install driftkeeper[dask]``): a retrain
window read from the data store by the workers, and the fingerprint of what it trained on.
Imported only when a ``distributed.Client`` is given (``Keeper.step(dask_client=...)``,
``--dask-scheduler``); :mod:`driftkeeper.adapters._lightgbm_dask` does the training.

The workers read the store's partitions (``ROOT/data/b*.parquet``) themselves, so they must see
the root at the same path as this process (a shared filesystem). One piece per stored batch:
the partition read with the columns the night needs, filtered to the positions the plan's row
keys name (the window without the gate's rows), typed by the table's spec with the window's
categories, and kept on the workers for the training.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..exceptions import DriftkeeperError, InputError
from ..table import TableSpec
from .store import LABELLED_AT, POS, SEQ, DataStore

__all__ = ["connect", "fit_frame", "retrain"]

_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


# ----------------------------------------------------------------------------- worker side
def _read(path: str, positions: np.ndarray) -> pd.DataFrame:
    """The rows of one stored partition at ``positions`` (ascending or not), in that order."""
    table = pq.read_table(path, filters=[(POS, "in", positions)])
    df = table.to_pandas()
    df.index = df[POS].to_numpy()
    return df.loc[positions].reset_index(drop=True)


def _summary(df: pd.DataFrame, spec: TableSpec, hashed: list[str]) -> dict[str, Any]:
    """What the client needs of a piece before training: per-row hashes (as ``FrameHasher``
    hashes the rows), the time range and each categorical feature's values unseen at init."""
    out: dict[str, Any] = {"rows": pd.util.hash_pandas_object(df.reindex(columns=hashed), index=False).to_numpy(),
                           "categories": spec.window_categories([df]) if spec.categories else {}}
    times = spec.times(df, what="training rows")
    out["times"] = [times.min(), times.max()] if times is not None and len(times) else []
    return out


def _features(df: pd.DataFrame, spec: TableSpec, categories: dict[str, list[Any]]) -> tuple[pd.DataFrame, np.ndarray]:
    return spec.features_chunk(df, categories), spec.target_values(df[spec.target]).to_numpy()


# ----------------------------------------------------------------------------- client side
def _lost(exc: BaseException) -> DriftkeeperError | None:
    if type(exc).__name__ in _LOST:
        return DriftkeeperError(f"the Dask cluster lost a worker during the retrain ({type(exc).__name__}: {exc}); "
                                "nothing was registered: rerun once the cluster is healthy")
    return None


@contextlib.contextmanager
def _worker_losses() -> Iterator[None]:
    """A worker lost inside the block becomes the one-line :class:`DriftkeeperError` of
    :func:`_lost`; every other error passes as it is."""
    try:
        yield
    except DriftkeeperError:
        raise
    except Exception as exc:
        if (err := _lost(exc)) is not None:
            raise err from exc
        raise


def _runs(keys: pd.DataFrame) -> list[tuple[int, np.ndarray]]:
    """``(seq, positions)`` of each run of consecutive keys of one batch, in key order."""
    seqs, pos = keys[SEQ].to_numpy(np.int64), keys[POS].to_numpy(np.int64)
    bounds = np.flatnonzero(np.diff(seqs)) + 1
    return [(int(seqs[a]), pos[a:b]) for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(seqs)])]


def _merge_categories(spec: TableSpec, seen: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """:meth:`TableSpec.window_categories` of the whole window from each piece's answer."""
    out = {}
    for c, cats in spec.categories.items():
        known = set(cats)
        extra = set().union(*(set(s.get(c, ())) for s in seen)) - known
        out[c] = list(cats) + sorted(extra)
    return out


def _fingerprint(spec: TableSpec, hashed: list[str], summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``runner.data_fingerprint`` gives for the window read as one frame: the row hashes
    of every piece fed, in row order, to the sha256 ``FrameHasher`` makes (equal whenever the
    stored partitions agree on each column's dtype, as for the chunked local fingerprint)."""
    from .._util.timeutil import iso

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, hashed)).encode())
    for s in summaries:
        h.update(s["rows"].tobytes())
    fp: dict[str, Any] = {"sha256": h.hexdigest(), "rows": int(sum(len(s["rows"]) for s in summaries)),
                          "features": list(spec.features)}
    times = [t for s in summaries for t in s["times"]]
    if times:
        fp.update(time_min=iso(min(times)), time_max=iso(max(times)))
    return fp


def retrain(candidate: Any, store: DataStore, keys: pd.DataFrame, spec: TableSpec, client: Any) -> dict[str, Any]:
    """Fit ``candidate`` (a fresh LightGBM adapter) on the stored rows ``keys`` names, read and
    trained by the cluster behind ``client``. Returns the window's data fingerprint. A worker
    lost on the way is a :class:`DriftkeeperError` (nothing of the night is written by then)."""
    import dask

    from ..adapters import _lightgbm_dask

    seqs = sorted(set(keys[SEQ].tolist()))
    hashed = [c for c in store.columns(seqs) if c not in (SEQ, POS, LABELLED_AT)]
    spec_d = dask.delayed(spec, pure=True)
    runs = _runs(keys)
    raw = [dask.delayed(_read, pure=True)(str(store._path(seq)), pos) for seq, pos in runs]
    try:
        with _worker_losses():
            raw = client.persist(raw)  # read once, kept on the workers for every pass of the night
            summaries = client.gather(client.compute([dask.delayed(_summary, pure=True)(r, spec_d, hashed) for r in raw]))
            categories = _merge_categories(spec, [s["categories"] for s in summaries])
            pieces = [(dask.delayed(_features, pure=True)(r, spec_d, categories), len(pos)) for r, (_, pos) in zip(raw, runs)]
            newest = pq.read_schema(store._path(seqs[-1])).empty_table().to_pandas()
            meta = spec.features_chunk(newest, categories)
            _lightgbm_dask.fit(candidate, pieces, meta, client, replay=_replay_sample(candidate, store, keys, spec, categories))
    finally:
        del raw
    return _fingerprint(spec, hashed, summaries)


def _replay_sample(candidate: Any, store: DataStore, keys: pd.DataFrame, spec: TableSpec,
                   categories: dict[str, list[Any]]) -> tuple[pd.DataFrame, np.ndarray] | None:
    """A seeded uniform sample of the window (``replay_size`` rows at most) for the replay
    reservoir, read here: the reservoir a local fit would hold is such a sample too."""
    size = min(int(getattr(candidate, "replay_size", 0) or 0), len(keys))
    if size == 0:
        return None
    rng = np.random.default_rng(getattr(candidate, "random_state", 0))
    rows = store.rows(keys.iloc[np.sort(rng.choice(len(keys), size=size, replace=False))])
    return _features(rows, spec, categories)


def fit_frame(adapter: Any, X: pd.DataFrame, y: Any, client: Any) -> Any:
    """``adapter.fit(X, y)`` (a LightGBM adapter) trained by the cluster: ``X`` and ``y`` are
    split into one piece per worker and sent there (version 1 of ``Keeper.init``, whose data is
    read in this process)."""
    from ..adapters import _lightgbm_dask

    y = np.asarray(y)
    bounds = np.linspace(0, len(X), min(_lightgbm_dask.workers(client), max(len(X), 1)) + 1).astype(int)
    futures = client.scatter([(X.iloc[a:b].reset_index(drop=True), y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    size = min(int(getattr(adapter, "replay_size", 0) or 0), len(X))
    idx = np.sort(np.random.default_rng(getattr(adapter, "random_state", 0)).choice(len(X), size=size, replace=False))
    try:
        with _worker_losses():
            return _lightgbm_dask.fit(adapter, list(zip(futures, np.diff(bounds))), X.iloc[:0], client,
                                      replay=(X.iloc[idx].reset_index(drop=True), y[idx]) if size else None)
    finally:
        client.cancel(futures)


@contextlib.contextmanager
def connect(address: str, timeout_s: float = 10.0) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``address`` for the block; InputError naming
    the address when it is malformed or nothing answers there within ``timeout_s`` seconds."""
    from distributed import Client

    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--dask-scheduler {address!r}: cannot reach a Dask scheduler there ({msg}); "
                         "expected the address of a running scheduler, like tcp://host:8786") from None
    with client:
        yield client
