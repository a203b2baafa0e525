"""Carry out a :class:`~driftkeeper.keeper.plan.TrainingPlan`: train the candidate, gate it
against the champion, and learn the gate's rows once it passed. No registry, no state: the
runner registers what these return and records it."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._util import memory
from .._util.testhooks import checkpoint
from .._util.timeutil import iso
from ..exceptions import ModelSizeError
from ..metrics import evaluate, evaluate_rows, get_metric
from ..table import FrameHasher, TableSpec
from . import bundle
from .costs import work_of
from .plan import TrainingPlan
from .store import LABELLED_AT, POS, SEQ, DataStore

#: A retrain window of at most this many store chunks (200 k rows by default) is read once and
#: held; a larger one is streamed chunk by chunk on every pass (memory: a chunk, not the window).
SMALL_WINDOW_CHUNKS = 4

__all__ = ["GateResult", "Trained", "dask_training", "gate", "learn_holdout", "train"]

# the Dask client LightGBM trainings go through (None: this process), set by dask_training
_DASK_CLIENT: ContextVar[Any] = ContextVar("driftkeeper_dask_client", default=None)


@contextlib.contextmanager
def dask_training(client: Any):
    """In the block, :func:`train` retrains LightGBM models and makes their ``correct`` updates
    on the cluster of ``client`` (a ``distributed.Client``; None: in this process). Other models,
    and other update modes, train here."""
    token = _DASK_CLIENT.set(client)
    try:
        yield
    finally:
        _DASK_CLIENT.reset(token)


def _dask_client(champion: Any, mode: str | None = None) -> Any:
    """The client to train ``champion`` on (an update in ``mode``), or None for this process."""
    client = _DASK_CLIENT.get()
    if client is None or getattr(champion, "kind", None) != "lightgbm":
        return None
    return client if mode is None or mode == "correct" else None


@dataclass
class Trained:
    """A trained candidate (``None`` when the plan skipped) and what training did."""

    plan: TrainingPlan  # the plan carried out (the fallback retrain, when the update broke a cap)
    candidate: Any
    # the training rows, loaded; of a retrain (read in chunks, never loaded whole) its newest
    # bundle.REFERENCE_ROWS rows: the new version's drift reference (fit_monitor)
    rows: pd.DataFrame
    holdout: pd.DataFrame  # the gate's rows
    info: dict[str, Any] = field(default_factory=dict)  # the run record's ``training``
    warnings: list[str] = field(default_factory=list)
    stop: pd.DataFrame | None = None  # early stopping's rows (an update's plan with ``stop`` rows)
    # the candidate's cross-fitted output on ``holdout`` (each row predicted at the round count
    # the other half of the rows picked): what the gate scores in place of its predictions
    holdout_output: np.ndarray | None = None
    train_rows: int | None = None  # rows trained on, when ``rows`` holds fewer (a retrain)
    data: dict[str, Any] | None = None  # a retrain's data fingerprint (sha256, rows, features, time range)

    @property
    def n_rows(self) -> int:
        """How many rows the candidate trained on."""
        return self.train_rows if self.train_rows is not None else len(self.rows)


class _CrossFitted:
    """The candidate as the gate sees it: its cross-fitted output on the holdout rows."""

    def __init__(self, candidate: Any, output: np.ndarray):
        self.classes_ = getattr(candidate, "classes_", None)
        self._output = output

    def predict(self, X: Any) -> np.ndarray:
        return self._output

    predict_proba = predict


@dataclass(frozen=True)
class GateResult:
    passed: bool
    record: dict[str, Any]  # the run record's ``gate``
    metrics: dict[str, Any]  # the candidate's holdout metrics for the registry


def _xy(spec: TableSpec, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return spec.features_frame(rows), spec.target_values(rows[spec.target])


def train(plan: TrainingPlan, champion: Any, store: DataStore, spec: TableSpec) -> Trained:
    """Train the plan's candidate: an update of a copy of ``champion`` or a fresh clone fitted
    on the plan's rows. An update that would break a size cap runs the plan's fallback retrain."""
    holdout = store.rows(plan.holdout.keys())
    if plan.skip:
        return Trained(plan, None, pd.DataFrame(), holdout, plan.to_dict())
    if plan.action == "retrain":
        if (client := _dask_client(champion)) is not None:
            return _retrain_dask(plan, champion, store, spec, holdout, client)
        return _retrain(plan, champion, store, spec, holdout)
    t0 = time.process_time()
    rows = store.rows(plan.train.keys())
    read = {"read_cpu_s": time.process_time() - t0, "read_batches": len(_stored_batches(plan))}
    memory.release()  # Arrow's decoding buffers, before the update's own copies
    out = _update(plan, champion, rows, holdout, store.rows(plan.stop.keys()) if len(plan.stop) else None, spec)
    if out.candidate is not None:
        # an update's training CPU is reading its rows and fitting them, as a retrain's is: the
        # cost model forecasts the two apart (reading costs per stored batch)
        out.info.update(read)
        out.info["cpu_s"] += read["read_cpu_s"]
    if out.candidate is not None or plan.fallback is None:
        return out
    retrained = train(plan.fallback, champion, store, spec)  # its holdout: the whole of it, stop rows too
    retrained.warnings[:0] = out.warnings
    return retrained


def _stored_batches(plan: TrainingPlan) -> list[int]:
    """The stored batches (sequence numbers) the plan's training rows are read from."""
    return np.unique(np.asarray(plan.train.seq)).tolist()


