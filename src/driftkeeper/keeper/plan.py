"""Plan a night's training before anything is written: which rows train, which are held out for
the gate, which batches are relearned, which update parameters apply. Pure.

:func:`plan_training` reads only a row index (batch sequence, position, labelled flag and time
of every stored row, plus the incoming batch) — never the features — so ``--dry-run`` can show
the whole plan, and the apply step loads exactly the rows the plan names.

Which rows train what (README, "What each action trains on"):

* the **holdout** is drawn from the labelled rows the champion has not learned yet (rows whose
  labels arrived after its last training: a later batch's, or late labels of an older batch
  that arrived since, ``LABELLED_AT``): the newest of them, or with ``gate.holdout.pick: random`` a
  random sample seeded by the batch. It is never in a candidate's training data, and champion
  and candidate are scored on the same rows. An update with early stopping splits it in two:
  every other held-out row (in time order) is a **stopping** row that picks the update's round
  count, the rest (the larger half) are the gate's — a candidate tuned on some rows is judged
  on others; with fewer than four held-out rows every round is trained instead;
* a **retrain** fits a fresh model on the labelled rows of the policy's window (last N days,
  newest N rows, or all), minus the holdout;
* an **update** continues the champion on the labelled rows it has not learned, minus the
  holdout, after the newest ``relearn_batches`` batches it already learned (warm starts only).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from .store import LABELLED, LABELLED_AT, POS, SEQ, TIME

__all__ = ["UPDATE_KEYS", "RowSet", "TrainingPlan", "holdout_size", "plan_training", "time_order", "unlearned_rows",
           "window_size"]

#: Update parameters a policy may set that the runner hands to ``adapter.update``.
UPDATE_KEYS = ("rounds", "learning_rate", "replay_fraction", "early_stopping_rounds", "l2_regularization", "mode")


def _ints(values: Any = ()) -> np.ndarray:
    return np.asarray(values, dtype="int64")


@dataclass(frozen=True)
class RowSet:
    """Stored rows named by (batch, position), in the order they are used (numpy arrays: a
    retrain may name millions of rows)."""

    seq: np.ndarray = field(default_factory=_ints)
    pos: np.ndarray = field(default_factory=_ints)

    @classmethod
    def of(cls, index: pd.DataFrame) -> "RowSet":
        return cls(_ints(index[SEQ].to_numpy()), _ints(index[POS].to_numpy()))

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def batches(self) -> list[int]:
        return [int(s) for s in np.unique(self.seq)]

    def keys(self) -> pd.DataFrame:
        return pd.DataFrame({SEQ: self.seq, POS: self.pos})


@dataclass(frozen=True)
class TrainingPlan:
    """What a training night will do. ``skip`` set: nothing trains, and why."""

    action: str  # what trains: warm_start | online_update | retrain
    train: RowSet = field(default_factory=RowSet)
    holdout: RowSet = field(default_factory=RowSet)  # the gate's rows
    stop: RowSet = field(default_factory=RowSet)  # early stopping's rows (held out too, never gated on)
    params: dict[str, Any] = field(default_factory=dict)  # the overrides an update passes, or the retrain window
    ignored_params: tuple[str, ...] = ()
    relearned_batches: tuple[int, ...] = ()
    relearned_rows: int = 0  # the first rows of ``train`` are already learned (not offered to a replay reservoir again)
    notes: dict[str, Any] = field(default_factory=dict)  # relearn capped / skipped, early stopping skipped
    fallback: "TrainingPlan | None" = None  # the retrain run when an update would break a size cap
    skip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as the run record (and ``--dry-run``) shows it."""
        d: dict[str, Any] = {"action": self.action, "holdout_rows": len(self.holdout)}
        if len(self.stop):
            d["stop_rows"] = len(self.stop)
        if self.skip:
            d["skipped"] = self.skip
            return d
        d.update(rows=len(self.train), batches=self.train.batches, holdout_batches=self.holdout.batches,
                 params=dict(self.params))
        if self.ignored_params:
            d["ignored_params"] = list(self.ignored_params)
        if self.relearned_batches:
            d["relearned_batches"] = list(self.relearned_batches)
            d["relearned_rows"] = self.relearned_rows
        d.update(self.notes)
        if self.fallback is not None:
            d["fallback"] = {"action": self.fallback.action, "rows": len(self.fallback.train),
                             "window": self.fallback.params.get("window")}
        return d


