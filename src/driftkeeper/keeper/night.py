"""One night, step by step: :func:`read` the batch, :func:`observe` it with the serving model,
:func:`decide` what to do, :func:`plan` the training. Nothing here writes; the runner applies and
commits what these return.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .._util.io import read_table
from .._util.timeutil import iso, utc
from ..exceptions import ConfigError, DataQualityError, DriftkeeperError, SchemaError
from ..metrics import evaluate, get_metric
from ..monitor.tracking import EstimateTrack
from ..table import TableSpec, frame_sha256, impute_hint
from . import late_labels
from .bundle import ModelBundle, prediction_signal
from .costs import Ledger
from .plan import TrainingPlan, plan_training, unlearned_rows, update_batches, window_size
from .state import RunnerState
from .store import LABELLED, LABELLED_AT, POS, SEQ, DataStore

__all__ = ["Batch", "Observation", "account", "decide", "index_tonight", "metric_of", "observe", "plan", "read"]

TRAINING_ACTIONS = ("warm_start", "online_update", "retrain")


@dataclass
class Batch:
    """Tonight's input, validated: the batch, late labels, content hash and identity."""

    name: str
    df: pd.DataFrame
    labelled: bool
    labels: pd.DataFrame | None
    sha: str
    run_id: str
    seq: int
    info: dict[str, Any]  # the run record's ``batch``
    time: datetime | None


@dataclass
class Observation:
    """The serving model on tonight's batch: drift, predictions, its metric on new labels."""

    bundle: ModelBundle
    version: Any  # the champion's ModelVersion
    X: pd.DataFrame
    y: pd.Series | None
    prediction: pd.Series | None  # None: the champion cannot predict the batch (see observe)
    report: Any
    index: pd.DataFrame  # the store's row index, with late labels marked labelled
    metric_value: float | None = None
    champion_metric: dict[str, Any] | None = None
    newly_labelled: int = 0
    unlearned: int = 0  # labelled rows since the serving model's last training, tonight's included
    late: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ledger: Ledger | None = None  # the budget's ledger with tonight's allowance and debt
    costs: dict[str, Any] = field(default_factory=dict)  # the run record's ``costs``
    tonight: pd.DataFrame | None = None  # the row index with tonight's batch (see index_tonight)
    estimated: dict[str, Any] | None = None  # the run record's ``estimated_metric``: the metric without labels
    late_rows: pd.DataFrame | None = None  # the stored rows that got labels tonight, with them
    refit: dict[str, Any] | None = None  # the estimator refitted on late labels tonight (late_labels)
    signals_from: dict[str, str] = field(default_factory=dict)  # signals read while the batch's labels are not in: "estimate" or "late labels"
    realised: dict[int, dict[str, Any]] = field(default_factory=dict)  # earlier batches' realised metric (late labels)
    track: EstimateTrack | None = None  # the estimates' track after tonight (late_labels.estimate)
    warnings: list[str] = field(default_factory=list)  # for the run record


def read(spec: TableSpec, stored: pd.DataFrame, state: RunnerState, batch: Any, labels: Any, *,
         name: str | None = None) -> Batch:
    """Read and validate the batch (and late labels, against the ids of the ``stored`` row
    index) against the schema; refuse what is bad."""
    name = name or (str(batch) if isinstance(batch, (str, Path)) else "batch")  # a frame read from a file: its name
    df = read_table(batch, what="batch") if isinstance(batch, (str, Path)) else batch.reset_index(drop=True)
    labelled = spec.validate(df, what=f"batch {name!r}" if name != "batch" else "batch")
    lab_df = None
    if labels is not None:
        lname = str(labels) if isinstance(labels, (str, Path)) else "labels"
        lab_df = read_table(labels, what="labels file") if isinstance(labels, (str, Path)) else labels
        _validate_labels(spec, stored, lab_df, lname)
    sha = frame_sha256(df)
    if lab_df is not None:  # the same batch with new labels is new work
        sha = hashlib.sha256(f"{sha}+labels:{frame_sha256(lab_df)}".encode()).hexdigest()
    times = spec.times(df)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + f"-{sha[:8]}"
    info: dict[str, Any] = {"source": name, "sha256": sha, "rows": len(df), "labelled": labelled}
    if times is not None:
        info.update(time_min=iso(times.min()), time_max=iso(times.max()))
    if sha not in state.processed and times is not None and state.last_batch_time is not None \
            and utc(times.max()) < utc(state.last_batch_time):
        raise SchemaError(
            f"batch {name!r} ends at {iso(times.max())}, before the last processed batch ({state.last_batch_time}); "
            "batches must arrive in time order"
        )
    batch_time = utc(times.max()) if times is not None else None
    return Batch(name, df, labelled, lab_df, sha, run_id, state.seq + 1, info, batch_time)


