"""What training costs on this root, measured: a small model of training CPU per unit of work,
the forecasts the policy reads as signals, and the compute budget's ledger.

Work is a deterministic count: rows × trees trained (rows × passes for an online learner). CPU per
unit of work is what the machine, the library and the data's width decide; it is re-measured on
every training, so forecasts follow a root that grows, gets wider or moves to another machine.

The budget (policy ``budget: 0.2``) is a share of what retraining every batch would spend. Every
night the allowance grows by ``budget ×`` the forecast cost of a retrain on tonight's window —
and until the first nightly retrain is measured the whole allowance is restated from the cost
model as it then is, so the overestimates of the first nights (one measured fit, extrapolated)
do not stay in it; the ledger adds what training really spent. The *learning debt* is the
serving model's excess loss over the level the last retrain reached, summed over the labelled rows it served since (in the
policy metric's units × rows). An exchange rate (CPU seconds per unit of debt) turns debt into
compute: a retrain pays off when the converted debt reaches the forecast retrain cost, and the
rate adapts so that spending tracks the allowance — when the ledger is under budget, debt is worth
more and retrains come sooner; over budget, later.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

__all__ = ["CostModel", "Ledger", "work_of"]

#: Measurements kept per action kind: the newest ones describe the root as it is now.
KEEP = 8
#: Largest change of the exchange rate in one night (a factor): steady, not jumpy.
MAX_STEP = 2.0
#: How far the exchange rate may move from its first value (a factor, either way): a calm root
#: under budget for months must not wind the rate up until any noise triggers a retrain.
MAX_DRIFT = 1e3


def work_of(action: str, rows: int, *, trees: int | None = None, rounds: int | None = None) -> int:
    """Rows × trees (or rounds, or passes) trained: the deterministic size of a training."""
    per_row = trees if action == "retrain" else rounds
    return int(rows) * max(1, int(per_row or 1))


@dataclass
class CostModel:
    """Measured CPU per unit of work of retrains and of updates (newest last)."""

    retrains: list[list[float]] = field(default_factory=list)  # [work, cpu_s]
    updates: list[list[float]] = field(default_factory=list)
    retrain_trees: int | None = None  # trees of the newest retrained model
    update_rounds: int | None = None  # rounds (or passes) of the newest update
    provisional: int = 0  # the first retrains are stand-ins (the initial fit), replaced by the first real retrain

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "CostModel":
        names = set(cls.__dataclass_fields__)  # a newer release's fields are skipped, not fatal
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def observe(self, action: str, work: int, cpu_s: float, *, trees: int | None = None, rounds: int | None = None,
                provisional: bool = False) -> None:
        """Record a training's work and CPU. ``provisional``: a retrain's stand-in until a real
        one is measured — the initial fit, which trains on a frame in memory, while a nightly
        retrain also reads its window from the store (and hashes it): kept next to real retrains
        it made their cost per row look steeper than it is (forecasts 1.5-1.7x the measured CPU
        on a stream whose data doubles)."""
        if work <= 0 or not math.isfinite(cpu_s) or cpu_s < 0:
            return
        if action == "retrain" and self.provisional and not provisional:
            del self.retrains[: self.provisional]
            self.provisional = 0
        elif action == "retrain" and provisional:
            self.provisional += 1
        log = self.retrains if action == "retrain" else self.updates
        log.append([int(work), float(cpu_s)])
        del log[:-KEEP]
        if action == "retrain" and trees:
            self.retrain_trees = int(trees)
        elif action != "retrain" and rounds:
            self.update_rounds = int(rounds)

    @staticmethod
    def _line(log: list[list[float]]) -> tuple[float, float] | None:
        """``(a, b)`` of the forecast ``a + b × work`` (fixed cost + cost per unit, both ≥ 0): a
        least-squares line once three measurements differ in size, else ``a = 0`` and the median
        cost per unit."""
        if not log:
            return None
        w = [x for x, _ in log]
        c = [y for _, y in log]
        if len(set(w)) >= 3:
            mw, mc = sum(w) / len(w), sum(c) / len(c)
            var = sum((x - mw) ** 2 for x in w)
            b = max(0.0, sum((x - mw) * (y - mc) for x, y in zip(w, c)) / var)
            a = max(0.0, mc - b * mw)
            if b > 0:
                return a, b
        return 0.0, median(y / x for x, y in log if x > 0)

    @staticmethod
    def _forecast(log: list[list[float]], work: int) -> float | None:
        """CPU at ``work`` from the measurements (:meth:`_line`)."""
        line = CostModel._line(log)
        return None if line is None else line[0] + line[1] * work

    def retrain_work(self, rows: int) -> int:
        """The work of a retrain on ``rows`` rows (the model's size as last retrained)."""
        return work_of("retrain", rows, trees=self.retrain_trees)

    def retrain_cost_s(self, rows: int) -> float | None:
        """Forecast CPU seconds of a retrain on ``rows`` rows (the model's size as last retrained)."""
        return self._forecast(self.retrains, self.retrain_work(rows))

    def retrain_cost_sum(self, nights: float, work: float) -> float | None:
        """Forecast CPU of ``nights`` retrains whose work adds up to ``work``: what retraining
        on every one of those nights would have cost, as the measurements tell it now."""
        line = self._line(self.retrains)
        return None if line is None else line[0] * nights + line[1] * work

    def update_cost_s(self, rows: int, rounds: int | None = None) -> float | None:
        """Forecast CPU seconds of an update on ``rows`` rows of ``rounds`` trees (default: the last
        update's). Before the first update, retrains stand in: a tree's cost per row is about the
        same whether it starts a model or corrects one."""
        return self._forecast(self.updates or self.retrains, work_of("update", rows, rounds=rounds or self.update_rounds))


@dataclass
class Ledger:
    """The compute budget's account and the learning debt since the last retrain.

    **Debt from estimates** (a policy with ``estimates: auto``, a batch without its labels): every
    batch's excess loss is counted once. A batch that comes without labels accrues its
    *estimated* excess (the optimistic end of the estimate past the retrain level, ≥ 0: see
    ``policy.signals.acted_estimate``) × its rows at once,
    and the ledger keeps that per-row amount and the rows still awaiting labels under the
    batch's sequence number (``estimated``). When labels arrive for ``k`` of those rows,
    :meth:`settle` withdraws ``k ×`` the estimated per-row excess, and the night accrues the
    realised excess of the rows that arrived, as it does for any labelled rows. So the debt is
    always the realised excess of the rows labelled since the last retrain plus the estimated
    excess of the rows whose labels are still due — never both for one row. A retrain
    (promoted, or refused by the gate: it measured the level again) clears the debt and the
    pending estimates together (labels that arrive later for batches served before it accrue
    their realised excess against the new level, as without estimates); rows whose labels
    never arrive keep their estimated share until then. ``last_estimate`` is the serving
    model's estimated metric on the newest batch without labels since the last promoted
    retrain (what a sustained drop compares with the night after).
    """

    allowance_s: float = 0.0  # budget × forecast retrain cost, summed over the nights (restated: below)
    spent_s: float = 0.0  # training CPU really spent
    debt: float = 0.0  # excess loss × rows since the last retrain
    rate: float | None = None  # CPU seconds per unit of debt (set on the first debt)
    rate0: float | None = None  # the first rate: the bounds of the rate are set around it
    estimated: dict[str, list[float]] = field(default_factory=dict)  # batch seq -> [estimated excess per row, rows due]
    last_estimate: list[float] | None = None  # [batch seq, serving version, estimated metric]
    # what the allowance is restated from (see :meth:`allow`): the nights and the retrain work
    # they would have done, each weighted by that night's budget, and the part of the allowance
    # a release before the restatement accrued (kept as it was)
    allowed_nights: float = 0.0
    allowed_work: float = 0.0
    allowance_base_s: float = 0.0
    restating: bool = True  # until the first nightly retrain is measured (then nights accrue as forecast)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Ledger":
        d = dict(d or {})
        if "allowance_base_s" not in d:  # a ledger saved before the restatement: its allowance stands
            d["allowance_base_s"] = float(d.get("allowance_s", 0.0))
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def accrue(self, excess: float | None, rows: int, retrain_cost_s: float | None, level: float | None) -> None:
        """Tonight's debt: the serving model's excess loss over the retrain level on ``rows``
        labelled rows (a better-than-level night pays nothing back: the debt is what was lost)."""
        if excess is None or rows <= 0:
            return
        self.debt += max(0.0, float(excess)) * rows
        if self.rate is None and retrain_cost_s and level is not None:
            # the first rate: a night whose loss is twice the level (its excess as large as the
            # level itself) pays for a retrain
            self.rate = self.rate0 = retrain_cost_s / max(abs(level) * rows, 1e-12)

    def accrue_estimate(self, seq: int, excess: float | None, rows: int, retrain_cost_s: float | None,
                        level: float | None) -> None:
        """A batch without labels: accrue its estimated excess loss on its ``rows`` rows, kept by
        batch until :meth:`settle` replaces it (see the class docstring)."""
        if excess is None or rows <= 0:
            return
        self.accrue(excess, rows, retrain_cost_s, level)
        per_row = max(0.0, float(excess))
        if per_row > 0:
            self.estimated[str(int(seq))] = [per_row, float(rows)]

    def settle(self, arrived: dict[int, int]) -> float:
        """Labels arrived for ``arrived[seq]`` rows of each batch: withdraw the estimated excess
        accrued for those rows. Returns the debt withdrawn."""
        withdrawn = 0.0
        for seq, rows in arrived.items():
            entry = self.estimated.get(str(int(seq)))
            if entry is None:
                continue
            n = min(float(rows), entry[1])
            withdrawn += entry[0] * n
            entry[1] -= n
            if entry[1] <= 0:
                del self.estimated[str(int(seq))]
        self.debt = max(0.0, self.debt - withdrawn)
        return withdrawn

    def estimated_debt(self) -> float:
        """The part of the debt accrued from estimates whose labels are still due."""
        return sum(per_row * rows for per_row, rows in self.estimated.values())

    def note_estimate(self, seq: int, version: int, value: float) -> None:
        self.last_estimate = [int(seq), int(version), float(value)]

    def previous_estimate(self, seq: int, version: int | None = None) -> float | None:
        """The estimated metric of batch ``seq - 1`` (served by ``version``, when given) since the
        last retrain; ``None`` when that batch had labels or another model served it."""
        last = self.last_estimate
        if last is None or int(last[0]) != seq - 1 or (version is not None and int(last[1]) != version):
            return None
        return float(last[2])

    def allow(self, budget: float | None, retrain_cost_s: float | None, *, work: int | None = None,
              costs: "CostModel | None" = None) -> None:
        """Tonight's allowance: ``budget ×`` a retrain's forecast cost. With the retrain's
        ``work`` and the root's cost model, the whole allowance is *restated* each night from
        what the cost model knows now — ``Σ budget × (a + b × work)`` over the nights so far,
        not the sum of each night's forecast as it was made. Before the first nightly retrain
        the only retrain measured is the initial fit, and a cost per unit of work extrapolated
        from it overstates a retrain on grown data (a tree costs about the same on 4,000 and on
        18,000 rows): on a 400-row-batch stream the forecast was 2.1× the retrain measured at
        night 36, and the allowance built from such forecasts let a `budget: 0.1` spend 0.16 of
        always-retrain's CPU. Restated, the allowance follows the measurements as they come.

        The restatement stops once a nightly retrain has been measured (the cost model no longer
        rests on the initial fit): the restated allowance becomes the base, and later nights
        accrue their own forecasts. Restated for ever, every new measurement would reprice the
        whole history — with a few noisy measurements a swing of several retrains' worth in one
        night, and a root moved to a faster machine would have its past allowance shrunk."""
        if not budget or not retrain_cost_s:
            return
        if work is None or costs is None or not self.restating:  # this night's forecast stands
            self.allowance_base_s += budget * retrain_cost_s
            self.allowance_s = self.allowance_base_s
            return
        self.allowed_nights += budget
        self.allowed_work += budget * work
        restated = costs.retrain_cost_sum(self.allowed_nights, self.allowed_work)
        self.allowance_s = self.allowance_base_s + (restated if restated is not None else 0.0)
        if not costs.provisional and costs.retrains:  # measured on a nightly retrain: the last restatement
            self.allowance_base_s, self.allowed_nights, self.allowed_work = self.allowance_s, 0.0, 0.0
            self.restating = False

    def spend(self, cpu_s: float) -> None:
        self.spent_s += max(0.0, float(cpu_s))

    def adapt(self, budget: float | None, retrain_cost_s: float | None) -> None:
        """Move the exchange rate toward spending the allowance: up when under it, down when over,
        by the gap measured in retrains (at most a factor :data:`MAX_STEP` a night)."""
        if not budget or not retrain_cost_s or self.rate is None:
            return
        gap = max(-10.0, min(10.0, (self.allowance_s - self.spent_s) / retrain_cost_s))
        rate = self.rate * min(MAX_STEP, max(1 / MAX_STEP, math.exp(0.5 * gap)))
        first = self.rate0 or self.rate
        self.rate = min(first * MAX_DRIFT, max(first / MAX_DRIFT, rate))

    def after_retrain(self) -> None:
        self.clear_debt()
        self.last_estimate = None

    def clear_debt(self) -> None:
        """The debt and the pending estimated excess go (a retrain, promoted or refused, measured
        the level again); ``last_estimate`` stays with the model that made it."""
        self.debt = 0.0
        self.estimated = {}

    def debt_cost_s(self) -> float | None:
        return None if self.rate is None else self.debt * self.rate

    def left_s(self) -> float:
        """Allowance not spent yet (negative: over budget)."""
        return self.allowance_s - self.spent_s

    def spent_share(self) -> float | None:
        """Spent / allowance so far (1.0: exactly on budget)."""
        return self.spent_s / self.allowance_s if self.allowance_s > 0 else None
