"""Files and values for the registry: model artifacts (pickles), hashing, JSON checks, data fingerprints.

Private to :mod:`driftkeeper.registry`. Atomic writes are :mod:`driftkeeper._util.io`'s
(``fsync_dir`` and ``write_bytes_atomic`` are re-exported for the registry's modules).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import os
import pickle
import platform
import re
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from .._util.io import atomic_writer
from .._util.io import fsync_dir as fsync_dir, write_bytes_atomic as write_bytes_atomic  # re-exported
from .._util.testhooks import checkpoint
from ..exceptions import ConfigError

ARTIFACT = "model.joblib"
META = "meta.json"
DECISION = "decision.json"
TMP_RE = re.compile(r"^\..+\.tmp-\d+$")
_ATTACHMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "river", "evidently", "driftkeeper")


@functools.lru_cache(maxsize=None)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    from importlib.metadata import PackageNotFoundError, version

    out: list[tuple[str, str | None]] = [("python", platform.python_version())]
    for dist in LIBRARIES:
        try:
            out.append((dist, version(dist)))
        except PackageNotFoundError:
            out.append((dist, None))
    return tuple(out)


def library_versions() -> dict[str, str | None]:
    """Versions of python and the libraries a stored model may depend on (never imports them)."""
    return dict(_library_versions())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Where the classes pickled by earlier releases live now (module renamed -> its new home). A
#: root written by 0.1 keeps loading: unpickling looks the old names up here, nowhere else.
LEGACY_MODULES = {
    "driftkeeper.runner": "driftkeeper.keeper",
    "driftkeeper._table": "driftkeeper.table",
    "driftkeeper._stattests": "driftkeeper.monitor.stattests",
    "driftkeeper.report": "driftkeeper.monitor",
    "driftkeeper._metrics": "driftkeeper.metrics",
    "driftkeeper._store": "driftkeeper.keeper.store",
}
_LEGACY_LOCK = threading.Lock()


def load_model(blob: bytes) -> Any:
    """Unpickle an artifact written by :func:`dump_model_atomic` (this release or an earlier one).

    Artifacts of this release are plain pickles, read by Python's C unpickler. Earlier releases
    wrote them with ``joblib.dump``, whose arrays only ``joblib.load`` reads back; it reads them
    with a pure-Python unpickler, element by element for arrays of strings (a LendingClub
    bundle: 1.7 s against 0.02 s), so it is kept for those files only."""
    with _LEGACY_LOCK:
        added = []
        for old, new in LEGACY_MODULES.items():
            if old not in sys.modules:
                sys.modules[old] = importlib.import_module(new)
                added.append(old)
        try:
            if _JOBLIB_MODULE in blob and _JOBLIB_ARRAY in blob:
                import joblib

                return joblib.load(io.BytesIO(blob))
            return pickle.loads(blob)
        finally:
            for old in added:
                del sys.modules[old]


#: How a ``joblib.dump`` file names the wrapper of each array it holds. A plain pickle names
#: neither unless the model holds both strings as data — then it takes the slower path, correctly.
_JOBLIB_MODULE, _JOBLIB_ARRAY = b"joblib.numpy_pickle", b"NumpyArrayWrapper"
#: Protocol 4, not 5: protocol 5 pickles arrays through ``numpy._core.numeric``, which NumPy 1.26
#: (allowed by the requirements) cannot import; 4 names only ``numpy._core.multiarray``, as
#: joblib's files did, and reads back as fast.
PICKLE_PROTOCOL = 4


def dump_model_atomic(path: Path, model: Any) -> tuple[str, int]:
    """Pickle ``model`` to ``path`` atomically (:data:`PICKLE_PROTOCOL`; the file reads with
    ``pickle.load`` and with ``joblib.load``); returns (sha256, size) of the file."""
    sealed: dict[str, Any] = {}

    def seal(tmp: Path) -> None:
        sealed.update(sha=sha256_file(tmp), size=tmp.stat().st_size)
        checkpoint("registry:artifact-temp-written")

    with atomic_writer(path, before_replace=seal) as fh:
        pickle.dump(model, fh, protocol=PICKLE_PROTOCOL)
    return sealed["sha"], sealed["size"]


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def to_json(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, default=_json_default, **kw)


def jsonable(obj: Any, what: str, *, mapping: bool = True) -> Any:
    """``obj`` as plain JSON types (numpy scalars, datetimes and paths converted)."""
    if obj is None:
        return None
    if mapping and not isinstance(obj, Mapping):
        raise ConfigError(f"{what} must be a dict, got {type(obj).__name__}")
    try:
        return json.loads(to_json(obj))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be JSON-serialisable: {exc}") from exc


def attachment_payloads(attachments: Mapping[str, Any] | None, reserved: set[str]) -> dict[str, bytes]:
    """Validate attachment names and turn bytes / str (text) / Path (file to copy) into bytes."""
    if attachments is None:
        return {}
    if not isinstance(attachments, Mapping):
        raise ConfigError(f"attachments must be a dict of file name -> bytes/str/Path, got {type(attachments).__name__}")
    out: dict[str, bytes] = {}
    for name, value in attachments.items():
        if not isinstance(name, str) or not _ATTACHMENT_RE.match(name):
            raise ConfigError(
                f"attachment name {name!r} is invalid: expected a plain file name (letters, digits, '.', '_', '-')"
            )
        if name in reserved:
            raise ConfigError(f"attachment name {name!r} is reserved by the registry ({', '.join(sorted(reserved))})")
        if isinstance(value, bytes):
            out[name] = value
        elif isinstance(value, str):
            out[name] = value.encode("utf-8")
        elif isinstance(value, os.PathLike):
            p = Path(value)
            if not p.is_file():
                raise ConfigError(f"attachment {name!r}: file {str(p)!r} does not exist")
            out[name] = p.read_bytes()
        else:
            raise ConfigError(f"attachment {name!r} must be bytes, str or a Path, got {type(value).__name__}")
    return out


def _scalar(x: Any) -> Any:
    import pandas as pd

    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return None
    if isinstance(x, (pd.Timestamp, datetime, date)):
        return x.isoformat()
    if hasattr(x, "item"):
        return x.item()
    return x


def fingerprint(df: Any, time_column: str | None = None) -> dict[str, Any]:
    """A content fingerprint of a DataFrame: sha256, rows, columns (and time range).

    The sha256 covers the column names and dtypes and every value (``pd.util.hash_pandas_object``
    with the index), so any change to the frame changes it.

    Examples:
        >>> import pandas as pd
        >>> fp = fingerprint(pd.DataFrame({"t": pd.to_datetime(["2024-01-02", "2024-01-01"]), "x": [1, 2]}), "t")
        >>> fp["rows"], fp["columns"], fp["time_min"], fp["time_max"]
        (2, ['t', 'x'], '2024-01-01T00:00:00', '2024-01-02T00:00:00')
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"data must be a pandas DataFrame or a fingerprint dict, got {type(df).__name__}")
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode("utf-8"))
    try:
        h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    except TypeError as exc:
        raise ConfigError(f"data cannot be fingerprinted (unhashable values): {exc}") from exc
    fp: dict[str, Any] = {"sha256": h.hexdigest(), "rows": int(len(df)), "columns": [str(c) for c in df.columns]}
    if time_column is not None:
        if time_column not in df.columns:
            raise ConfigError(
                f"time column {time_column!r} is not in the data; columns are {[str(c) for c in df.columns]}"
            )
        col = df[time_column]
        fp["time_column"] = time_column
        fp["time_min"] = _scalar(col.min()) if len(col) else None
        fp["time_max"] = _scalar(col.max()) if len(col) else None
    return fp