def time_order(index: pd.DataFrame) -> np.ndarray:
    """Row order by time (stable: batch sequence and position break ties)."""
    if len(index) == 0:
        return np.arange(0)
    keys = [index[SEQ].to_numpy(), index[POS].to_numpy()]
    if TIME in index.columns:
        keys.insert(0, index[TIME].to_numpy(dtype="datetime64[ns]"))
    return np.lexsort(tuple(reversed(keys)))


def _labelled_at(index: pd.DataFrame) -> np.ndarray:
    """The night each row's label arrived (its own batch's when the index does not say)."""
    if LABELLED_AT in index.columns:
        return index[LABELLED_AT].to_numpy()
    return index[SEQ].to_numpy()


def unlearned_rows(index: pd.DataFrame, last_trained_seq: int) -> int:
    """Labelled rows of ``index`` labelled since the serving model's last training (after the
    night ``last_trained_seq``): what an update would learn tonight, its holdout included. Rows
    a training held out (or left outside a retrain window) count as learned, as the planner
    counts them: the next update relearns them as context."""
    labelled = index[LABELLED].to_numpy(dtype=bool)
    return int((labelled & (_labelled_at(index) > last_trained_seq)).sum())


def update_batches(index: pd.DataFrame, last_trained_seq: int, relearn: int, relearn_rows: int | None = None) -> int:
    """The stored batches an update tonight would read its rows from, each once: the batches
    holding rows labelled since the last training, and the batches of the rows :func:`_relearn`
    would read again (by :func:`_relearned`; in the index's order, where a time column may order
    a batch's rows otherwise; a holdout that takes a whole batch leaves one fewer). 0 when no row
    is new (no update)."""
    labelled = index[LABELLED].to_numpy(dtype=bool)
    new = labelled & (_labelled_at(index) > last_trained_seq)
    if not new.any():
        return 0
    seqs = index[SEQ].to_numpy()
    done = seqs[labelled & ~new]
    again = done[_relearned(done, relearn, int(new.sum()), relearn_rows)[0]] if relearn > 0 else done[:0]
    return int(len(np.union1d(seqs[new], again)))


