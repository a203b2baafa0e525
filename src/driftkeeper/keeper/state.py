"""The runner's state between nights (``ROOT/state.json``, written last: the commit point).

Every change of state goes through one of :class:`RunnerState`'s transitions, so what a
promotion, a refusal, a retrain or a rollback does to the counters and baselines is written
down once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..monitor.tracking import EstimateTrack
from .costs import CostModel, Ledger

__all__ = ["BASELINE_BATCHES", "FORMAT_VERSION", "RunnerState"]

#: Format of keeper.json / state.json this release writes (and the newest it reads).
FORMAT_VERSION = 1

#: Labelled batches served that make a model's baseline (its out-of-sample metric level).
BASELINE_BATCHES = 3


@dataclass
class RunnerState:
    format_version: int = FORMAT_VERSION
    seq: int = 0  # batches processed
    processed: dict[str, str] = field(default_factory=dict)  # batch sha256 -> run id
    last_batch_time: str | None = None
    last_retrain_time: str | None = None
    last_retrain_seq: int = 0
    last_trained_seq: int = 0  # newest batch the serving model has learned from
    updates_since_retrain: int = 0
    consecutive_gate_refusals: int = 0
    baseline: list[float] = field(default_factory=list)  # serving model's metric on its first served batches
    previous_metric: float | None = None  # serving model's metric on the previous labelled batch
    previous_metric_since_retrain: float | None = None  # the same, reset by retrains only (promoted or refused)
    # metric on the first batches after the last retrain (or refused one)
    retrain_baseline: list[float] = field(default_factory=list)
    rows_at_retrain: int = 0  # rows the last retrain (or init) trained on
    rows_since_retrain: int = 0  # labelled rows that arrived since
    runs: list[str] = field(default_factory=list)
    costs: CostModel = field(default_factory=CostModel)  # measured training CPU in its work
    ledger: Ledger = field(default_factory=Ledger)  # the compute budget's account and the learning debt
    track: EstimateTrack = field(default_factory=EstimateTrack)  # estimates and realised values of the newest batches

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunnerState":
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names}
        kw["costs"] = CostModel.from_dict(kw.get("costs"))
        kw["ledger"] = Ledger.from_dict(kw.get("ledger"))
        kw["track"] = EstimateTrack.from_dict(kw.get("track"))
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # ------------------------------------------------------------------ reads
    def serving_baseline(self, at_promotion: float | None) -> float | None:
        """The serving model's reference metric for ``performance_drop``: its mean metric on the
        first (up to :data:`BASELINE_BATCHES`) labelled batches it served — out of sample, unlike
        the gate holdout, whose rows sit right next to the training rows in time and flatter the
        model. Until it has served a labelled batch, the holdout value at promotion."""
        return float(np.mean(self.baseline)) if self.baseline else at_promotion

    def retrain_level(self, at_promotion: float | None) -> float | None:
        """The same over the first batches served after the last retrain (promoted updates do not
        reset it): the level ``drop_since_retrain`` compares with."""
        return float(np.mean(self.retrain_baseline)) if self.retrain_baseline else at_promotion

    # ------------------------------------------------------------------ transitions
    def after_batch(self, seq: int, batch_time: str | None, labelled_rows: int, metric: float | None) -> None:
        """A batch was stored: count it, and record the serving model's metric on its labels."""
        self.seq = seq
        self.rows_since_retrain += labelled_rows
        if metric is not None:
            self.previous_metric = self.previous_metric_since_retrain = float(metric)
            if len(self.baseline) < BASELINE_BATCHES:
                self.baseline.append(float(metric))
            if len(self.retrain_baseline) < BASELINE_BATCHES:
                self.retrain_baseline.append(float(metric))
        if batch_time is not None:
            self.last_batch_time = batch_time

    def after_promotion(self, action: str, seq: int, batch_time: str | None, rows_trained: int) -> None:
        """A candidate became champion. A new champion earns its own baseline; a retrain also
        sets the level later updates must keep, and restarts the growth count."""
        self.consecutive_gate_refusals = 0
        self.baseline, self.previous_metric = [], None
        self.last_trained_seq = seq
        if action == "retrain":
            self.ledger.after_retrain()
            if batch_time is not None:
                self.last_retrain_time = batch_time
            self.last_retrain_seq = seq
            self.updates_since_retrain = 0
            self.rows_at_retrain = rows_trained
            self.rows_since_retrain = 0
            self.retrain_baseline = []
            self.previous_metric_since_retrain = None
        else:
            self.updates_since_retrain += 1

    def after_refusal(self, action: str, seq: int) -> None:
        """The gate kept the champion. A refused retrain is not retried on the very next batch:
        a retrain forced by ``max_consecutive_updates`` (or a due schedule) would otherwise
        repeat every batch until one passes. And it *measured* that a retrain on tonight's rows
        does not reach the serving model's level, so the level ``drop_since_retrain`` compares
        with starts again from the serving model's newest labelled metric (tonight's, which
        :meth:`after_batch` recorded, when tonight brought labels) and its next batches, and the
        learning debt owed against the old level is cleared: otherwise a drop from a level no
        retrain reaches any more holds for ever, and every retry the rule makes is refused again
        (agrawal-small: two of four retrains refused; fried-small under ``budget: 0.1``, in one
        run, four of four). The data growth counts from the refusal against the rows the serving
        model's retrain learned, as before: counted from the refused attempt's larger rows, the
        next attempt came later, and on LendingClub at 100 trees a later growth retrain that
        passed was lost (error ×1.014 → ×1.030 of always-retrain's). ``days_since_retrain``
        still counts from the last promoted retrain (its time)."""
        self.consecutive_gate_refusals += 1
        if action == "retrain":
            self.updates_since_retrain = 0
            self.last_retrain_seq = seq
            self.rows_since_retrain = 0
            m = self.previous_metric
            seed = float(m) if m is not None and np.isfinite(m) else None
            self.retrain_baseline = [] if seed is None else [seed]
            self.previous_metric_since_retrain = seed
            self.ledger.clear_debt()

    def after_rollback(self, trained_seq: int | None = None) -> None:
        """The champion moved to another version outside a training night (a rollback, by the
        policy or by hand, or a manual promotion): the baselines described the other model.
        ``trained_seq`` is the newest batch the new champion learned from, when known."""
        self.consecutive_gate_refusals = 0
        self.baseline, self.previous_metric = [], None
        self.retrain_baseline, self.previous_metric_since_retrain = [], None
        self.track = EstimateTrack(metric=self.track.metric)  # its errors were the other model's
        self.ledger.last_estimate = None  # so was its estimate of the last unlabelled batch
        if trained_seq is not None:
            self.last_trained_seq = trained_seq

    def after_training(self, action: str, work: int, cpu_s: float, *, trees: int | None, rounds: int | None,
                       read: tuple[int, float] | None = None) -> None:
        """A candidate was trained (promoted or not): its CPU is spent and measured. ``read``:
        the stored batches its rows were read from and that reading's CPU (see
        :meth:`CostModel.observe`)."""
        self.costs.observe(action, work, cpu_s, trees=trees, rounds=rounds, read=read)
        self.ledger.spend(cpu_s)

    def after_commit(self, sha: str, run_id: str) -> None:
        """The run record is written: this batch content is done."""
        self.processed[sha] = run_id
        self.runs.append(run_id)
