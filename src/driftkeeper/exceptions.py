"""driftkeeper's error hierarchy.

Every error driftkeeper raises on purpose derives from :class:`DriftkeeperError`, so
``except DriftkeeperError`` catches them all. Where a built-in exception is the natural
category, the subclass inherits it too (a schema mismatch is also a ``ValueError``), so code
written against plain Python keeps working.

Messages are one line and name the column, key, file or version at fault and what was
expected; the CLI prints them as they are and exits with code 2 (see :attr:`exit_code`).
"""

from __future__ import annotations

__all__ = [
    "DriftkeeperError",
    "ConfigError",
    "PolicyError",
    "InputError",
    "SchemaError",
    "DataQualityError",
    "NotFittedError",
    "UpdateNotSupportedError",
    "ModelSizeError",
    "RegistryError",
    "IntegrityError",
    "NotFoundError",
    "LockError",
]


class DriftkeeperError(Exception):
    """Root of every error driftkeeper raises on purpose.

    ``exit_code`` is what the CLI exits with when this error ends a command.
    """

    exit_code = 2


class ConfigError(DriftkeeperError, ValueError):
    """An option, parameter or configuration value is invalid."""


class PolicyError(ConfigError):
    """A policy file is invalid (unknown key, wrong type, unknown signal or action)."""


class InputError(DriftkeeperError, ValueError):
    """An input file is missing, unreadable or of the wrong type."""


class SchemaError(DriftkeeperError, ValueError):
    """A frame's columns or dtypes do not match the schema fixed at fit time."""


class DataQualityError(SchemaError):
    """A batch fails a hard data-quality check (all-NaN column, ±inf, empty frame...)."""


class NotFittedError(DriftkeeperError, ValueError, AttributeError):
    """An object was used before ``fit``; the message says what to call first."""


class UpdateNotSupportedError(DriftkeeperError, TypeError):
    """The model cannot be updated incrementally; only a full retrain is possible."""


class ModelSizeError(DriftkeeperError, ValueError):
    """An update would grow the model past its configured size cap (``max_trees``)."""


class RegistryError(DriftkeeperError):
    """The registry folder or catalog cannot be used as asked."""


class IntegrityError(RegistryError):
    """A stored artifact does not match its recorded sha256; nothing was unpickled."""


class NotFoundError(RegistryError, KeyError):
    """A version, tag or alias does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class LockError(DriftkeeperError):
    """Another process holds the lock on this root."""

    exit_code = 3
