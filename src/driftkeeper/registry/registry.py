"""Versioned model registry: versions on disk, a SQLite catalog, aliases, rollback, verify, gc.

Layout of a registry ``ROOT`` (the runner keeps its own ``data/``, ``runs/``, ``keeper.json`` and
``.run.lock`` there too; the registry ignores them)::

    ROOT/catalog.sqlite            the catalog (SQLite, WAL); see driftkeeper.registry.catalog
    ROOT/.registry.lock            one writer at a time (filelock)
    ROOT/versions/v0007/           one folder per version
        model.joblib               the artifact, a pickle (its sha256 is in the catalog)
        meta.json                  human-readable copy of the version's metadata
        decision.json              the decision that produced it (when given)
        <attachments>              drift report JSON/HTML, ...

Crash safety: ``register`` takes the writer lock, commits a new number (never reused), writes
every file of the folder through temp file + fsync + rename, and only then commits the catalog
row in one transaction. A writer killed at any moment leaves either no version (at most an
orphan folder or temp file, which :meth:`Registry.verify` reports as removable and
:meth:`Registry.gc` removes) or a complete one. Readers only see committed rows.

Checkpoints (:func:`driftkeeper._util.testhooks.checkpoint`), in order: ``registry:number-allocated``
(number committed, no folder yet), ``registry:artifact-temp-written`` (temp artifact fsynced, not
renamed), ``registry:artifact-written``, ``registry:attachments-written``, ``registry:meta-written``,
``registry:before-commit`` (row inserted, transaction open), ``registry:after-commit``;
``registry:promote-before-commit`` / ``registry:promote-after-commit``,
``registry:rollback-before-commit``, ``registry:gc-after-commit`` (rows deleted, folders not yet).

Rollback: every move of an alias is recorded. For an alias, the moves replay into a *stack*:
``promote`` to X pushes X; ``rollback`` pops the current holder and moves the alias to the
version now on top — the one that held the alias before the current one got it. Repeated
rollbacks keep walking back (promote 1, 2, 3; rollback -> 2; rollback -> 1; rollback -> error),
never ping-pong. ``rollback(to=X)`` truncates the stack just after the last earlier occurrence of
X (or pushes X when it never held the alias below the top). Nothing is ever deleted by a rollback.

Examples:
    >>> import tempfile
    >>> reg = Registry(tempfile.mkdtemp())
    >>> v1 = reg.register({"w": 1}, action="initial")
    >>> v2 = reg.register({"w": 2}, action="retrain", parent=v1.version)
    >>> _ = reg.promote(1); _ = reg.promote(2)
    >>> reg.rollback().tag, reg.load("champion")
    ('v0001', {'w': 1})
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from . import catalog as cat
from . import upkeep
from .access import VERSIONS_DIR, CatalogAccess
from .files import (
    ARTIFACT,
    DECISION,
    META,
    attachment_payloads,
    dump_model_atomic,
    fingerprint,
    fsync_dir,
    jsonable,
    library_versions,
    load_model,
    to_json,
    write_bytes_atomic,
)
from .types import (
    AliasMove,
    CatalogSource,
    GcResult,
    LibraryVersionWarning,
    ModelVersion,
    Problem,
    check_alias,
    from_catalog_rows,
    parse_when,
)
from .types import tag as _tag
from .._util.suggest import suggest
from .._util.testhooks import checkpoint
from ..exceptions import ConfigError, IntegrityError, NotFoundError, RegistryError

__all__ = [
    "ACTIONS",
    "AliasMove",
    "GcResult",
    "LibraryVersionWarning",
    "ModelVersion",
    "Problem",
    "Registry",
    "fingerprint",
    "library_versions",
]

ACTIONS = ("initial", "warm_start", "online_update", "retrain", "manual")
#: entries of ROOT that belong to the registry or to the runner sharing the folder
_COMPANIONS = frozenset(
    {"data", "runs", "keeper.json", "state.json", "policy.yaml", VERSIONS_DIR}
    | {cat.CATALOG_NAME + suffix for suffix in ("", "-wal", "-shm", "-journal")}
)
_REF_RE = re.compile(r"^v?(\d+)$")


class Registry:
    """A versioned model registry stored in the folder ``root``.

    Args:
        root: the registry folder. A missing or empty folder (or one holding only the runner's
            ``data/``, ``runs/``, ``keeper.json``, ``state.json``, ``policy.yaml``, dotfiles) becomes an empty registry; a folder
            holding anything else without a catalog, or a catalog of a newer format, is refused
            with :class:`~driftkeeper.exceptions.RegistryError`.
        lock_timeout: seconds a writer waits for another writer before raising
            :class:`~driftkeeper.exceptions.LockError`.
        create: with ``False`` nothing is ever created on open: a missing root raises
            RegistryError and an empty root reads as an empty registry (the CLI's read commands).

    Opening reads one row of the catalog. Read methods (``get``, ``load``, ``history``,
    ``aliases``, ``served_at``, ``alias_history``, ``verify``, ``gc(dry_run=True)``) never change
    any file.
    """

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = 60.0, create: bool = True) -> None:
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or not lock_timeout >= 0:
            raise ConfigError(f"lock_timeout must be a number of seconds >= 0, got {lock_timeout!r}")
        self._access = CatalogAccess(Path(root), lock_timeout=float(lock_timeout), create=create)
        self.root = self._access.root
        self.lock_timeout = self._access.lock_timeout
        self.catalog_path = self._access.catalog_path
        self.versions_dir = self._access.versions_dir
        root_s = str(self.root)
        if self.root.exists() and not self.root.is_dir():
            raise RegistryError(f"registry root {root_s!r} is a file, expected a folder")
        if self.catalog_path.exists():
            con = cat.connect_read(self.catalog_path)
            try:
                fmt = cat.read_format_version(con, self.catalog_path)
            finally:
                con.close()
            if fmt == 0:  # an empty catalog file left by a writer killed while creating it
                if create:
                    with self._access.writing():
                        pass
                return
            if fmt > cat.FORMAT_VERSION:
                from .. import __version__

                raise RegistryError(
                    f"catalog {str(self.catalog_path)!r} has format version {fmt}; driftkeeper {__version__} "
                    f"reads format {cat.FORMAT_VERSION} or older: upgrade driftkeeper"
                )
            return
        if not self.root.exists():
            if not create:
                raise RegistryError(f"registry root {root_s!r} does not exist")
        else:
            names = os.listdir(self.root)
            foreign = sorted(n for n in names if n not in _COMPANIONS and not n.startswith("."))
            if foreign:
                shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
                raise RegistryError(
                    f"{root_s!r} is not a driftkeeper registry: it has no {cat.CATALOG_NAME} and holds {shown}; "
                    "expected an empty folder or an existing registry"
                )
            if self.versions_dir.is_dir() and os.listdir(self.versions_dir):
                raise RegistryError(
                    f"{root_s!r} has a versions/ folder but no {cat.CATALOG_NAME} (catalog lost?); "
                    "refusing to start an empty catalog over existing versions"
                )
        if create:
            with self._access.writing():
                pass

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ------------------------------------------------------------------ reading rows
    def _aliases_of(self, con: sqlite3.Connection, version: int | None = None) -> dict[int, list[str]]:
        if version is None:
            rows = con.execute("SELECT alias, version FROM aliases ORDER BY alias").fetchall()
        else:
            rows = con.execute(
                "SELECT alias, version FROM aliases WHERE version = ? ORDER BY alias", (version,)
            ).fetchall()
        out: dict[int, list[str]] = {}
        for alias, v in rows:
            out.setdefault(v, []).append(alias)
        return out

    def _row(self, con: sqlite3.Connection, version: int) -> tuple | None:
        return con.execute(f"SELECT {cat.VERSION_COLUMNS} FROM versions WHERE version = ?", (version,)).fetchone()

    def _get(self, con: sqlite3.Connection, version: int) -> ModelVersion:
        row = self._row(con, version)
        if row is None:
            raise NotFoundError(f"version {_tag(version)} is not in registry {str(self.root)!r} (removed by gc?)")
        return from_catalog_rows([row], CatalogSource(self.versions_dir), self._aliases_of(con, version))[0]

    def _what_exists(self, con: sqlite3.Connection) -> str:
        n, lo, hi = con.execute("SELECT count(*), min(version), max(version) FROM versions").fetchone()
        versions = f"versions {_tag(lo)}..{_tag(hi)} ({n} in all)" if n else "no versions"
        aliases = con.execute("SELECT alias, version FROM aliases ORDER BY alias").fetchall()
        shown = ", ".join(f"{a} -> {_tag(v)}" for a, v in aliases) if aliases else "none"
        return f"it holds {versions}; aliases: {shown}"

    def _resolve(self, con: sqlite3.Connection, ref: Any) -> int:
        if isinstance(ref, ModelVersion):
            ref = ref.version
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise ConfigError(
                f"version reference {ref!r} must be an int, a digit string, a tag like 'v7' or an alias name"
            )
        where = f"registry {str(self.root)!r}"
        if isinstance(ref, str):
            m = _REF_RE.match(ref.strip())
            if m is None:
                row = con.execute("SELECT version FROM aliases WHERE alias = ?", (ref.strip(),)).fetchone()
                if row is None:
                    raise NotFoundError(f"alias {ref!r} is not set in {where}; {self._what_exists(con)}")
                return int(row[0])
            version = int(m.group(1))
        else:
            version = ref
        if con.execute("SELECT 1 FROM versions WHERE version = ?", (version,)).fetchone() is None:
            raise NotFoundError(f"version {ref!r} is not in {where}; {self._what_exists(con)}")
        return version

    # ------------------------------------------------------------------ public reads
    def get(self, ref: int | str) -> ModelVersion:
        """The version for ``ref``: an int, ``"7"``, a tag ``"v0007"``/``"v7"`` or an alias name."""
        with self._access.reading() as con:
            return self._get(con, self._resolve(con, ref))

    def load(self, ref: int | str) -> Any:
        """The stored model object, after checking the artifact's sha256 (before unpickling).

        Raises IntegrityError when the artifact is missing or altered (nothing is unpickled);
        warns with :class:`LibraryVersionWarning` when library versions differ from the saved ones.
        """
        mv = self.get(ref)
        path = mv.path / ARTIFACT
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise IntegrityError(f"version {mv.tag}: artifact {str(path)!r} is missing (expected sha256 {mv.sha256})") from exc
        actual = hashlib.sha256(blob).hexdigest()
        if actual != mv.sha256:
            raise IntegrityError(
                f"version {mv.tag}: artifact {str(path)!r} has sha256 {actual} but the catalog records {mv.sha256}; "
                "refusing to unpickle it"
            )
        now = library_versions()
        differ = [
            f"{lib} {saved} (now {now.get(lib) or 'not installed'})"
            for lib, saved in mv.libraries.items()
            if saved is not None and now.get(lib, saved) != saved
        ]
        if differ:
            warnings.warn(
                f"version {mv.tag} was saved with different library versions: {', '.join(differ)}",
                LibraryVersionWarning,
                stacklevel=2,
            )
        return load_model(blob)

    def history(self, limit: int | None = None) -> list[ModelVersion]:
        """Versions, newest first (at most ``limit``)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise ConfigError(f"limit must be a positive int or None, got {limit!r}")
        with self._access.reading() as con:
            rows, shared_libraries = cat.newest_rows(con, limit)
            aliases = self._aliases_of(con)
        return from_catalog_rows(rows, CatalogSource(self.versions_dir, shared_libraries), aliases)

    def latest(self) -> ModelVersion | None:
        """The newest version, or None when the registry is empty."""
        out = self.history(limit=1)
        return out[0] if out else None

    def __len__(self) -> int:
        with self._access.reading() as con:
            return int(con.execute("SELECT count(*) FROM versions").fetchone()[0])

    def aliases(self) -> dict[str, int]:
        """Current aliases: ``{alias: version}``, sorted by alias."""
        with self._access.reading() as con:
            return dict(con.execute("SELECT alias, version FROM aliases ORDER BY alias").fetchall())

    def alias_history(self, alias: str | None = None) -> list[AliasMove]:
        """Every alias move (of ``alias``, or of all aliases), newest first."""
        sql = "SELECT alias, from_version, to_version, at, reason, kind FROM alias_events"
        args: tuple = ()
        if alias is not None:
            sql += " WHERE alias = ?"
            args = (alias,)
        with self._access.reading() as con:
            rows = con.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [AliasMove(a, f, t, datetime.fromisoformat(at), r, k) for a, f, t, at, r, k in rows]

    def served_at(self, when: datetime | str, alias: str = "champion") -> ModelVersion | None:
        """The version that held ``alias`` at ``when`` (aware datetime or ISO-8601 with offset).

        A move made exactly at ``when`` counts. None before the alias's first move.
        """
        at = cat.utc_text(parse_when(when))
        with self._access.reading() as con:
            row = con.execute(
                "SELECT to_version FROM alias_events WHERE alias = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1",
                (alias, at),
            ).fetchone()
            return None if row is None else self._get(con, row[0])

    def rollback_target(self, alias: str = "champion") -> ModelVersion | None:
        """The version :meth:`rollback` (without ``to``) would move ``alias`` to, or None if it cannot.

        Read-only; use it to decide whether a rollback is possible before asking for one.
        """
        with self._access.reading() as con:
            stack = cat.champion_stack(con, alias)
            if len(stack) < 2 or self._row(con, stack[-2]) is None:
                return None
            return self._get(con, stack[-2])

    # ------------------------------------------------------------------ writes
    def register(
        self,
        model: Any,
        *,
        action: str,
        parent: int | str | None = None,
        metrics: Mapping[str, Any] | None = None,
        data: Any = None,
        decision: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        attachments: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
    ) -> ModelVersion:
        """Store ``model`` as a new version and return it.

        Args:
            model: any picklable object; its ``describe()`` (if any) is recorded.
            action: one of :data:`ACTIONS`.
            parent: the version it was derived from (any ref; stored as an int).
            metrics: JSON-able dict (numpy scalars are converted).
            data: a DataFrame (fingerprinted with :func:`fingerprint`) or a fingerprint dict.
            decision: the JSON-able decision that produced the version (stored in decision.json).
            tags: ``{str: str}``.
            attachments: ``{file name: bytes | str (text) | Path (copied)}`` stored in the folder.
        """
        entry = self._checked_entry(model, action, metrics, data, decision, tags, attachments)
        with self._access.writing() as con:
            parent_v = None if parent is None else self._resolve(con, parent)
            number = cat.allocate_number(con, self.versions_dir)
            checkpoint("registry:number-allocated")
            folder = self.versions_dir / _tag(number)
            self.versions_dir.mkdir(exist_ok=True)
            folder.mkdir()
            try:
                mv, meta = self._write_folder(folder, number, model, parent_v, entry)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            doc = to_json({k: meta[k] for k in ("data", "metrics", "decision", "model", "tags", "attachments")})
            with cat.transaction(con):
                con.execute(
                    f"INSERT INTO versions({cat.VERSION_COLUMNS}) VALUES ({cat.VERSION_PLACEHOLDERS})",
                    (number, cat.utc_text(mv.created_at), entry["action"], parent_v, mv.sha256, mv.size_bytes,
                     folder.name, to_json(mv.libraries), doc),
                )
                checkpoint("registry:before-commit")
            checkpoint("registry:after-commit")
        return mv

    @staticmethod
    def _checked_entry(model: Any, action: str, metrics: Any, data: Any, decision: Any, tags: Any,
                       attachments: Any) -> dict[str, Any]:
        """``register``'s arguments checked and made JSON-able, before any lock is taken; the
        folder's files other than the artifact and meta.json are in ``payloads``."""
        if action not in ACTIONS:
            raise ConfigError(
                f"unknown action {action!r}{suggest(str(action), ACTIONS)}; expected one of {', '.join(ACTIONS)}"
            )
        metrics_j = jsonable(metrics or {}, "metrics")
        decision_j = jsonable(decision, "decision")
        data_j = jsonable(data, "data") if data is None or isinstance(data, Mapping) else fingerprint(data)
        if tags is not None and (
            not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise ConfigError(f"tags must be a dict of str -> str, got {tags!r}")
        reserved = {ARTIFACT, META} | ({DECISION} if decision is not None else set())
        payloads = attachment_payloads(attachments, reserved)
        if decision_j is not None:
            payloads[DECISION] = (to_json(decision_j, indent=2) + "\n").encode("utf-8")
        describe = getattr(model, "describe", None)
        model_info = jsonable(describe(), "model.describe()") if callable(describe) else {}
        model_info.setdefault("class", f"{type(model).__module__}.{type(model).__qualname__}")
        return {
            "action": action,
            "metrics": metrics_j,
            "data": data_j,
            "decision": decision_j,
            "tags": dict(tags or {}),
            "payloads": payloads,
            "model": model_info,
        }

    def _write_folder(self, folder: Path, number: int, model: Any, parent: int | None,
                      entry: dict[str, Any]) -> tuple[ModelVersion, dict[str, Any]]:
        """Write version ``number``'s files into ``folder`` (artifact, attachments, meta.json; each
        through temp file + fsync + rename) and return its ModelVersion and meta.json content."""
        try:
            sha, size = dump_model_atomic(folder / ARTIFACT, model)
        except Exception as exc:
            raise RegistryError(f"model of class {entry['model']['class']} cannot be stored (pickled): {exc}") from exc
        checkpoint("registry:artifact-written")
        stored = {name: write_bytes_atomic(folder / name, blob) for name, blob in entry["payloads"].items()}
        checkpoint("registry:attachments-written")
        mv = ModelVersion(
            version=number,
            tag=_tag(number),
            created_at=datetime.now(timezone.utc),
            action=entry["action"],
            parent=parent,
            data=entry["data"],
            metrics=entry["metrics"],
            decision=entry["decision"],
            model=entry["model"],
            libraries=library_versions(),
            sha256=sha,
            size_bytes=size,
            tags=entry["tags"],
            attachments=stored,
            path=folder,
        )
        meta = mv.to_dict()
        del meta["path"], meta["aliases"]
        meta["registry_format"] = cat.FORMAT_VERSION
        write_bytes_atomic(folder / META, (to_json(meta, indent=2) + "\n").encode("utf-8"))
        fsync_dir(folder)
        fsync_dir(self.versions_dir)
        checkpoint("registry:meta-written")
        return mv, meta

    def _event_time(self, con: sqlite3.Connection) -> str:
        now, last = cat.now_text(), cat.last_event_at(con)
        return last if last is not None and last > now else now  # never goes backwards

    def _move(self, con: sqlite3.Connection, alias: str, to: int, reason: str | None, kind: str) -> None:
        row = con.execute("SELECT version FROM aliases WHERE alias = ?", (alias,)).fetchone()
        at = self._event_time(con)
        con.execute(
            "INSERT INTO aliases(alias, version, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
            (alias, to, at),
        )
        con.execute(
            "INSERT INTO alias_events(alias, from_version, to_version, at, reason, kind) VALUES (?, ?, ?, ?, ?, ?)",
            (alias, row[0] if row else None, to, at, reason, kind),
        )

    def promote(self, ref: int | str, alias: str = "champion", reason: str | None = None) -> ModelVersion:
        """Point ``alias`` at ``ref`` in one transaction and record the move.

        Promoting the version that already holds the alias changes nothing and records nothing.
        """
        check_alias(alias)
        if reason is not None and not isinstance(reason, str):
            raise ConfigError(f"reason must be a string, got {type(reason).__name__}")
        with self._access.writing() as con:
            with cat.transaction(con):
                version = self._resolve(con, ref)
                cur = con.execute("SELECT version FROM aliases WHERE alias = ?", (alias,)).fetchone()
                if cur is None or cur[0] != version:
                    self._move(con, alias, version, reason, "promote")
                    checkpoint("registry:promote-before-commit")
            if cur is None or cur[0] != version:
                checkpoint("registry:promote-after-commit")
            return self._get(con, version)

    def rollback(self, to: int | str | None = None, reason: str | None = None, alias: str = "champion") -> ModelVersion:
        """Move ``alias`` back one step (see the module docstring), or to ``to``; returns the new holder.

        An alias move, not a new version; nothing is deleted. RegistryError when the alias was never
        set, has no earlier holder, ``to`` already holds it, or the target was removed by gc.
        """
        check_alias(alias)
        if reason is not None and not isinstance(reason, str):
            raise ConfigError(f"reason must be a string, got {type(reason).__name__}")
        with self._access.writing() as con:
            with cat.transaction(con):
                cur = con.execute("SELECT version FROM aliases WHERE alias = ?", (alias,)).fetchone()
                if cur is None:
                    raise RegistryError(f"cannot roll back {alias}: no version has been promoted to {alias} yet")
                if to is None:
                    stack = cat.champion_stack(con, alias)
                    if len(stack) < 2:
                        raise RegistryError(
                            f"cannot roll back {alias}: {_tag(cur[0])} is the earliest {alias} left in its history, "
                            "there is no earlier one (promote a version instead)"
                        )
                    target = stack[-2]
                else:
                    target = self._resolve(con, to)
                    if target == cur[0]:
                        raise RegistryError(f"cannot roll back {alias} to {_tag(target)}: it already holds {alias}")
                if self._row(con, target) is None:
                    raise RegistryError(f"cannot roll back {alias} to {_tag(target)}: that version was removed by gc")
                self._move(con, alias, target, reason, "rollback")
                checkpoint("registry:rollback-before-commit")
            return self._get(con, target)

    # ------------------------------------------------------------------ verify and gc
    def verify(self) -> list[Problem]:
        """Check every version's files against the catalog; list problems (empty list: all good).

        Finds missing folders, artifacts, meta.json or attachments and altered artifacts or
        attachments (not removable), plus orphan version folders and leftover temp files
        (removable by :meth:`gc`). Read-only. Run it while no writer is active: a folder being
        written by a concurrent ``register`` shows up as an orphan until its row is committed.
        """
        return upkeep.verify(self._access)

    def gc(self, keep_last: int | None = None, force: bool = False, dry_run: bool = False) -> GcResult:
        """Remove leftovers (orphan folders, temp files) and versions older than the newest ``keep_last``.

        A version that ever held an alias is kept unless ``force=True``; a version that holds an
        alias *now* is always kept. ``keep_last=None`` removes leftovers only. ``dry_run`` only
        reports (and writes nothing). Removed numbers are never reused.
        """
        return upkeep.gc(self._access, keep_last, force, dry_run)
