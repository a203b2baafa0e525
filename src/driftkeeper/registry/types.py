"""The registry's value types and small validators (private; re-exported by driftkeeper.registry)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from . import catalog as cat
from .._util.timeutil import aware
from ..exceptions import ConfigError

FOLDER_RE = re.compile(r"^v(\d+)$")
_ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class LibraryVersionWarning(UserWarning):
    """A model is loaded with library versions that differ from those it was saved with."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (immutable; ``aliases`` is a snapshot taken when it was read).

    A version read from the catalog (``get``, ``history``, ``served_at``, ...) keeps its catalog
    row and fills ``tag``, ``created_at``, ``libraries``, ``path`` and the fields stored as JSON
    (``data``, ``metrics``, ``decision``, ``model``, ``tags``, ``attachments``) on first access,
    so listing 10,000 versions does not parse 10,000 JSON documents nobody reads. It looks and
    compares exactly like one built with every field given.
    """

    version: int
    tag: str
    created_at: datetime
    action: str
    parent: int | None
    data: dict | None
    metrics: dict
    decision: dict | None
    model: dict
    libraries: dict
    sha256: str
    size_bytes: int
    tags: dict
    attachments: dict
    path: Path
    aliases: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        # pickle and copy get every field, never the catalog row: a copy stands on its own
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``created_at`` ISO-8601 UTC, ``path`` a string)."""
        return {
            "version": self.version,
            "tag": self.tag,
            "created_at": self.created_at.isoformat(),
            "action": self.action,
            "parent": self.parent,
            "data": self.data,
            "metrics": self.metrics,
            "decision": self.decision,
            "model": self.model,
            "libraries": self.libraries,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "tags": self.tags,
            "attachments": self.attachments,
            "path": str(self.path),
            "aliases": list(self.aliases),
        }


_FIELD_NAMES = tuple(f.name for f in fields(ModelVersion))


class _FromRow:
    """A field of a version read from the catalog: filled from its row (``_row``) on first access.

    A non-data descriptor set on the class after the dataclass was made (so ``__init__`` still
    requires the field): once the field is in the instance's ``__dict__`` (always, for a version
    built with ``ModelVersion(...)``) Python reads it from there and never calls this again.
    """

    __slots__ = ("name", "fill")

    def __init__(self, name: str, fill: Callable[[dict, tuple], None]) -> None:
        self.name, self.fill = name, fill

    def __get__(self, mv: ModelVersion | None, owner: type | None = None) -> Any:
        if mv is None:  # as before: fields without a default are not class attributes
            raise AttributeError(f"type object 'ModelVersion' has no attribute {self.name!r}")
        d = mv.__dict__
        row = d.get("_row")
        if row is None:
            raise AttributeError(f"'ModelVersion' object has no attribute {self.name!r}")
        self.fill(d, row)
        return d[self.name]


# The row is (version, created_at, action, parent, sha256, size_bytes, folder, libraries, doc).
def _fill_doc(d: dict, row: tuple) -> None:
    doc = json.loads(row[8])
    d["data"] = doc.get("data")
    d["metrics"] = doc.get("metrics") or {}
    d["decision"] = doc.get("decision")
    d["model"] = doc.get("model") or {}
    d["tags"] = doc.get("tags") or {}
    d["attachments"] = doc.get("attachments") or {}


def _fill_path(d: dict, row: tuple) -> None:
    d["path"] = d["_source"].versions_dir / row[6]


def _fill_columns(d: dict, row: tuple) -> None:
    source = d["_source"]
    text = source.shared_libraries if row[7] is None else row[7]
    parsed = source.libraries.get(text)
    if parsed is None:
        parsed = source.libraries[text] = json.loads(text)
    d["libraries"] = dict(parsed)  # a copy per version: changing one leaves the others alone
    d["tag"] = cat.folder_name(row[0])
    d["created_at"] = datetime.fromisoformat(row[1])


# three groups, each filled at once: the JSON document, the path, and the other derived columns
for _names, _fill in (
    (("data", "metrics", "decision", "model", "tags", "attachments"), _fill_doc),
    (("path",), _fill_path),
    (("libraries", "tag", "created_at"), _fill_columns),
):
    for _name in _names:
        setattr(ModelVersion, _name, _FromRow(_name, _fill))
del _names, _fill, _name


class CatalogSource:
    """What the versions of one catalog read share: the versions folder and parsed library sets.

    ``shared_libraries`` is the libraries JSON of a row whose ``libraries`` is None (see
    :func:`driftkeeper.registry.catalog.newest_rows`).
    """

    __slots__ = ("versions_dir", "shared_libraries", "libraries")

    def __init__(self, versions_dir: Path, shared_libraries: str | None = None) -> None:
        self.versions_dir = versions_dir
        self.shared_libraries = shared_libraries
        self.libraries: dict[str, dict] = {}  # libraries JSON -> parsed (versions mostly share one)


def from_catalog_rows(
    rows: list[tuple], source: CatalogSource, aliases: Mapping[int, list[str]]
) -> list[ModelVersion]:
    """ModelVersions for rows of ``SELECT {catalog.VERSION_COLUMNS}`` (``aliases``: version -> names).

    A row is ``(version, created_at, action, parent, sha256, size_bytes, folder, libraries, doc)``;
    ``libraries`` None stands for ``source.shared_libraries``.

    Sets the plain columns; the other fields fill from the row on first access (``_FromRow``).
    """
    new, set_dict, cls = object.__new__, object.__setattr__, ModelVersion
    out: list[ModelVersion] = []
    append = out.append
    for row in rows:
        mv = new(cls)
        d = {"version": row[0], "action": row[2], "parent": row[3], "sha256": row[4], "size_bytes": row[5],
             "_row": row, "_source": source}  # fmt: skip
        if row[0] in aliases:  # a few versions hold one; the others keep the class default ()
            d["aliases"] = tuple(aliases[row[0]])
        set_dict(mv, "__dict__", d)
        append(mv)
    return out


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: ``kind`` is ``"promote"`` or ``"rollback"``."""

    alias: str
    from_version: int | None
    to_version: int
    at: datetime
    reason: str | None
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "from": self.from_version,
            "to": self.to_version,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Problem:
    """A problem found by :meth:`Registry.verify`; ``removable`` ones are cleaned by ``gc``.

    ``kind`` is one of ``missing-folder``, ``missing-artifact``, ``altered-artifact``,
    ``missing-meta``, ``missing-attachment``, ``altered-attachment`` (not removable) or
    ``orphan-folder``, ``temp-file`` (removable), or ``unknown-entry`` (not removable).
    """

    kind: str
    message: str
    removable: bool = False
    version: int | None = None
    path: Path | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class GcResult:
    """What :meth:`Registry.gc` removed (or would remove, with ``dry_run``)."""

    removed_versions: tuple[int, ...]
    removed_paths: tuple[Path, ...]
    protected: tuple[int, ...]
    dry_run: bool


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or FOLDER_RE.match(alias):
        raise ConfigError(
            f"alias name {alias!r} is invalid: expected lowercase letters, digits, '-' or '_', "
            "starting with a letter, at most 64 characters, not of the form v<digits>"
        )
    return alias


def parse_when(when: Any) -> datetime:
    """An aware datetime from a datetime or ISO-8601 text (a time without a timezone is refused)."""
    return aware(when, "time")


def tag(version: int) -> str:
    return cat.folder_name(version)
