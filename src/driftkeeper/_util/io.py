"""Reading user tables (CSV, gzip CSV, parquet) with one-line errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pandas as pd

from ..exceptions import InputError

__all__ = ["read_table", "write_json_atomic"]

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


def read_table(path: str | Path, *, what: str = "file") -> pd.DataFrame:
    """Read a CSV (plain or gzip) or parquet file into a DataFrame.

    The format is taken from the file's content, not its name, so a mislabelled file is
    still read or refused with a message saying what it is. Every failure raises
    :class:`~driftkeeper.exceptions.InputError` with a one-line message naming the file.
    """
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
            df = pd.read_csv(p, compression="gzip" if kind == "csv.gz" else None, low_memory=False)
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


def write_json_atomic(path: str | Path, obj: object) -> None:
    """Write ``obj`` as indented JSON through a temp file + fsync + rename."""
    import json
    import os

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
