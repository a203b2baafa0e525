"""The drift monitor: ``Monitor.fit(reference).check(current) -> DriftReport``.

Statistical tests equal to Evidently's live in ``stattests``; Evidently itself is imported only
by ``_evidently`` (the HTML/JSON report), lazily."""

from .monitor import Monitor, infer_kind
from .report import SCHEMA_VERSION, ColumnDrift, DriftReport

__all__ = ["SCHEMA_VERSION", "ColumnDrift", "DriftReport", "Monitor", "infer_kind"]
