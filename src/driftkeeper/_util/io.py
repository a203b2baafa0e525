"""Files: reading user tables (CSV, gzip CSV, parquet) with one-line errors that name the
file, and atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

from ..exceptions import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "atomic_writer", "fsync_dir", "read_table", "temp_path", "write_bytes_atomic", "write_json_atomic",
    "write_text_atomic",
]

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


def _sniff(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_GZIP_MAGIC):
        return "csv.gz"
    if b"\x00" in head:
        return "binary"
    return "csv"


_SEPARATORS = (",", ";", "\t", "|")
_DECIMAL_COMMA = r"^\s*[-+]?(\d+,\d*|,\d+|\d+)([eE][-+]?\d+)?\s*$"


def _separator(path: Path, kind: str) -> str:
    """The field separator of a CSV: the one of ``, ; tab |`` its header line holds most often
    (a comma when it holds none: a one-column file)."""
    opener = gzip.open if kind == "csv.gz" else open
    try:
        with opener(path, "rb") as fh:
            header = fh.readline(65536).decode("utf-8", errors="replace")
    except (OSError, EOFError, zlib.error):
        return ","  # pandas reports what is wrong with the file
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _decimal_commas(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns of a ``;``-separated file that hold only numbers written with a decimal
    comma (``12,5``), as numbers."""
    import pandas as pd

    for c in df.columns:
        s = df[c]
        if s.dtype != object:
            continue
        values = s.dropna()
        if len(values) and values.map(lambda v: isinstance(v, str)).all() and values.str.match(_DECIMAL_COMMA).all():
            df[c] = pd.to_numeric(s.str.replace(",", ".", regex=False))
    return df


def read_table(path: str | Path, *, what: str = "file") -> pd.DataFrame:
    """Read a CSV (plain or gzip) or parquet file into a DataFrame.

    The format is taken from the file's content, not its name, so a mislabelled file is
    still read or refused with a message saying what it is. A CSV's field separator is the one
    of ``, ; tab |`` its header line holds most often; in a ``;``-separated file (a spreadsheet
    saved in a locale that writes ``12,5``) a text column holding only such numbers is read as
    numbers. A UTF-8 byte-order mark and CRLF line ends are read like plain UTF-8 text. Every failure raises
    :class:`~driftkeeper.exceptions.InputError` with a one-line message naming the file.
    """
    import pandas as pd  # here: the registry writes through this module and stays light

    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {str(p)!r} does not exist")
    if p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a directory, expected a CSV or parquet file")
    try:
        kind = _sniff(p)
    except OSError as exc:
        raise InputError(f"{what} {str(p)!r} cannot be read: {exc.strerror or exc}") from exc
    try:
        if kind == "parquet":
            df = pd.read_parquet(p)
        elif kind == "binary":
            raise InputError(
                f"{what} {str(p)!r} is not a CSV or parquet file (binary content); expected .csv, .csv.gz or .parquet"
            )
        else:
            sep = _separator(p, kind)
            df = pd.read_csv(p, compression="gzip" if kind == "csv.gz" else None, sep=sep, low_memory=False)
            if sep == ";":
                df = _decimal_commas(df)
    except InputError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{what} {str(p)!r} is empty: expected a header row and data rows") from exc
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{what} {str(p)!r} is a truncated or corrupt gzip file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {str(p)!r} is not UTF-8 text; expected a CSV or parquet file") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what} {str(p)!r} cannot be parsed: {msg}") from exc
    except Exception as exc:  # pyarrow raises its own hierarchy
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what} {str(p)!r} cannot be read: {msg}") from exc
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise InputError(f"{what} {str(p)!r} has duplicate column names: {dup}")
    return df


# --------------------------------------------------------------------------- atomic writes
# A file written here is either the old one or the whole new one, also after a power cut:
# the bytes go to a temp file in the same folder, are fsynced, the temp file is renamed over
# the target, and the folder is fsynced so the rename itself is on disk. Temp files are named
# ``.<name>.tmp-<pid>`` (the registry's verify and gc find the ones a killed process left).


def temp_path(path: Path) -> Path:
    """Where :func:`atomic_writer` writes ``path`` before renaming it."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def fsync_dir(path: str | Path) -> None:
    """fsync a folder, so that files created, renamed or removed in it are on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(
    path: str | Path, *, text: bool = False, before_replace: Callable[[Path], None] | None = None
) -> Iterator[IO[Any]]:
    """A file handle whose content replaces ``path`` atomically when the block ends.

    The parent folder is created if needed. When the block raises, the temp file is removed
    and ``path`` is left as it was. ``before_replace(temp)`` runs after the temp file is
    fsynced and before the rename (the registry hashes the file and marks a kill point there).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(p)
    try:
        with open(tmp, "w" if text else "wb", encoding="utf-8" if text else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(p.parent)


def write_bytes_atomic(path: str | Path, payload: bytes) -> str:
    """Write ``payload`` to ``path`` atomically (see :func:`atomic_writer`); returns its sha256."""
    with atomic_writer(path) as fh:
        fh.write(payload)
    return hashlib.sha256(payload).hexdigest()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, text=True) as fh:
        fh.write(text)


def write_json_atomic(path: str | Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_writer`).

    Values JSON has no type for (datetimes, paths, numpy scalars) are written as their text.
    """
    with atomic_writer(path, text=True) as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