def _retrain(plan: TrainingPlan, champion: Any, store: DataStore, spec: TableSpec, holdout: pd.DataFrame) -> Trained:
    """A fresh clone of ``champion`` fitted on the plan's rows, read from the store in chunks
    (``ModelAdapter.fit_chunks``): LightGBM bins them chunk by chunk and never holds the window as
    one frame; other models get the chunks concatenated once.

    What else a retrain records comes out exactly as from the window as one frame: the data
    fingerprint is hashed chunk by chunk on the fit's first pass (a content hash has to see
    every row: a sample would not tell two windows apart); the replay reservoir is offered every
    row in order by ``fit_chunks`` (algorithm R is sequential: the same sample); the drift
    reference has always been the window's newest ``REFERENCE_ROWS`` rows (``fit_monitor``),
    read here alone; the row count is the plan's."""
    keys = plan.train.keys()
    info = plan.to_dict()
    t0 = time.process_time()  # a retrain's cost: reading its window and fitting
    seqs = _stored_batches(plan)
    stored_columns = store.columns(seqs)
    if len(keys) <= SMALL_WINDOW_CHUNKS * store.chunk_rows:
        # a small window is read once and held (LightGBM passes over it twice, the categories
        # once more): re-reading every stored partition per pass cost more than the fit itself
        # on a few thousand rows of many small batches (Bike Sharing: 0.3 s a retrain)
        held = list(store.chunks(keys))
        source: Callable[[], Iterable[pd.DataFrame]] = lambda: iter(held)  # noqa: E731
        # reading costs per stored batch (a file each: ~2 ms on the benchmark's streams, a fifth
        # of a retrain of 40-row batches), not per row × tree: the cost model keeps it apart (a
        # window read in chunks as it is fitted cannot say, and is measured as a whole)
        info["read_cpu_s"] = time.process_time() - t0
        info["read_batches"] = len(seqs)
        categories = spec.window_categories(held) if spec.categories else {}
    else:
        source = lambda: store.chunks(keys)  # noqa: E731
        categories = spec.window_categories(store.chunks(keys, columns=spec.categorical_columns)) if spec.categories else {}
    fingerprint = _Fingerprint(spec, stored_columns)

    def chunks():
        hashing = fingerprint.start()  # the first pass only
        for part in source():
            checkpoint("runner:retrain-chunk")
            if hashing:
                fingerprint.add(part)
            yield spec.features_chunk(part, categories), spec.target_values(part[spec.target]).to_numpy()
        if hashing:
            fingerprint.done = True

    candidate = champion.clone()
    checkpoint("runner:training")
    candidate.fit_chunks(chunks)
    info["cpu_s"] = time.process_time() - t0
    info["trees"] = getattr(candidate, "n_trees", None)
    info["work"] = work_of("retrain", len(keys), trees=info["trees"])
    # exactly the rows fit_monitor has always taken: the newest REFERENCE_ROWS of the window
    reference = store.rows(keys.iloc[-bundle.REFERENCE_ROWS:])
    return Trained(plan, candidate, reference, holdout, info, train_rows=len(keys), data=fingerprint.result())


def _retrain_dask(plan: TrainingPlan, champion: Any, store: DataStore, spec: TableSpec, holdout: pd.DataFrame,
                  client: Any) -> Trained:
    """:func:`_retrain` on a Dask cluster: the workers read the window and ``lightgbm.dask``
    trains; the candidate is an ordinary local adapter. Its cost is the training's wall time
    (the cluster's CPU is not measured here)."""
    from . import _dask

    keys, info = plan.train.keys(), plan.to_dict()
    candidate = champion.clone()
    checkpoint("runner:training")
    t0 = time.perf_counter()
    data = _dask.retrain(candidate, store, keys, spec, client)
    info.update(cpu_s=time.perf_counter() - t0, engine="dask", trees=getattr(candidate, "n_trees", None))
    info["work"] = work_of("retrain", len(keys), trees=info["trees"])
    reference = store.rows(keys.iloc[-bundle.REFERENCE_ROWS:])
    return Trained(plan, candidate, reference, holdout, info, train_rows=len(keys), data=data)


