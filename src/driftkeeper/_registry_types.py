"""The registry's value types and small validators (private; re-exported by driftkeeper.registry)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import _catalog as cat
from .exceptions import ConfigError

FOLDER_RE = re.compile(r"^v(\d+)$")
_ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class LibraryVersionWarning(UserWarning):
    """A model is loaded with library versions that differ from those it was saved with."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (immutable; ``aliases`` is a snapshot taken when it was read)."""

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


def did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or FOLDER_RE.match(alias):
        raise ConfigError(
            f"alias name {alias!r} is invalid: expected lowercase letters, digits, '-' or '_', "
            "starting with a letter, at most 64 characters, not of the form v<digits>"
        )
    return alias


def parse_when(when: Any) -> datetime:
    if isinstance(when, str):
        try:
            dt = datetime.fromisoformat(when.strip())
        except ValueError as exc:
            raise ConfigError(f"time {when!r} is not ISO-8601; expected e.g. '2024-05-01T12:00:00Z'") from exc
    elif isinstance(when, datetime):
        dt = when
    else:
        raise ConfigError(f"time must be an aware datetime or an ISO-8601 string, got {type(when).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ConfigError(
            f"time {dt.isoformat()!r} has no timezone; give an aware datetime or an ISO-8601 string "
            "with an offset, e.g. '2024-05-01T12:00:00Z'"
        )
    return dt


def tag(version: int) -> str:
    return cat.folder_name(version)