def _check_predictions(pred: pd.Series, X: pd.DataFrame) -> None:
    """A model that cannot take missing values predicts NaN on them: say so, and the fix, before
    anything is written (the metric, the drift check and the policy would fail on it later)."""
    if pd.api.types.is_float_dtype(pred) and pred.isna().any():
        hint = impute_hint(X) or "the batch has no missing values; check the model"
        raise DataQualityError(f"the serving model predicted NaN on {int(pred.isna().sum())} of {len(pred)} rows: {hint}")


def _validate_labels(spec: TableSpec, stored: pd.DataFrame, lab: pd.DataFrame, name: str) -> None:
    if spec.id_column is None:
        raise ConfigError("--labels needs an id column; this root was initialised without --id-column")
    missing = [c for c in (spec.id_column, spec.target) if c not in lab.columns]
    if missing:
        raise SchemaError(f"labels file {name!r} is missing column(s) {missing}; expected the id column {spec.id_column!r} and the target {spec.target!r}")
    if len(lab) == 0:
        raise SchemaError(f"labels file {name!r} has no rows")
    dup = lab[spec.id_column].duplicated()
    if dup.any():
        raise SchemaError(f"labels file {name!r} has {int(dup.sum())} duplicate id(s), e.g. {lab.loc[dup, spec.id_column].iloc[0]!r}")
    spec.validate_target(lab[spec.target], what=f"labels file {name!r}")
    unknown = lab.loc[~lab[spec.id_column].isin(stored[spec.id_column]), spec.id_column]
    if len(unknown):
        raise SchemaError(f"labels file {name!r} has {len(unknown)} id(s) never seen in a processed batch, e.g. {unknown.tolist()[0]!r}")


def _predict(bundle: ModelBundle, X: pd.DataFrame, task: str, vanished: Any) -> tuple[pd.Series | None, str | None]:
    """The champion's prediction signal on ``X``; with ``vanished`` features (read as missing),
    ``(None, why)`` when the champion cannot predict without them."""
    try:
        pred = pd.Series(prediction_signal(bundle.adapter, X, task), name="prediction")
        _check_predictions(pred, X)
        return pred, None
    except (DriftkeeperError, ValueError, TypeError) as exc:
        if not vanished:
            raise
        return None, str(exc).splitlines()[0].split(": ")[0]  # the cause, not a fix for another case