class _Fingerprint:
    """The data fingerprint of a retrain's rows (what ``runner.data_fingerprint`` gives for them
    as one frame), hashed from the chunks of the first pass a fit makes over them: sha256 of the
    stored columns but the bookkeeping ones, row count, features and, with a time column, the
    time range. Later passes only read."""

    def __init__(self, spec: TableSpec, stored_columns: list[str]):
        self.spec = spec
        self.hasher = FrameHasher([c for c in stored_columns if c not in (SEQ, POS, LABELLED_AT)])
        self.rows, self.started, self.done = 0, False, False
        self.times: list[Any] = []

    def start(self) -> bool:
        """True for the first pass (the one to hash), False for every later one."""
        first, self.started = not self.started, True
        return first

    def add(self, part: pd.DataFrame) -> None:
        self.hasher.add(part)
        self.rows += len(part)
        times = self.spec.times(part, what="training rows")
        if times is not None and len(times):
            self.times += [times.min(), times.max()]

    def result(self) -> dict[str, Any]:
        if not self.done:
            raise RuntimeError("the fit did not read every training row: no data fingerprint")
        fp: dict[str, Any] = {"sha256": self.hasher.hexdigest(), "rows": self.rows, "features": list(self.spec.features)}
        if self.times:
            fp.update(time_min=iso(min(self.times)), time_max=iso(max(self.times)))
        return fp


def _update(plan: TrainingPlan, champion: Any, rows: pd.DataFrame, holdout: pd.DataFrame, stop: pd.DataFrame | None,
            spec: TableSpec) -> Trained:
    info = plan.to_dict()
    info.pop("fallback", None)
    overrides = dict(plan.params)
    if "early_stopping_rounds" in overrides:
        # the stopping rows pick the update's strength (its round count); the gate then judges
        # the candidate on the other held-out rows, which nothing was tuned on
        overrides["eval_set"] = _xy(spec, stop if stop is not None else holdout)
    candidate = copy.deepcopy(champion)
    checkpoint("runner:training")
    t0 = time.process_time()
    known = {"known_rows": plan.relearned_rows} if plan.relearned_rows else {}
    client = _dask_client(champion, overrides.get("mode") or getattr(champion, "update_mode", None))
    try:
        if client is not None:
            return _update_dask(plan, candidate, rows, holdout, stop, spec, client, overrides, known, info)
        candidate.update(*_xy(spec, rows), **overrides, **known)
    except ModelSizeError as exc:
        return Trained(plan, None, rows, holdout, info, [f"update refused ({exc}); retraining instead"], stop)
    if "early_stopping_rounds" in overrides:
        info["rounds_kept"] = getattr(candidate, "last_update_rounds_", None)
    info["cpu_s"] = time.process_time() - t0
    info["trees"] = info.get("rounds_kept") or plan.params.get("rounds")  # rounds or passes
    info["work"] = work_of("update", len(rows), rounds=info["trees"])
    output = getattr(candidate, "last_eval_output_", None) if overrides.get("crossfit") else None
    return Trained(plan, candidate, rows, holdout, info, stop=stop, holdout_output=output)


def _update_dask(plan: TrainingPlan, candidate: Any, rows: pd.DataFrame, holdout: pd.DataFrame, stop: pd.DataFrame | None,
                 spec: TableSpec, client: Any, overrides: dict[str, Any], known: dict[str, Any], info: dict[str, Any]) -> Trained:
    """A ``correct`` update trained on the cluster (base scores and correction on the workers),
    without early stopping, which ``lightgbm.dask`` cannot do: the record says so."""
    from ..adapters import _lightgbm_dask

    unused = [k for k in ("early_stopping_rounds", "crossfit") if overrides.get(k)]
    kwargs = {k: v for k, v in overrides.items() if k not in ("early_stopping_rounds", "crossfit", "eval_set")}
    t0 = time.perf_counter()
    _lightgbm_dask.update(candidate, *_xy(spec, rows), client, **kwargs, **known)
    info.update(cpu_s=time.perf_counter() - t0, engine="dask", trees=candidate.last_update_rounds_)
    info["work"] = work_of("update", len(rows), rounds=info["trees"])
    warnings = []
    if unused:
        info["early_stopping"] = f"not applied on Dask ({', '.join(unused)}): trained all {info['trees']} rounds"
        warnings.append(f"the update trained on Dask without early stopping: all {info['trees']} rounds kept")
    return Trained(plan, candidate, rows, holdout, info, warnings, stop=stop)


