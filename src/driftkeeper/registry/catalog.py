"""The registry's SQLite catalog: schema, connections and the few queries that need care.

Private to :mod:`driftkeeper.registry`. The catalog is ``ROOT/catalog.sqlite`` in WAL mode.

Format 1::

    meta(key PRIMARY KEY, value)            format_version, created_at, last_version
    versions(version INTEGER PRIMARY KEY,   one row per complete version; the row is committed
             created_at, action, parent,    only after the version folder (artifact, meta.json,
             sha256, size_bytes, folder,    attachments) is complete on disk
             libraries JSON,                (apart: mostly identical, parsed once per query)
             doc JSON)                      data, metrics, decision, model, tags, attachments
    aliases(alias PRIMARY KEY, version, updated_at)
    alias_events(id AUTOINCREMENT, alias, from_version, to_version, at, reason, kind)
                                            every alias move, append only; ``at`` is a fixed-width
                                            UTC string (sorts as text) and never goes backwards

``meta.last_version`` is the highest number ever handed out, so numbers are never reused, not
even after ``gc`` removed the newest versions or a crash left an orphan folder behind.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..exceptions import RegistryError

FORMAT_VERSION = 1
CATALOG_NAME = "catalog.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    action TEXT NOT NULL,
    parent INTEGER,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    folder TEXT NOT NULL,
    libraries TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS aliases_version ON aliases(version);
CREATE TABLE IF NOT EXISTS alias_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alias TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER NOT NULL,
    at TEXT NOT NULL,
    reason TEXT,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alias_events_alias_at ON alias_events(alias, at, id);
CREATE INDEX IF NOT EXISTS alias_events_to ON alias_events(to_version);
"""

VERSION_COLUMNS = "version, created_at, action, parent, sha256, size_bytes, folder, libraries, doc"
VERSION_PLACEHOLDERS = ", ".join("?" * 9)


def utc_text(dt: datetime) -> str:
    """Fixed-width UTC text for ``dt`` (aware): sorts in time order as plain text."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def now_text() -> str:
    return utc_text(datetime.now(timezone.utc))


def connect_read(path: Path) -> sqlite3.Connection:
    """A connection for reading that cannot change the catalog (``PRAGMA query_only``).

    It is opened ``mode=rw`` (never creates the file) rather than ``mode=ro``: SQLite needs the
    ``-wal``/``-shm`` files to read a WAL database, and a read-only connection leaves them behind
    when it is the last one to close, while a read-write one removes them, so a read leaves the
    folder exactly as it found it. On a read-only file system it falls back to ``mode=ro``.
    """
    uri = path.absolute().as_uri()
    try:
        try:
            con = sqlite3.connect(uri + "?mode=rw", uri=True, timeout=30.0, isolation_level=None)
        except sqlite3.OperationalError:
            con = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise RegistryError(f"catalog {str(path)!r} cannot be opened for reading: {exc}") from exc
    return con


def connect_write(path: Path) -> sqlite3.Connection:
    """A read-write connection in autocommit mode; use :func:`transaction` for changes."""
    try:
        con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        raise RegistryError(f"catalog {str(path)!r} cannot be opened for writing: {exc}") from exc
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def initialize(con: sqlite3.Connection) -> None:
    """Create the schema (idempotent) and record the format version."""
    with transaction(con):
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                con.execute(stmt)
        con.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('format_version', ?), ('created_at', ?),"
            " ('last_version', '0')",
            (str(FORMAT_VERSION), now_text()),
        )


def read_format_version(con: sqlite3.Connection, path: Path) -> int:
    """The catalog's format version; RegistryError when the file is not a driftkeeper catalog.

    0 means an empty SQLite file (a writer died while creating the catalog): it is initialized
    by the next writer.
    """
    try:
        if con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            return 0
        row = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise RegistryError(
            f"{str(path)!r} is not a driftkeeper catalog ({exc}); expected a SQLite catalog written by driftkeeper"
        ) from exc
    if row is None:
        raise RegistryError(f"{str(path)!r} is not a driftkeeper catalog: its meta table has no format_version")
    try:
        return int(row[0])
    except ValueError as exc:
        raise RegistryError(f"catalog {str(path)!r} has an unreadable format_version {row[0]!r}") from exc


def is_initialized(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None


def allocate_number(con: sqlite3.Connection, versions_dir: Path) -> int:
    """Hand out the next version number and commit it at once (never reused, even after a crash)."""
    with transaction(con):
        last = int(con.execute("SELECT value FROM meta WHERE key = 'last_version'").fetchone()[0])
        top = con.execute("SELECT max(version) FROM versions").fetchone()[0] or 0
        n = max(last, top) + 1
        while (versions_dir / folder_name(n)).exists():
            n += 1  # an orphan folder from a crashed writer holds this number
        con.execute("UPDATE meta SET value = ? WHERE key = 'last_version'", (str(n),))
    return n


def folder_name(version: int) -> str:
    return f"v{version:04d}"


def last_event_at(con: sqlite3.Connection) -> str | None:
    row = con.execute("SELECT at FROM alias_events ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def newest_rows(con: sqlite3.Connection, limit: int | None) -> tuple[list[tuple], str | None]:
    """Rows of :data:`VERSION_COLUMNS`, newest first, and the newest version's ``libraries``.

    ``libraries`` (never NULL in the table) comes back as NULL in every row where it equals that
    text: versions mostly share one set of library versions, and this way it is not turned into
    a new Python string for each of 10,000 rows. NULL means "the returned text", exactly.
    """
    top = con.execute("SELECT libraries FROM versions ORDER BY version DESC LIMIT 1").fetchone()
    shared = None if top is None else top[0]
    rows = con.execute(
        "SELECT version, created_at, action, parent, sha256, size_bytes, folder, NULLIF(libraries, ?), doc"
        " FROM versions ORDER BY version DESC LIMIT ?",
        (shared, -1 if limit is None else limit),
    ).fetchall()
    return rows, shared


def champion_stack(con: sqlite3.Connection, alias: str) -> list[int]:
    """Replay the alias's moves into the stack rollback walks back through.

    A ``promote`` to X pushes X. A ``rollback`` to X truncates the stack just after the last
    earlier occurrence of X (walking back), or pushes X when X is not below the top.
    """
    stack: list[int] = []
    for kind, to in con.execute(
        "SELECT kind, to_version FROM alias_events WHERE alias = ? ORDER BY id", (alias,)
    ):
        apply_move(stack, kind, to)
    return stack


def apply_move(stack: list[int], kind: str, to: int) -> None:
    if kind == "rollback" and to in stack[:-1]:
        i = len(stack) - 2 - stack[-2::-1].index(to)
        del stack[i + 1 :]
    else:
        stack.append(to)