def observe(spec: TableSpec, store: DataStore, stored: pd.DataFrame, registry: Any, state: RunnerState, metric: Any,
            batch: Batch, vanished: list[str] | tuple[str, ...] = ()) -> Observation:
    """Drift of the batch against the champion's reference, and the champion's metric on the
    rows that got labels tonight (the batch's own and late ones).

    ``vanished``: features the champion uses that leave the features tonight (the batch lacks
    them: ``spec`` reads them as missing). A champion that cannot predict without them (a model
    that cannot take missing values) gives no prediction: the signals that need it (prediction
    drift, its metric, the estimate) are left out with a warning, and the retrain without them
    goes on."""
    version = registry.get("champion")
    bundle: ModelBundle = registry.load("champion")
    t, c = time.perf_counter(), time.process_time()  # monitoring: predictions + drift check
    X = spec.features_frame(batch.df)
    pred, blind = _predict(bundle, X, spec.task, vanished)
    y = spec.target_values(batch.df[spec.target]) if batch.labelled else None
    report = bundle.monitor.check(X, target=y, prediction=pred)
    # the prediction signal is the model's output itself for a regressor or a binary classifier
    # (the positive-class probability): the estimator reuses it instead of predicting again
    reused = pred.to_numpy(dtype=float) if pred is not None and pd.api.types.is_float_dtype(pred) else None
    timings = {"monitor_s": round(time.perf_counter() - t, 4), "monitor_cpu_s": round(time.process_time() - c, 4)}
    index = stored.copy()
    obs = Observation(bundle, version, X, y, pred, report, index, timings=timings)
    if blind is not None:
        obs.warnings.append(f"the serving model cannot predict without column(s) {list(vanished)} ({blind}): its "
                            "prediction drift, metric and estimate are left out tonight")
    new_X, new_y = ([X], [y]) if batch.labelled else ([], [])
    if batch.labels is not None:
        hit = index[spec.id_column].isin(batch.labels[spec.id_column]).to_numpy()
        late = store.rows(index.loc[hit, [SEQ, POS]]).drop(columns=[spec.target])
        late = late.merge(batch.labels[[spec.id_column, spec.target]], on=spec.id_column)
        if len(late):
            new_X.append(spec.features_frame(late))
            new_y.append(spec.target_values(late[spec.target]))
        index.loc[hit, LABELLED] = True  # tonight's labels land on these rows
        index.loc[hit, LABELLED_AT] = batch.seq  # ... and are new to every model trained before tonight
        obs.late, obs.late_rows = {"rows": len(batch.labels)}, late
    # the realised metric of the older batches labelled tonight (for their records and the
    # estimates' track), whether or not the champion can predict tonight's batch
    obs.realised = late_labels.realised(Path(store.dir).parent, store, registry, state, obs, batch.seq)
    if blind is None:  # after the late labels: they refit
        late_labels.estimate(spec, store, registry, state, obs, metric.name, batch.seq, reused)
    obs.newly_labelled = (len(batch.df) if batch.labelled else 0) + (obs.late or {}).get("rows", 0)
    if new_X and blind is None:
        value = evaluate(metric, bundle.adapter, pd.concat(new_X, ignore_index=True), pd.concat(new_y, ignore_index=True))
        obs.metric_value = value
        if batch.labelled:  # the batch's own realised value, for the estimates' track
            own = value if len(new_X) == 1 else evaluate(metric, bundle.adapter, X, y)
            late_labels.realise_batch(obs, batch.seq, metric.name, own)
        obs.champion_metric = {"metric": metric.name, "value": value, "rows": sum(len(v) for v in new_y),
                               "at_promotion": version.metrics.get(metric.name),
                               "baseline": state.serving_baseline(version.metrics.get(metric.name))}
    return obs


def account(policy: Any, spec: TableSpec, state: RunnerState, metric: Any, batch: Batch, obs: Observation) -> None:
    """Tonight's cost forecasts, budget allowance and learning debt (on a copy of the ledger)."""
    from ..policy import higher_is_better

    index = index_tonight(spec, obs, batch)
    try:
        retrain_rows, retrain_batches = window_size(index, policy.params_for("retrain").get("window"), batch.time)
    except ConfigError:  # a window in days on a root without time: the retrain itself will say so
        retrain_rows = retrain_batches = None
    params = policy.params_for("warm_start")
    # an update learns every row labelled since the last training (small batches add up), and
    # relearns up to relearn_batches x as many
    obs.unlearned = unlearned_rows(index, state.last_trained_seq)
    relearned = obs.unlearned * int(params.get("relearn_batches") or 0)
    if params.get("relearn_rows") is not None:
        relearned = min(relearned, int(params["relearn_rows"]))
    update_rows = min(int(index[LABELLED].sum()), obs.unlearned + relearned)
    retrain_cost = state.costs.retrain_cost_s(retrain_rows, retrain_batches) if retrain_rows is not None else None
    online = obs.bundle.adapter.update_style == "online_update"
    batches = update_batches(index, state.last_trained_seq, 0 if online else int(params.get("relearn_batches") or 0),
                             params.get("relearn_rows"))
    update_cost = state.costs.update_cost_s(update_rows, _update_rounds(params, online), batches)
    ledger = copy.deepcopy(state.ledger)
    # debt is measured against the level the last retrain reached on batches it served (the gate's
    # holdout flatters the model): the first batch after a retrain sets it, it owes nothing
    level = state.retrain_level(None)
    excess = None
    if obs.metric_value is not None and level is not None:
        excess = (level - obs.metric_value) if higher_is_better(metric.name) else (obs.metric_value - level)
    ledger.accrue(excess, obs.newly_labelled, retrain_cost, level)
    late_labels.account(policy, metric.name, batch, obs, ledger, level, retrain_cost)
    ledger.allow(policy.spec.budget, retrain_cost, costs=state.costs, labelled_rows=obs.newly_labelled,
                 work=None if retrain_rows is None else state.costs.retrain_work(retrain_rows), batches=retrain_batches)
    obs.ledger = ledger
    obs.costs = {"retrain_cost_s": retrain_cost, "retrain_rows": retrain_rows, "retrain_batches": retrain_batches,
                 "update_cost_s": update_cost,
                 "update_rows": update_rows, "update_batches": batches, "budget": policy.spec.budget, "allowance_s": ledger.allowance_s,
                 "spent_s": ledger.spent_s, "budget_spent": ledger.spent_share(), "debt": ledger.debt,
                 "debt_cost_s": ledger.debt_cost_s(), "rate": ledger.rate, "left_s": ledger.left_s()}