def gate(trained: Trained, champion: Any, champion_metrics: dict[str, Any], policy: Any, spec: TableSpec,
         champion_spec: TableSpec | None = None) -> GateResult:
    """Score champion and candidate on the plan's holdout with the gate's metric (``gate.metric``,
    the policy metric when unset) and decide whether the candidate is promoted."""
    from ..policy import gate_passes

    metric = get_metric(policy.resolved_metric(spec.task), spec.task)
    gate_name = policy.resolved_gate_metric(spec.task)
    gate_metric = metric if gate_name == metric.name else get_metric(gate_name, spec.task)
    holdout, action = trained.holdout, trained.plan.action
    metrics: dict[str, Any] = {"train_rows": trained.n_rows, "train_cpu_s": round(trained.info["cpu_s"], 4)}
    if not policy.gate.enabled or len(holdout) < 1:
        reason = "gate disabled by the policy" if not policy.gate.enabled else f"gate skipped: {len(holdout)} holdout rows"
        metrics[metric.name] = champion_metrics.get(metric.name)
        return GateResult(True, {"metric": gate_metric.name, "passed": True, "skipped": True, "explanation": reason}, metrics)
    Xh, yh = _xy(spec, holdout)
    margin, confidence = policy.gate.for_action(action)
    # the champion's own features when a schema change gave the candidate others (schema_change.gate)
    Xc = Xh if champion_spec is None else champion_spec.features_frame(holdout)
    champ_value, champ_losses = evaluate_rows(gate_metric, champion, Xc, yh)
    judged = trained.candidate if trained.holdout_output is None else _CrossFitted(trained.candidate, trained.holdout_output)
    cand_value, cand_losses = evaluate_rows(gate_metric, judged, Xh, yh)
    passed, explanation = gate_passes(champ_value, cand_value, gate_metric.name, margin, confidence=confidence,
                                      champion_losses=champ_losses, candidate_losses=cand_losses)
    record = {"metric": gate_metric.name, "rows": len(holdout), "champion": champ_value, "candidate": cand_value,
              "margin": margin, "confidence": confidence, "passed": bool(passed), "explanation": explanation}
    # the registry keeps the policy metric: it is every later night's baseline at promotion
    metrics[metric.name] = cand_value if gate_metric is metric else evaluate(metric, judged, Xh, yh)
    if gate_metric is not metric:
        metrics[gate_metric.name] = cand_value
    metrics["holdout_rows"] = len(holdout)
    return GateResult(bool(passed), record, metrics)


def learn_holdout(trained: Trained, result: GateResult, decision_params: dict[str, Any], online: bool, spec: TableSpec) -> None:
    """After an update passed the gate, learn the held-out rows too (the gate's and early
    stopping's): an update otherwise never sees them (the next update starts after this batch).
    Few rows, so cheap. A windowed update (LightGBM ``mode: correct``) leaves them to the next
    update's ``relearn_batches``."""
    info, candidate = trained.info, trained.candidate
    holdout = trained.holdout
    if trained.stop is not None and len(trained.stop):  # the stopping rows too, back in batch order
        holdout = pd.concat([trained.stop, trained.holdout], ignore_index=True)
        if SEQ in holdout and POS in holdout:
            holdout = holdout.sort_values([SEQ, POS], kind="stable", ignore_index=True)
    if not result.passed or trained.plan.action == "retrain" or not len(holdout):
        return
    if getattr(candidate, "update_relearns_window", False):
        info["holdout_learned"] = 0
        return
    if result.record.get("skipped"):
        return
    t0 = time.process_time()
    if online and decision_params.get("passes") is not None:
        rounds = int(decision_params["passes"])  # passes over the holdout rows, as over the batch
    else:
        kept = info.get("rounds_kept") or decision_params.get("rounds") or 10  # early stopping chose fewer
        rounds = max(1, round(kept * len(holdout) / (len(trained.rows) + len(holdout))))
    wanted = {"rounds": rounds, "replay_fraction": 0.0, "l2_regularization": decision_params.get("l2_regularization"),
              "mode": trained.plan.params.get("mode")}
    accepted = candidate.update_overrides_for(wanted["mode"] if "mode" in candidate.update_overrides else None)
    kwargs = {k: v for k, v in wanted.items() if v is not None and k in accepted}
    candidate.update(*_xy(spec, holdout), **kwargs)
    info["cpu_s"] += time.process_time() - t0
    info["holdout_learned"] = len(holdout)
    info["holdout_rounds"] = kwargs.get("rounds")
    info["work"] += work_of("update", len(holdout), rounds=kwargs.get("rounds"))
