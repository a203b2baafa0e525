"""Estimates that learn from their own errors: tonight's estimate of the metric, corrected by
what the labels of earlier batches said about earlier estimates.

CBPE and DLE (:mod:`driftkeeper.monitor.estimation`) assume the relation between inputs and
label stays what it was on their fitting rows. When it moves (a concept shift: demand that
follows the season, a default rate that climbs), their estimate is off by a bias that changes
slowly — and the last realised value, a few batches old, is often the better guess
(``benchmarks/RESULTS.md``: on streams whose relation keeps moving, the naive estimate beat
both driftkeeper's and NannyML's). Neither is right everywhere, and which one is right is
exactly what the labels, when they arrive, tell.

:class:`EstimateTrack` keeps, per batch, the raw estimate made that night, the newest realised
value known that night (``naive``), the estimator's mean error on the newest batches whose labels
had arrived by then (``residual``: realised − raw, over at most :data:`RESIDUAL_BATCHES`) and,
once its labels arrive, the batch's realised value. Tonight's estimate is

    ``weight × (raw + correction × residual) + (1 − weight) × naive``

with ``(correction, weight)`` the pair of a small fixed grid (:data:`CORRECTIONS` ×
:data:`WEIGHTS`) whose estimates of the earlier batches, made with what was known on each of
their nights, came closest to their realised values (mean absolute error) — among the pairs that
beat the raw estimate on those batches with 90 % confidence (a paired one-sided test on the
absolute errors, as the gate judges a candidate); none does: the raw estimate. Until
:data:`MIN_SCORED` earlier batches can be scored that way, the raw estimate stands. Nothing is fitted to a batch's own labels before its estimate is made: the choice is an
honest, online one, the same in a backtest under ``--label-delay`` and in production.

``error`` is the chosen combination's root mean squared error over the scored batches: how far
tonight's realised value has typically been from such an estimate — the estimator's own error
as measured by the labels, which the sampling error (``std_error``) does not include.

Pure: no files. The track is a list of small dicts kept in the runner's state, at most
:data:`KEEP` batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CONFIDENCE_Z", "CORRECTIONS", "KEEP", "MIN_SCORED", "RESIDUAL_BATCHES", "WEIGHTS", "Corrected", "EstimateTrack"]

#: Batches the track keeps (the newest): enough to score the grid, short enough to follow a
#: stream whose character changes.
KEEP = 48
#: Earlier batches with labels that must be scorable before the raw estimate is corrected.
MIN_SCORED = 6
#: Realised batches the residual averages (the newest).
RESIDUAL_BATCHES = 3
#: Share of the residual added back to the raw estimate.
CORRECTIONS = (0.0, 0.5, 1.0)
#: Weight of the (corrected) estimate against the newest realised value.
WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)
#: One-sided z of the paired test a combination must pass against the raw estimate (90 %, the
#: default gate's confidence): on a few dozen batches the best of 15 combinations is often best by
#: chance, and where the estimator is right a chance pick only adds the naive value's noise.
CONFIDENCE_Z = 1.2816


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


@dataclass(frozen=True)
class Corrected:
    """Tonight's estimate and how it came about (the run record's ``estimated_metric`` keys)."""

    value: float
    raw: float
    correction: float  # share of the residual added back
    weight: float  # weight of the corrected estimate against the newest realised value
    naive: float | None  # the newest realised value known tonight
    residual: float | None  # the estimator's mean error on the newest realised batches
    scored: int  # earlier batches the choice was scored on
    error: float | None  # the chosen combination's RMS error on them

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "correction": self.correction, "weight": self.weight, "naive": self.naive,
                "residual": self.residual, "scored": self.scored, "track_error": self.error}


def _combine(raw: float, naive: float | None, residual: float | None, correction: float, weight: float) -> float | None:
    est = raw + (correction * residual if correction else 0.0) if (correction == 0 or _finite(residual)) else None
    if est is None:
        return None
    if weight == 1.0:
        return est
    if not _finite(naive):
        return None
    return weight * est + (1.0 - weight) * float(naive)


@dataclass
class EstimateTrack:
    """Raw estimates and realised values of the newest batches (see the module docstring)."""

    entries: list[dict[str, Any]] = field(default_factory=list)  # {"seq", "raw", "naive", "residual", "realised"}
    metric: str | None = None  # the metric tracked: another metric starts a new track
    lineage: int | None = None  # the serving models' line (the runner: the batch of the last retrain)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "EstimateTrack":
        d = d or {}
        return cls(entries=[dict(e) for e in d.get("entries", [])], metric=d.get("metric"), lineage=d.get("lineage"))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "lineage": self.lineage, "entries": [dict(e) for e in self.entries]}

    def for_metric(self, metric: str, lineage: int | None = None) -> "EstimateTrack":
        """This track when it tracks ``metric`` for the models of ``lineage``, otherwise a new,
        empty one: a retrained (or rolled back) model's errors, and its realised values, are not
        the previous model's, and a correction learned on one must not be added to the other."""
        if self.metric == metric and self.lineage == lineage:
            return self
        return EstimateTrack(metric=metric, lineage=lineage)

    # ------------------------------------------------------------------ reads
    def naive(self) -> float | None:
        """The newest realised value (by batch) known now."""
        done = [e for e in self.entries if _finite(e.get("realised"))]
        return float(max(done, key=lambda e: e["seq"])["realised"]) if done else None

    def residual(self) -> float | None:
        """The raw estimate's mean error (realised − raw) over the newest realised batches."""
        done = sorted((e for e in self.entries if _finite(e.get("realised")) and _finite(e.get("raw"))),
                      key=lambda e: e["seq"])[-RESIDUAL_BATCHES:]
        return sum(e["realised"] - e["raw"] for e in done) / len(done) if done else None

    def choose(self) -> tuple[float, float, int, float | None]:
        """``(correction, weight, scored, rms error)`` of the grid pair whose estimates of the
        realised batches were closest; the raw estimate while fewer than :data:`MIN_SCORED`
        batches can be scored by every pair."""
        scored = [e for e in self.entries if _finite(e.get("realised")) and _finite(e.get("raw"))
                  and _finite(e.get("naive")) and _finite(e.get("residual"))]
        if len(scored) < MIN_SCORED:
            raw_only = [e["realised"] - e["raw"] for e in self.entries if _finite(e.get("realised")) and _finite(e.get("raw"))]
            rms = math.sqrt(sum(r * r for r in raw_only) / len(raw_only)) if raw_only else None
            return 0.0, 1.0, len(raw_only), rms
        n = len(scored)
        raw_abs = [abs(e["raw"] - e["realised"]) for e in scored]
        best = (sum(raw_abs) / n, 0.0, 1.0, math.sqrt(sum(x * x for x in raw_abs) / n))  # (mae, correction, weight, rms)
        for correction in CORRECTIONS:
            for weight in WEIGHTS:
                if (correction, weight) == (0.0, 1.0):
                    continue
                errs = [_combine(e["raw"], e["naive"], e["residual"], correction, weight) - e["realised"] for e in scored]
                gain = [r - abs(x) for r, x in zip(raw_abs, errs)]  # paired: how much closer than the raw estimate
                mean = sum(gain) / n
                sd = math.sqrt(sum((g - mean) ** 2 for g in gain) / (n - 1))
                mae = sum(abs(x) for x in errs) / n
                if mean > CONFIDENCE_Z * sd / math.sqrt(n) and mae < best[0] - 1e-12 * max(1.0, abs(best[0])):
                    best = (mae, correction, weight, math.sqrt(sum(x * x for x in errs) / n))
        return best[1], best[2], n, best[3]

    # ------------------------------------------------------------------ transitions
    def estimate(self, seq: int, raw: float) -> Corrected:
        """Tonight's estimate of batch ``seq`` from the estimator's ``raw`` value, and the batch
        entered in the track (its realised value comes with :meth:`realise`)."""
        naive, residual = self.naive(), self.residual()
        correction, weight, scored, error = self.choose()
        value = _combine(raw, naive, residual, correction, weight)
        if value is None or not math.isfinite(value):  # a pair scored on the past whose input is missing tonight
            correction, weight, value = 0.0, 1.0, raw
        self.entries = [e for e in self.entries if e.get("seq") != seq]
        self.entries.append({"seq": int(seq), "raw": float(raw), "naive": naive, "residual": residual, "realised": None})
        self.entries = sorted(self.entries, key=lambda e: e["seq"])[-KEEP:]
        return Corrected(value=float(value), raw=float(raw), correction=correction, weight=weight, naive=naive,
                         residual=residual, scored=scored, error=error)

    def realise(self, seq: int, value: float | None) -> bool:
        """Batch ``seq``'s realised value arrived; ``False`` when the track does not hold it."""
        for e in self.entries:
            if e.get("seq") == seq:
                e["realised"] = float(value) if _finite(value) else None
                return True
        return False
