"""Registry upkeep: ``verify`` and ``gc`` (private; :class:`~driftkeeper.registry.Registry` calls them).

Each function works on a :class:`~driftkeeper.registry.access.CatalogAccess` (the root's paths
and catalog connections), never on the Registry itself.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Mapping

from . import catalog as cat
from .access import CatalogAccess
from .files import ARTIFACT, META, TMP_RE, sha256_file, fsync_dir
from .types import FOLDER_RE, GcResult, Problem, tag as tag_of
from .._util.testhooks import checkpoint
from ..exceptions import ConfigError

__all__ = ["gc", "scan_disk", "verify"]


def scan_disk(versions_dir: Path, known: Mapping[str, int]) -> list[Problem]:
    """Entries of ``versions_dir`` the catalog does not account for (``known``: folder name ->
    version): removable leftovers (orphan version folders, temp files) and unknown entries."""
    problems: list[Problem] = []
    if not versions_dir.is_dir():
        return problems
    for entry in sorted(versions_dir.iterdir()):
        name = entry.name
        if name in known:
            if entry.is_dir():
                for f in sorted(entry.iterdir()):
                    if TMP_RE.match(f.name):
                        problems.append(
                            Problem("temp-file", f"{name}: leftover temp file {str(f)!r}", True, known[name], f)
                        )
            continue
        m = FOLDER_RE.match(name)
        if m and entry.is_dir():
            problems.append(
                Problem(
                    "orphan-folder",
                    f"{name}: folder {str(entry)!r} has no catalog row (left by an interrupted register)",
                    True,
                    int(m.group(1)),
                    entry,
                )
            )
        elif TMP_RE.match(name):
            problems.append(Problem("temp-file", f"leftover temp file {str(entry)!r}", True, None, entry))
        else:
            problems.append(
                Problem("unknown-entry", f"{str(entry)!r} is not a registry version folder", False, None, entry)
            )
    return problems


def verify(access: CatalogAccess) -> list[Problem]:
    """Check every version's files against the catalog; list problems (empty list: all good).

    Read-only. Run it while no writer is active: a folder being written by a concurrent
    ``register`` shows up as an orphan until its row is committed.
    """
    problems: list[Problem] = []
    with access.reading() as con:
        rows = con.execute("SELECT version, sha256, folder, doc FROM versions ORDER BY version").fetchall()
    known: dict[str, int] = {}
    for version, sha, folder_name, doc in rows:
        tag, folder = tag_of(version), access.versions_dir / folder_name
        known[folder_name] = version
        if not folder.is_dir():
            problems.append(Problem("missing-folder", f"{tag}: folder {str(folder)!r} is missing", False, version, folder))
            continue
        art = folder / ARTIFACT
        if not art.is_file():
            problems.append(Problem("missing-artifact", f"{tag}: artifact {str(art)!r} is missing", False, version, art))
        else:
            actual = sha256_file(art)
            if actual != sha:
                problems.append(
                    Problem(
                        "altered-artifact",
                        f"{tag}: artifact {str(art)!r} has sha256 {actual}, catalog records {sha}",
                        False,
                        version,
                        art,
                    )
                )
        if not (folder / META).is_file():
            problems.append(Problem("missing-meta", f"{tag}: {str(folder / META)!r} is missing", False, version, folder / META))
        for name, asha in (json.loads(doc).get("attachments") or {}).items():
            p = folder / name
            if not p.is_file():
                problems.append(Problem("missing-attachment", f"{tag}: attachment {str(p)!r} is missing", False, version, p))
            elif sha256_file(p) != asha:
                problems.append(
                    Problem("altered-attachment", f"{tag}: attachment {str(p)!r} does not match its sha256", False, version, p)
                )
    return problems + scan_disk(access.versions_dir, known)


def gc(access: CatalogAccess, keep_last: int | None = None, force: bool = False, dry_run: bool = False) -> GcResult:
    """Remove leftovers (orphan folders, temp files) and versions older than the newest ``keep_last``.

    A version that ever held an alias is kept unless ``force=True``; a version that holds an
    alias *now* is always kept. ``keep_last=None`` removes leftovers only. ``dry_run`` only
    reports (and writes nothing). Removed numbers are never reused.
    """
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0):
        raise ConfigError(f"keep_last must be an int >= 0 or None, got {keep_last!r}")
    if dry_run or not access.catalog_path.exists():  # nothing registered yet: nothing to lock
        with access.reading() as con:
            return _collect(con, access.versions_dir, keep_last, force, dry_run=dry_run)
    with access.writing() as con:
        return _collect(con, access.versions_dir, keep_last, force, dry_run=False)


def _collect(con: sqlite3.Connection, versions_dir: Path, keep_last: int | None, force: bool, dry_run: bool) -> GcResult:
    """What ``gc`` removes and keeps, from the catalog open on ``con``; removes it unless ``dry_run``."""
    rows = con.execute("SELECT version, folder FROM versions ORDER BY version DESC").fetchall()
    known = {folder: v for v, folder in rows}
    leftovers = [p.path for p in scan_disk(versions_dir, known) if p.removable and p.path is not None]
    remove: list[tuple[int, str]] = []
    protected: list[int] = []
    if keep_last is not None:
        current = {v for (v,) in con.execute("SELECT version FROM aliases")}
        ever = {v for (v,) in con.execute("SELECT DISTINCT to_version FROM alias_events")}
        for version, folder in rows[keep_last:]:
            if version in current or (version in ever and not force):
                protected.append(version)
            else:
                remove.append((version, folder))
    paths = [versions_dir / f for _, f in remove] + leftovers
    if not dry_run:
        if remove:
            with cat.transaction(con):
                con.executemany("DELETE FROM versions WHERE version = ?", [(v,) for v, _ in remove])
            checkpoint("registry:gc-after-commit")
        for p in paths:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        if versions_dir.is_dir():
            fsync_dir(versions_dir)
    return GcResult(
        removed_versions=tuple(sorted(v for v, _ in remove)),
        removed_paths=tuple(paths),
        protected=tuple(sorted(protected)),
        dry_run=dry_run,
    )
