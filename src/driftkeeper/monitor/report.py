"""The drift report: the JSON contract between the monitor and everything after it.

A :class:`DriftReport` is what :meth:`driftkeeper.Monitor.check` returns, what ``driftkeeper
report --json`` writes, what policies read and what the runner stores with every run.
``DriftReport.to_dict()`` is the documented JSON contract and ``DriftReport.from_dict()``
rebuilds an equal report from it (``from_dict(r.to_dict()) == r``).

Contract (``schema_version`` 1)::

    {
      "schema_version": 1,
      "columns": [                       # every checked feature column, in schema order
        {"name": "sqft_living", "kind": "numerical", "method": "wasserstein",
         "score": 0.13, "threshold": 0.1, "drifted": true,
         "stattest_type": "distance",    # "distance": drifted when score >= threshold
                                         # "p_value":  drifted when score <  threshold
         "rows": 500, "missing_share": 0.0, "unseen_share": null},
                                 # approximate columns add "approx": "binned",
                                 # "score_bounds": [lo, hi] (the exact score lies within; the
                                 # verdict is the exact one outside them); exact columns omit both.
                                 # Approximate: Monitor(approx="binned") sketches, and on a Dask
                                 # DataFrame ks/wasserstein and the sturges-binned methods of a
                                 # batch outside the reference's range (monitor.partials)
        {"name": "alley", ..., "score": null, "drifted": false,   # drift not computed: the column
         "rows": 500, "missing_share": 1.0, ...},               # is entirely missing (see warnings)
        ...
      ],
      "n_columns": 18, "n_drifted": 3,
      "drift_share": 0.1667,             # n_drifted / columns with a score (not null)
      "drift_share_threshold": 0.5, "dataset_drift": false,
      "quality_issues": 2,               # data-quality findings: columns (target, prediction)
                                         # whose drift was not computed + columns with unseen
                                         # categories; one warning each
      "reference_rows": 8000, "current_rows": 500,
      "prediction": {...ColumnDrift...} | null,   # drift of the model's predictions
      "target": {...ColumnDrift...} | null,       # drift of the labels
      "performance": {"task": "regression", "rows": 500,   # labelled rows with a prediction
                      "metrics": {"rmse": ..., "mae": ..., "mape": ..., "r2": ...}} | null,
                                 # every metric of driftkeeper.metrics for the task; null
                                 # where undefined or (log_loss, roc_auc) given labels only
      "warnings": ["zipcode: 4.0% of values are categories never seen in reference",
                   "alley: entirely missing in the current batch (500 rows; 93.8% missing in the "
                   "reference); drift not computed"],
      "sample": {"rows": 100000, "seed": 0} | null
    }
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["SCHEMA_VERSION", "ColumnDrift", "DriftReport"]

SCHEMA_VERSION = 1


def _num(x: Any) -> Any:
    """JSON has no NaN: store NaN scores as None; keep floats exact otherwise."""
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column between the reference and the current batch.

    Attributes:
        name: column name.
        kind: ``"numerical"`` or ``"categorical"`` — fixed from the reference at fit time.
        method: the statistical test actually used (``"wasserstein"``, ``"ks"``, ...).
        score: the test's score (a p-value or a distance, see ``stattest_type``); ``None``
            when it was not computed: the column has no value in the current batch or in the
            reference (the report's warnings say which).
        threshold: the threshold the score was compared with.
        drifted: whether the column drifted.
        stattest_type: ``"p_value"`` (drifted when ``score < threshold``) or
            ``"distance"`` (drifted when ``score >= threshold``).
        rows: rows of the current batch (non-missing values were tested).
        missing_share: share of missing values in the current batch.
        unseen_share: categorical columns only: share of current non-missing values that
            are categories never seen in the reference (``None`` for numerical columns).
        approx: ``None`` when the score is exact (Evidently's own); ``"binned"`` when it was
            estimated from binned summaries: the reference's sketch (``Monitor(approx="binned")``)
            or, on a Dask DataFrame, the merged per-partition bins of both sides
            (:mod:`driftkeeper.monitor.partials` lists which methods).
        score_bounds: binned scores only: ``(lower, upper)``, an interval that contains the
            exact score; the verdict is the exact one whenever the threshold lies outside it.
    """

    name: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    stattest_type: str = "distance"
    rows: int = 0
    missing_share: float = 0.0
    unseen_share: float | None = None
    approx: str | None = None
    score_bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.score_bounds is not None:  # a JSON list reads back as the same tuple
            object.__setattr__(self, "score_bounds", (float(self.score_bounds[0]), float(self.score_bounds[1])))

    @property
    def exact(self) -> bool:
        """Whether the score is the exact one (else ``score_bounds`` holds it)."""
        return self.approx is None

    @property
    def verdict_certain(self) -> bool:
        """Whether the verdict is the exact monitor's for sure: always for an exact score; for a
        binned one, when the threshold lies outside ``score_bounds``."""
        if self.score_bounds is None:
            return True
        lo, hi = self.score_bounds
        return not lo <= self.threshold <= hi

    @property
    def new_categories(self) -> float | None:
        """Share of the batch's rows holding a category never seen in the reference (categorical
        columns; ``unseen_share`` is over the non-missing values); ``None`` for numerical ones."""
        if self.kind != "categorical":
            return None
        if self.unseen_share is None:
            # not scored: no value tonight (nothing new), or none in the reference (all new)
            return 1.0 - self.missing_share if self.score is None else None
        return self.unseen_share * (1.0 - self.missing_share)

    @property
    def quality_findings(self) -> int:
        """Data-quality findings of this column: drift not computed because a side had no value
        (see the report's warnings), categories never seen in the reference."""
        return int(self.score is None) + int(bool(self.unseen_share))

    @property
    def margin(self) -> float:
        """How far the score is past (> 0) or short of (< 0) its threshold, relative to it.

        Positive means drifted. Used to order tables: the most drifted first.
        """
        if self.score is None:
            return -math.inf
        scale = abs(self.threshold) or 1.0
        if self.stattest_type == "p_value":
            return (self.threshold - self.score) / scale
        return (self.score - self.threshold) / scale

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = _num(d["score"])
        if d["approx"] is None:  # exact: the keys of schema 1 as first written
            del d["approx"], d["score_bounds"]
        elif d["score_bounds"] is not None:
            d["score_bounds"] = [_num(x) for x in d["score_bounds"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ColumnDrift":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class DriftReport:
    """Result of :meth:`driftkeeper.Monitor.check`; see the module docstring for the JSON shape."""

    columns: tuple[ColumnDrift, ...]
    drift_share_threshold: float = 0.5
    reference_rows: int = 0
    current_rows: int = 0
    prediction: ColumnDrift | None = None
    target: ColumnDrift | None = None
    performance: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    sample: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # -- dataset-level numbers, derived so they can never disagree with the columns --
    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def n_drifted(self) -> int:
        return sum(1 for c in self.columns if c.drifted)

    @property
    def drift_share(self) -> float:
        """Share of drifted columns among those whose drift was computed: a column with no value
        to compare is unknown, not undrifted, and must not dilute the drift of the others."""
        scored = sum(1 for c in self.columns if _num(c.score) is not None)
        return self.n_drifted / scored if scored else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Evidently's rule: drifted when the drifted share reaches ``drift_share_threshold``."""
        return bool(self.columns) and self.drift_share >= self.drift_share_threshold

    @property
    def quality_issues(self) -> int:
        """Data-quality findings of the batch (each is one of the warnings): feature columns,
        target or prediction whose drift was not computed because a side had no value, and
        feature columns holding categories never seen in the reference."""
        extra = [c for c in (self.target, self.prediction) if c is not None]
        return sum(c.quality_findings for c in (*self.columns, *extra))

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def column(self, name: str) -> ColumnDrift:
        """The :class:`ColumnDrift` of ``name`` (KeyError naming the known columns if absent)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"column {name!r} is not in this report; columns: {[c.name for c in self.columns]}")

    def sorted_columns(self) -> list[ColumnDrift]:
        """Drifted columns first, then by how far each score is past or short of its threshold."""
        return sorted(self.columns, key=lambda c: (not c.drifted, -c.margin, c.name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "columns": [c.to_dict() for c in self.columns],
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "dataset_drift": self.dataset_drift,
            "quality_issues": self.quality_issues,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "target": self.target.to_dict() if self.target else None,
            "performance": self.performance,
            "warnings": list(self.warnings),
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DriftReport":
        version = d.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            from ..exceptions import ConfigError

            raise ConfigError(
                f"drift report schema_version {version} is newer than this driftkeeper understands "
                f"({SCHEMA_VERSION}); upgrade driftkeeper"
            )
        return cls(
            columns=tuple(ColumnDrift.from_dict(c) for c in d["columns"]),
            drift_share_threshold=d.get("drift_share_threshold", 0.5),
            reference_rows=d.get("reference_rows", 0),
            current_rows=d.get("current_rows", 0),
            prediction=ColumnDrift.from_dict(d["prediction"]) if d.get("prediction") else None,
            target=ColumnDrift.from_dict(d["target"]) if d.get("target") else None,
            performance=d.get("performance"),
            warnings=tuple(d.get("warnings", ())),
            sample=d.get("sample"),
            schema_version=version,
        )