def holdout_size(gate: Any, n: int, *, always: bool = False) -> int:
    """Rows held out from ``n`` rows: the gate's ``holdout`` (``rows: N``, or a fraction of the
    ``n`` rows, 0.2 by default), at most half of them. ``always`` holds out even with the gate
    off (init needs a holdout metric as the baseline of ``performance_drop``)."""
    if not gate.enabled and not always:
        return 0
    if gate.holdout_rows:
        h = int(gate.holdout_rows)
    else:
        h = int(round((gate.holdout_fraction or 0.2) * n))
    return max(0, min(h, n // 2))


def _window(pool: pd.DataFrame, window: Any, batch_time: datetime | None) -> pd.DataFrame:
    """Rows of the retrain window: ``None``/"all", ``{"rows": N}`` or ``{"days": N}`` before the batch time."""
    if window in (None, "all") or (isinstance(window, dict) and not window):
        return pool
    if isinstance(window, dict) and window.get("rows"):
        return pool.iloc[-int(window["rows"]) :]
    if isinstance(window, dict) and window.get("days"):
        if TIME not in pool.columns or batch_time is None:
            raise ConfigError("the policy's retrain window is in days, but this root has no time column; use {rows: N}")
        cutoff = pd.Timestamp(batch_time) - pd.Timedelta(days=float(window["days"]))
        return pool[(pool[TIME] > cutoff).to_numpy()]
    raise ConfigError(f"unknown retrain window {window!r}; expected 'all', {{days: N}} or {{rows: N}}")


def window_size(index: pd.DataFrame, window: Any, batch_time: datetime | None) -> tuple[int, int]:
    """Labelled rows a retrain on ``window`` would use (holdout included), and the stored
    batches it would read them from."""
    labelled = index[index[LABELLED]]
    rows = _window(labelled.iloc[time_order(labelled)], window, batch_time)
    return len(rows), int(rows[SEQ].nunique())


def _holdout(new: pd.DataFrame, gate: Any, seq: int) -> pd.DataFrame:
    n_hold = holdout_size(gate, len(new))
    if gate.holdout_pick == "random" and n_hold:
        picked = np.random.default_rng(int(seq)).choice(len(new), size=n_hold, replace=False)
        return new.iloc[np.sort(picked)]  # seeded by the batch: a rerun picks the same rows
    return new.iloc[len(new) - n_hold :]


#: Held-out rows early stopping needs: two to pick a round count and two to judge it (cross-fitted
#: halves, or a model that cannot cross-fit: half to stop on, the other half the gate's).
STOP_MIN_HOLDOUT = 4


def _update_params(params: dict[str, Any], accepted: frozenset[str], online: bool, no_stop: str | None) -> tuple[dict, tuple, dict]:
    """The policy's update parameters the model understands, those it ignores, and notes."""
    wanted = {k: params[k] for k in UPDATE_KEYS if params.get(k) is not None}
    if online and params.get("passes") is not None:
        wanted["rounds"] = params["passes"]  # an online learner's rounds are passes over the rows
    overrides = {k: v for k, v in wanted.items() if k in accepted}
    ignored = tuple(sorted(set(wanted) - set(overrides)))
    notes = {}
    if "early_stopping_rounds" in overrides and no_stop:
        # nothing to stop on, or the gate would judge on the rows the round count was chosen on:
        # every round is trained
        notes["early_stopping_skipped"] = no_stop
        del overrides["early_stopping_rounds"]
    return overrides, ignored, notes


def _relearned(done_seqs: np.ndarray, relearn: int, n_new: int, max_rows: int | None) -> tuple[np.ndarray, list, int | None]:
    """Which rows the serving model learned (their batches ``done_seqs``, in order) an update
    relearns: the rows of the newest ``relearn`` batches, at most ``relearn × n_new`` and at most
    ``max_rows`` of them, the newest. Their positions, those batches, and the cap when it bound."""
    again = np.unique(done_seqs)[-relearn:]
    at = np.flatnonzero(np.isin(done_seqs, again))
    cap = relearn * n_new if max_rows is None else min(relearn * n_new, int(max_rows))
    if len(at) > cap:
        return at[len(at) - cap :], np.unique(done_seqs[at[len(at) - cap :]]).tolist(), cap
    return at, again.tolist(), None


def _relearn(labelled: pd.DataFrame, state: Any, relearn: int, n_new: int,
             max_rows: int | None = None) -> tuple[pd.DataFrame, dict]:
    """The newest ``relearn`` batches the champion already learned, at most ``relearn × n_new``
    rows and at most ``max_rows`` (the policy's ``relearn_rows``; the newest rows in each case):
    the initial data is "batch 0" and may be many batches long, and an update's cost must not
    follow the batches' size or the history's."""
    done = labelled[_labelled_at(labelled) <= state.last_trained_seq]  # rows of those batches labelled since are new
    at, again, capped = _relearned(done[SEQ].to_numpy(), relearn, n_new, max_rows)
    notes: dict[str, Any] = {"relearned_batches": again}
    if capped is not None:
        notes["relearned_rows_capped"] = capped
    return done.iloc[at], notes


def _plan_update(action, labelled, new, holdout, state, params, min_rows, accepted, online, gate_on=True) -> TrainingPlan:
    train = new[~new.index.isin(holdout.index)]
    base = TrainingPlan(action=action, holdout=RowSet.of(holdout))
    # min_rows counts what waits to be learned, holdout included (the guard's unlearned_rows): a
    # 100-row batch under min_rows 100 updates on its 80 rows outside a 20-row holdout
    if len(new) < max(1, min_rows):  # (the holdout is at most half: train is never empty then)
        return replace(base, skip=f"{len(new)} labelled rows not learned yet; an update needs at least {max(1, min_rows)}")
    no_stop = None
    if not gate_on:
        no_stop = "gate off: no held-out rows"
    elif len(holdout) < STOP_MIN_HOLDOUT:
        no_stop = f"{len(holdout)} held-out rows; early stopping needs {STOP_MIN_HOLDOUT} (half to stop on, half for the gate)"
    overrides, ignored, notes = _update_params(params, accepted, online, no_stop)
    if "early_stopping_rounds" in overrides and "crossfit" in accepted:
        # each half of the held-out rows picks a round count, and the gate scores every row at
        # the count the other half picked: all the rows judge, none is judged on what it tuned
        overrides["crossfit"] = True
    elif "early_stopping_rounds" in overrides:
        stop, holdout = holdout.iloc[1::2], holdout.iloc[0::2]  # tuned on one half, judged on the other
        base = replace(base, holdout=RowSet.of(holdout), stop=RowSet.of(stop))
    relearn, known, again = int(params.get("relearn_batches") or 0), 0, ()
    if relearn and online:
        # an online learner learned those rows when they arrived: learning them again would
        # count them twice (relearning is context for warm starts and corrections)
        notes["relearn_skipped"] = "online learner"
    elif relearn:
        old, relearn_notes = _relearn(labelled, state, relearn, len(new), params.get("relearn_rows"))
        again = tuple(relearn_notes.pop("relearned_batches"))
        notes.update(relearn_notes)
        known = len(old)  # relearned rows first, then the new ones (each in time order)
        train = pd.concat([old, train])
    return replace(base, train=RowSet.of(train), params=overrides, ignored_params=ignored,
                   relearned_batches=again, relearned_rows=known, notes=notes)


def _plan_retrain(labelled, holdout, window, min_rows, batch_time) -> TrainingPlan:
    pool = _window(labelled, window, batch_time)
    train = pool[~pool.index.isin(holdout.index)]
    base = TrainingPlan(action="retrain", holdout=RowSet.of(holdout), params={"window": window})
    if len(train) < max(2, min_rows):
        return replace(base, skip=f"{len(train)} labelled rows in the retrain window; a retrain needs at least {max(2, min_rows)}")
    return replace(base, train=RowSet.of(train))


def plan_training(
    index: pd.DataFrame,
    state: Any,
    decision: Any,
    policy: Any,
    *,
    seq: int,
    batch_time: datetime | None,
    update_overrides: frozenset[str] | None,
    online: bool,
) -> TrainingPlan:
    """The plan of a training ``decision`` (``warm_start``, ``online_update`` or ``retrain``).

    ``index``: every stored row plus tonight's (columns ``SEQ``, ``POS``, ``LABELLED`` and,
    with a time column, ``TIME``). ``state``: the runner state before tonight. ``update_overrides``:
    the update parameters the champion accepts (``None``: all). ``online``: the champion is an
    online learner (``passes`` are its rounds; no relearning).
    """
    labelled = index[index[LABELLED]]
    labelled = labelled.iloc[time_order(labelled)].reset_index(drop=True)
    new = labelled[_labelled_at(labelled) > state.last_trained_seq]
    holdout = _holdout(new, policy.gate, seq) if policy.gate.enabled else new.iloc[:0]
    params = dict(decision.params or {})
    min_rows = policy.min_training_rows()
    retrain_window = policy.params_for("retrain").get("window")
    if decision.action == "retrain":
        return _plan_retrain(labelled, holdout, params.get("window"), min_rows, batch_time)
    accepted = frozenset(UPDATE_KEYS) if update_overrides is None else frozenset(update_overrides)
    plan = _plan_update(decision.action, labelled, new, holdout, state, params, min_rows, accepted, online,
                        policy.gate.enabled)
    if plan.skip:
        return plan
    # an update the model refuses as too large (the adapter's own max_trees) retrains instead, on
    # the policy's retrain window (an update's parameters carry no window)
    return replace(plan, fallback=_plan_retrain(labelled, holdout, retrain_window, min_rows, batch_time))
