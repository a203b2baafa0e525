"""The versioned model registry: artifacts on disk (pickles + sha256) and a SQLite catalog of
versions, lineage, aliases (champion / challenger) and their history, with rollback and upkeep."""

from .registry import ACTIONS, Registry
from .types import AliasMove, GcResult, LibraryVersionWarning, ModelVersion, Problem
from .files import fingerprint, library_versions

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
