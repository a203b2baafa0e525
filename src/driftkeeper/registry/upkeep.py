"""Registry upkeep: verify, gc and the benchmark bulk filler (private; used by Registry)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Mapping

from . import catalog as cat
from .files import ARTIFACT, META, TMP_RE, library_versions, sha256_file, to_json, fsync_dir
from .types import FOLDER_RE, GcResult, Problem, tag as tag_of
from .._util.testhooks import checkpoint
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from .registry import Registry


def bulk_fill(reg: "Registry", n: int, *, promote_every: int = 10, span_seconds: float = 86400.0 * 365) -> None:
    """Benchmark helper (private): add ``n`` tiny versions fast, in one transaction.

    Each version gets a real folder (model.joblib + meta.json) and a row exactly like
    ``register`` makes, but without fsyncs; every ``promote_every``-th version is promoted
    to champion. Creation and promotion times are spread evenly over the ``span_seconds``
    before now, so ``served_at`` has a realistic history to search.
    """
    from datetime import timedelta

    import joblib

    libs = library_versions()
    libs_json = to_json(libs)
    with reg._writing() as con:
        start = int(con.execute("SELECT value FROM meta WHERE key = 'last_version'").fetchone()[0]) + 1
        t0 = datetime.now(timezone.utc) - timedelta(seconds=span_seconds)
        step = timedelta(seconds=span_seconds / max(n, 1))
        rows, events = [], []
        current = con.execute("SELECT version FROM aliases WHERE alias = 'champion'").fetchone()
        current = current[0] if current else None
        for i in range(n):
            number = start + i
            folder = reg.versions_dir / tag_of(number)
            folder.mkdir(parents=True)
            buf = io.BytesIO()
            joblib.dump({"i": number}, buf)
            blob = buf.getvalue()
            (folder / ARTIFACT).write_bytes(blob)
            sha = hashlib.sha256(blob).hexdigest()
            created = t0 + step * i
            doc = {"data": {"sha256": sha, "rows": 100, "columns": ["x", "y"]}, "metrics": {"mae": 1.0 / (i + 1)},
                   "decision": None, "model": {"class": "builtins.dict"}, "tags": {}, "attachments": {}}
            meta = dict(version=number, tag=tag_of(number), created_at=created.isoformat(), action="manual", parent=None,
                        sha256=sha, size_bytes=len(blob), registry_format=cat.FORMAT_VERSION, libraries=libs, **doc)
            (folder / META).write_text(to_json(meta, indent=2) + "\n")
            rows.append(
                (number, cat.utc_text(created), "manual", None, sha, len(blob), folder.name, libs_json, to_json(doc))
            )
            if promote_every and i % promote_every == 0:
                events.append(("champion", current, number, cat.utc_text(created + step / 2), "bulk", "promote"))
                current = number
        with cat.transaction(con):
            con.executemany(f"INSERT INTO versions({cat.VERSION_COLUMNS}) VALUES ({cat.VERSION_PLACEHOLDERS})", rows)
            con.executemany(
                "INSERT INTO alias_events(alias, from_version, to_version, at, reason, kind) VALUES (?, ?, ?, ?, ?, ?)",
                events,
            )
            if events:
                con.execute(
                    "INSERT INTO aliases(alias, version, updated_at) VALUES ('champion', ?, ?) ON CONFLICT(alias) "
                    "DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                    (current, events[-1][3]),
                )
            con.execute("UPDATE meta SET value = ? WHERE key = 'last_version'", (str(start + n - 1),))


def scan_disk(reg: "Registry", known: Mapping[str, int]) -> list[Problem]:
    """Removable leftovers: orphan version folders, temp files; plus unknown entries."""
    problems: list[Problem] = []
    if not reg.versions_dir.is_dir():
        return problems
    for entry in sorted(reg.versions_dir.iterdir()):
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


def verify(reg: "Registry") -> list[Problem]:
    """Check every version's files against the catalog; list problems (empty list: all good).

    Read-only. Run it while no writer is active: a folder being written by a concurrent
    ``register`` shows up as an orphan until its row is committed.
    """
    problems: list[Problem] = []
    with reg._reading() as con:
        rows = con.execute("SELECT version, sha256, folder, doc FROM versions ORDER BY version").fetchall()
    known: dict[str, int] = {}
    for version, sha, folder_name, doc in rows:
        tag, folder = tag_of(version), reg.versions_dir / folder_name
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
    return problems + scan_disk(reg, known)

def gc(reg: "Registry", keep_last: int | None = None, force: bool = False, dry_run: bool = False) -> GcResult:
    """Remove leftovers (orphan folders, temp files) and versions older than the newest ``keep_last``.

    A version that ever held an alias is kept unless ``force=True``; a version that holds an
    alias *now* is always kept. ``keep_last=None`` removes leftovers only. ``dry_run`` only
    reports (and writes nothing). Removed numbers are never reused.
    """
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0):
        raise ConfigError(f"keep_last must be an int >= 0 or None, got {keep_last!r}")
    if dry_run or not reg.catalog_path.exists():  # nothing registered yet: nothing to lock
        with reg._reading() as con:
            return collect(reg, con, keep_last, force, dry_run=dry_run)
    with reg._writing() as con:
        return collect(reg, con, keep_last, force, dry_run=False)


def collect(reg: "Registry", con: sqlite3.Connection, keep_last: int | None, force: bool, dry_run: bool) -> GcResult:
    rows = con.execute("SELECT version, folder FROM versions ORDER BY version DESC").fetchall()
    known = {folder: v for v, folder in rows}
    leftovers = [p.path for p in scan_disk(reg, known) if p.removable and p.path is not None]
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
    paths = [reg.versions_dir / f for _, f in remove] + leftovers
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
        if reg.versions_dir.is_dir():
            fsync_dir(reg.versions_dir)
    return GcResult(
        removed_versions=tuple(sorted(v for v, _ in remove)),
        removed_paths=tuple(paths),
        protected=tuple(sorted(protected)),
        dry_run=dry_run,
    )
