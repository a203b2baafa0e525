"""What training costs on this root, measured: a small model of training CPU in its work, the
forecasts the policy reads as signals, and the compute budget's ledger.

Work is a deterministic count: rows × trees trained (rows × passes for an online learner). CPU per
unit of work is what the machine, the library and the data's width decide; it is re-measured on
every training, so forecasts follow a root that grows, gets wider or moves to another machine.
From three measured sizes a fit's forecast is a fixed cost plus a cost per unit of work; before
that a power law through the newest measurement, its exponent measured between two sizes or, from
one size, the square root (:meth:`CostModel._curve`). Reading a training's rows from the store
(a retrain's window, an update's rows) is part of its CPU, and is measured and forecast apart,
per stored batch (:meth:`CostModel.observe`).

The budget (policy ``budget: 0.2``) is a share of what the shipped ``always-retrain`` policy would
spend: a retrain (here on the policy's own window) every night at least
:data:`REFERENCE_MIN_ROWS` labelled rows wait. Every such night the allowance grows by ``budget ×``
the forecast cost of a retrain on tonight's window — and until the first nightly retrain is
measured the whole allowance is restated from the cost model as it then is, so the
misjudgements of the first nights (one measured fit, extrapolated) do not stay in it; the ledger
adds what training really spent. The
*learning debt* is the serving model's excess loss over the level the last retrain reached,
summed over the labelled rows it served since (in the policy metric's units × rows). An exchange
rate (CPU seconds per unit of debt) turns debt into compute: a retrain pays off when the
converted debt reaches the forecast retrain cost, and the rate adapts so that spending tracks the
allowance — when the ledger is under budget, debt is worth more and retrains come sooner; over
budget, later.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

__all__ = ["CostModel", "Ledger", "work_of"]

#: Measurements kept per action kind: the newest ones describe the root as it is now.
KEEP = 8
#: The exponent of a retrain's CPU in its work while only one training size is measured (see
#: :meth:`CostModel._curve`).
PRIOR_EXPONENT = 0.5
#: Two measured sizes tell the exponent once the larger is at least this multiple of the smaller.
SIZES_APART = 1.25
#: The reference a budget is a share of is the shipped ``always-retrain`` policy: a retrain on a night
#: when at least this many labelled rows wait (its ``min_rows`` guard; a test keeps them equal). On
#: a stream of 40-row batches it retrains every other night, and an allowance that grew every night
#: was twice what it spends.
REFERENCE_MIN_ROWS = 50
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
    """Measured CPU of retrains (their fits, when they say what reading cost), of updates and of
    reading stored batches, newest last."""

    retrains: list[list[float]] = field(default_factory=list)  # [work, cpu_s]
    updates: list[list[float]] = field(default_factory=list)
    retrain_trees: int | None = None  # trees of the newest retrained model
    update_rounds: int | None = None  # rounds (or passes) of the newest update
    provisional: int = 0  # the first retrains are stand-ins (the initial fit) until the first real retrain (observe)
    reads: list[list[float]] = field(default_factory=list)  # [stored batches read, cpu_s]
    split: bool = False  # retrains are logged as their fit alone, their reading in ``reads``

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "CostModel":
        names = set(cls.__dataclass_fields__)  # a newer release's fields are skipped, not fatal
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def observe(self, action: str, work: int, cpu_s: float, *, trees: int | None = None, rounds: int | None = None,
                provisional: bool = False, read: tuple[int, float] | None = None) -> None:
        """Record a training's work and CPU. ``read``: the stored batches its rows were read from
        and that reading's CPU (``cpu_s`` holds it). Reading costs per stored batch (a file
        each), not per row × tree, so a training that says what its reading cost is logged as
        its fit alone and the reading apart (``reads``); a forecast is then its fit's plus the
        batches it reads × the measured cost of reading one.

        ``provisional``: a retrain's stand-in until a real one is measured — the initial fit, a
        frame in memory. It is a fit alone, so it stays next to the fits of nightly retrains
        that say what their reading cost (theirs also hold the data fingerprint's hashing and
        the category scan: a few percent). A nightly retrain
        that does not say (a window read in chunks as it is fitted, a Dask cluster) is a total,
        reading included: it replaces the stand-in — next to such totals it made their cost per
        row look steeper than it is (forecasts 1.5-1.7x the measured CPU on a stream whose data
        doubles) — and, on a root whose window outgrew the small-window path, the fits logged
        before it, so that no reading is added to totals that hold it."""
        if read is not None and read[0] > 0 and math.isfinite(read[1]) and read[1] >= 0:
            self.reads.append([int(read[0]), float(read[1])])
            del self.reads[:-KEEP]
        if work <= 0 or not math.isfinite(cpu_s) or cpu_s < 0:
            return
        read_apart = read is not None and read[0] > 0
        if read_apart:
            cpu_s = max(0.0, cpu_s - float(read[1]))  # the fit
        if action == "retrain" and not provisional:
            if read_apart:
                if not self.split:  # earlier nightly entries were totals: the stand-ins (fits) stay
                    del self.retrains[self.provisional :]
                    self.split = True
                self.provisional = 0
            elif self.split:  # a total (reading included): the fits alone no longer compare with it
                del self.retrains[:]
                self.split, self.provisional = False, 0
            elif self.provisional:
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

    def read_cost_s(self, batches: int | None) -> float:
        """Forecast CPU of reading ``batches`` stored batches for a retrain: 0 when the retrain
        log holds totals (reading included) or nothing was measured."""
        if not batches or not self._fits_only():
            return 0.0
        return float(batches) * self._per_batch()

    def _fits_only(self) -> bool:
        """The retrain log holds fits alone (their reading logged apart), not totals."""
        return bool(self.split or (self.retrains and self.provisional == len(self.retrains)))

    def _per_batch(self) -> float:
        """Measured CPU of reading one stored batch (0 before any reading was measured)."""
        costs = [c / b for b, c in self.reads if b > 0]
        return median(costs) if costs else 0.0

    @staticmethod
    def _curve(log: list[list[float]]) -> tuple[str, float, float, float] | None:
        """The forecast's shape from the measurements: ``("line", a, b, 0)`` for ``a + b × work``
        (a fixed cost plus a cost per unit, both ≥ 0: least squares, once three measurements
        differ in size), else ``("power", c, w, p)`` for ``c × (work / w) ** p`` through the
        newest measurement ``(w, c)``. Its exponent ``p`` is measured between the two newest
        sizes (clamped to 0..1) once two differ by :data:`SIZES_APART`; from one size it is
        :data:`PRIOR_EXPONENT`. A tree's cost lies between fixed (its split search over the
        histograms: ``p = 0``) and proportional to the rows (building the histograms: ``p =
        1``); the square root is the middle of that range on a log scale. Through the origin
        (``p = 1``) a forecast from one measured size overstated retrains on grown data —
        the log-log slopes of a nightly retrain's CPU in its rows were 0.51–0.83 on seven of
        the benchmark's streams, and such a forecast from the first nightly retrain summed to
        1.26–1.84× what retraining every night cost (``benchmarks/RESULTS.md``, 2026-11-27)."""
        log = [[x, y] for x, y in log if x > 0 and y > 0]
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
                return "line", a, b, 0.0
        w_new, c_new = log[-1]
        p = PRIOR_EXPONENT
        for w_old, c_old in reversed(log[:-1]):
            if max(w_new, w_old) >= SIZES_APART * min(w_new, w_old):
                p = min(1.0, max(0.0, math.log(c_new / c_old) / math.log(w_new / w_old)))
                break
        return "power", c_new, w_new, p

    @staticmethod
    def _at(curve: tuple[str, float, float, float], work: float) -> float:
        kind, x, y, p = curve
        if kind == "line":
            return x + y * work
        return x * (max(float(work), 0.0) / y) ** p

    @staticmethod
    def _forecast(log: list[list[float]], work: int) -> float | None:
        """CPU at ``work`` from the measurements (:meth:`_curve`)."""
        curve = CostModel._curve(log)
        return None if curve is None else CostModel._at(curve, work)

    def retrain_work(self, rows: int) -> int:
        """The work of a retrain on ``rows`` rows (the model's size as last retrained)."""
        return work_of("retrain", rows, trees=self.retrain_trees)

    def retrain_cost_s(self, rows: int, batches: int | None = None) -> float | None:
        """Forecast CPU seconds of a retrain on ``rows`` rows (the model's size as last retrained)
        read from ``batches`` stored batches."""
        fit = self._forecast(self.retrains, self.retrain_work(rows))
        return None if fit is None else fit + self.read_cost_s(batches)

    def retrain_cost_sum(self, nights: float, work: float, work_prior: float, batches: float = 0.0) -> float | None:
        """Forecast CPU of ``nights`` retrains: what retraining on every one of those nights would
        have cost, as the measurements tell it now. ``work`` is the sum of their works,
        ``work_prior`` the sum of their works to the power :data:`PRIOR_EXPONENT` and
        ``batches`` the sum of the stored batches they read (the sums make a line and a power
        law through one measured size exact; a measured exponent is applied to the nights'
        mean work, which overstates a concave cost's sum slightly: 1-2 %)."""
        curve = self._curve(self.retrains)
        if curve is None:
            return None
        kind, x, y, p = curve
        if kind == "line":
            fit = x * nights + y * work
        elif p == PRIOR_EXPONENT:
            fit = x * work_prior / y**p
        else:
            fit = nights * self._at(curve, work / nights) if nights > 0 else 0.0
        return fit + self.read_cost_s(1) * batches

    def update_cost_s(self, rows: int, rounds: int | None = None, batches: int | None = None) -> float | None:
        """Forecast CPU seconds of an update on ``rows`` rows of ``rounds`` trees (default: the last
        update's), read from ``batches`` stored batches. Before the first update, retrains stand
        in: a tree's cost per row is about the same whether it starts a model or corrects one."""
        fit = self._forecast(self.updates or self.retrains, work_of("update", rows, rounds=rounds or self.update_rounds))
        if fit is None or not (self.updates or self._fits_only()):  # retrain totals stand in: reading is in them
            return fit
        return fit + float(batches or 0) * self._per_batch()


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

    allowance_s: float = 0.0  # budget × forecast retrain cost, summed over the nights always-retrain would retrain (restated: below)
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
    allowed_work_prior: float = 0.0  # the same nights' Σ budget × work ** PRIOR_EXPONENT
    allowed_batches: float = 0.0  # ... and Σ budget × the stored batches a retrain would read
    allowance_base_s: float = 0.0
    restating: bool = True  # until the first nightly retrain is measured (then nights accrue as forecast)
    waiting_rows: float = 0.0  # labelled rows since the last night the allowance grew (REFERENCE_MIN_ROWS)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Ledger":
        d = dict(d or {})
        if "allowance_base_s" not in d:  # a ledger saved before the restatement: its allowance stands
            d["allowance_base_s"] = float(d.get("allowance_s", 0.0))
        elif "allowed_work_prior" not in d and d.get("allowed_nights"):
            # saved while restating, before the power-law forecast: its allowance so far stands
            d["allowance_base_s"] = float(d.get("allowance_s", 0.0))
            d["allowed_nights"] = d["allowed_work"] = 0.0
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
              costs: "CostModel | None" = None, labelled_rows: int | None = None, batches: int | None = None) -> None:
        """Tonight's allowance: ``budget ×`` a retrain's forecast cost, on the nights the reference
        would retrain — with ``labelled_rows`` (the rows labelled tonight), once at least
        :data:`REFERENCE_MIN_ROWS` have come since the last night the allowance grew. With the retrain's
        ``work`` and the root's cost model, the whole allowance is *restated* each night from
        what the cost model knows now — ``Σ budget × forecast(work)`` over the nights so far,
        not the sum of each night's forecast as it was made. Before the first nightly retrain
        the only retrain measured is the initial fit (a frame in memory, while a nightly retrain
        also reads and hashes its window), and a forecast from it misjudges a retrain on grown
        data: on a 400-row-batch stream a forecast in proportion to the work was 2.1× the retrain
        measured at night 36, and the allowance built from such forecasts let a `budget: 0.1`
        spend 0.16 of always-retrain's CPU. Restated, the allowance follows the measurements as they come.

        The restatement stops once a nightly retrain has been measured (the cost model no longer
        rests on the initial fit): the restated allowance becomes the base, and later nights
        accrue their own forecasts. Restated for ever, every new measurement would reprice the
        whole history — with a few noisy measurements a swing of several retrains' worth in one
        night, and a root moved to a faster machine would have its past allowance shrunk."""
        if labelled_rows is not None:
            self.waiting_rows += max(0, int(labelled_rows))
        if not budget or not retrain_cost_s:
            return
        if labelled_rows is not None:
            if self.waiting_rows < REFERENCE_MIN_ROWS:
                return
            self.waiting_rows = 0.0
        if work is None or costs is None or not self.restating:  # this night's forecast stands
            self.allowance_base_s += budget * retrain_cost_s
            self.allowance_s = self.allowance_base_s
            return
        self.allowed_nights += budget
        self.allowed_work += budget * work
        self.allowed_work_prior += budget * float(work) ** PRIOR_EXPONENT
        self.allowed_batches += budget * float(batches or 0)
        restated = costs.retrain_cost_sum(self.allowed_nights, self.allowed_work, self.allowed_work_prior,
                                          self.allowed_batches)
        self.allowance_s = self.allowance_base_s + (restated if restated is not None else 0.0)
        if not costs.provisional and costs.retrains:  # measured on a nightly retrain: the last restatement
            self.allowance_base_s, self.allowed_nights, self.allowed_work = self.allowance_s, 0.0, 0.0
            self.allowed_work_prior = self.allowed_batches = 0.0
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
