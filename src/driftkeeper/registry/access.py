"""The way into a registry root's catalog: read connections, and write connections under the lock.

Private to :mod:`driftkeeper.registry`. :class:`~driftkeeper.registry.registry.Registry` and the
upkeep functions (:mod:`driftkeeper.registry.upkeep`) both work through a :class:`CatalogAccess`,
so upkeep needs nothing from the Registry and the imports run one way: registry → upkeep → access.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import catalog as cat
from .files import fsync_dir
from ..exceptions import LockError, RegistryError

__all__ = ["CatalogAccess", "LOCK_NAME", "VERSIONS_DIR"]

LOCK_NAME = ".registry.lock"
VERSIONS_DIR = "versions"


class CatalogAccess:
    """The paths of one registry root and its two kinds of catalog connection.

    ``reading()`` never creates anything: a root without a catalog reads as an empty registry.
    ``writing()`` takes the writer lock (``ROOT/.registry.lock``, waiting up to ``lock_timeout``
    seconds, else :class:`~driftkeeper.exceptions.LockError`) and creates the catalog and the
    versions folder on first use, unless ``create`` is False (then RegistryError).
    """

    def __init__(self, root: Path, *, lock_timeout: float, create: bool) -> None:
        self.root = root
        self.catalog_path = root / cat.CATALOG_NAME
        self.versions_dir = root / VERSIONS_DIR
        self.lock_timeout = lock_timeout
        self.create = create
        self._lock: Any = None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read connection; an in-memory empty catalog when the root has none yet."""
        con = cat.connect_read(self.catalog_path) if self.catalog_path.exists() else None
        if con is not None and not cat.is_initialized(con):
            con.close()
            con = None
        if con is None:
            con = sqlite3.connect(":memory:", isolation_level=None)
            cat.initialize(con)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A write connection, held with the writer lock for the whole block."""
        from filelock import FileLock, Timeout

        if not self.create and not self.catalog_path.exists():
            raise RegistryError(
                f"registry {str(self.root)!r} is empty (no {cat.CATALOG_NAME} yet) and was opened with create=False"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = FileLock(str(self.root / LOCK_NAME), timeout=self.lock_timeout)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise LockError(
                f"registry {str(self.root)!r} is locked by another writer ({LOCK_NAME}); "
                f"gave up after waiting {self.lock_timeout:g}s"
            ) from exc
        try:
            con = cat.connect_write(self.catalog_path)
            try:
                if not cat.is_initialized(con):
                    cat.initialize(con)
                    self.versions_dir.mkdir(exist_ok=True)
                    fsync_dir(self.root)
                yield con
            finally:
                con.close()
        finally:
            self._lock.release()