def decide(policy: Any, spec: TableSpec, state: RunnerState, metric: Any, batch: Batch, obs: Observation, can_rollback: bool):
    """The policy's decision on tonight's report, with the history facts of the state."""
    from ..policy import Context, decide as policy_decide
    from ..policy.signals import estimate_sources

    account(policy, spec, state, metric, batch, obs)
    champ, at_promotion = obs.bundle.adapter, obs.version.metrics.get(metric.name)
    ctx = Context(
        batch_time=batch.time,
        last_retrain_time=utc(state.last_retrain_time),
        batches_since_retrain=batch.seq - state.last_retrain_seq,
        updates_since_retrain=state.updates_since_retrain,
        champion_metric=state.serving_baseline(at_promotion),
        metric=obs.metric_value,
        labelled_rows=obs.newly_labelled,
        unlearned_rows=obs.unlearned,
        rows=len(batch.df),
        model_trees=getattr(champ, "n_trees", None),
        model_size_bytes=obs.version.size_bytes,
        update_style=champ.update_style if champ.supports_update else None,
        consecutive_gate_refusals=state.consecutive_gate_refusals,
        can_rollback=can_rollback,
        task=spec.task,
        rows_since_retrain=state.rows_since_retrain + obs.newly_labelled,
        rows_at_retrain=state.rows_at_retrain or None,
        previous_metric=state.previous_metric,
        previous_metric_since_retrain=state.previous_metric_since_retrain,
        retrain_metric=state.retrain_level(at_promotion),
        retrain_cost_s=obs.costs["retrain_cost_s"],
        update_cost_s=obs.costs["update_cost_s"],
        debt=obs.ledger.debt,
        debt_cost_s=obs.ledger.debt_cost_s(),
        budget_spent=obs.ledger.spent_share(),
        budget_left_s=obs.ledger.left_s() if policy.spec.budget else None,
        estimated_metric=(obs.estimated or {}).get("value"),
        **late_labels.context(state, batch, obs),
    )
    obs.signals_from = estimate_sources(obs.report, policy, ctx)
    return policy_decide(obs.report, policy, ctx)


def index_tonight(spec: TableSpec, obs: Observation, batch: Batch) -> pd.DataFrame:
    """The store's row index as it will be once tonight's batch is stored (built once a night)."""
    if obs.tonight is None:
        obs.tonight = pd.concat([obs.index, DataStore.index_of(batch.df, spec, seq=batch.seq)], ignore_index=True)
    return obs.tonight


def plan(policy: Any, spec: TableSpec, state: RunnerState, decision: Any, batch: Batch, obs: Observation) -> TrainingPlan | None:
    """The training plan of a training decision (``None`` for the other actions)."""
    if decision.action not in TRAINING_ACTIONS:
        return None
    champ = obs.bundle.adapter
    mode = (decision.params or {}).get("mode")
    # what an update in the policy's mode takes; a model without modes takes none
    accepted = champ.update_overrides_for(mode if "mode" in champ.update_overrides else None)
    return plan_training(index_tonight(spec, obs, batch), state, decision, policy, seq=batch.seq, batch_time=batch.time,
                         update_overrides=accepted, online=champ.update_style == "online_update")


def _update_rounds(params: dict[str, Any], online: bool) -> Any:
    """An update's trees (or an online learner's passes) per row, from the policy's parameters."""
    return (params.get("passes") or params.get("rounds")) if online else params.get("rounds")


def metric_of(policy: Any, spec: TableSpec):
    return get_metric(policy.resolved_metric(spec.task), spec.task)

