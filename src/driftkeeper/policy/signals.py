"""Signals: what a policy's conditions read. :class:`Context` carries the history facts the
runner knows (data time, counters, the serving model's metric and its baselines);
:func:`compute_signals` turns a drift report and a context into every signal's value."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .gate import _EPS, higher_is_better
from .vocabulary import AUTO_METRIC
from .._util.suggest import suggest
from .._util.timeutil import aware
from ..exceptions import ConfigError
from ..monitor.tracking import CONFIDENCE_Z

if TYPE_CHECKING:
    from ..monitor.report import DriftReport
    from .policy import Policy



_CONTEXT_TYPES: dict[str, Any] = {
    **dict.fromkeys(
        ("batches_since_retrain", "updates_since_retrain", "labelled_rows", "unlearned_rows", "rows", "model_trees",
         "model_size_bytes", "consecutive_gate_refusals", "rows_since_retrain", "rows_at_retrain"), int),
    **dict.fromkeys(("retrain_cost_s", "update_cost_s", "debt", "debt_cost_s", "budget_spent", "budget_left_s"), (int, float)),
    **dict.fromkeys(("days_since_retrain", "champion_metric", "metric", "previous_metric", "retrain_metric",
                    "previous_metric_since_retrain", "estimated_metric", "estimated_metric_se", "estimated_metric_error",
                    "previous_estimated_metric", "previous_estimated_metric_since_retrain", "estimated_debt"), (int, float)),
    "can_rollback": bool,
    "batch_labelled": bool,
}
_CONTEXT_WORDS = {int: "an integer", (int, float): "a finite number", bool: "true or false"}


@dataclass(frozen=True)
class Context:
    """History facts the runner hands to :func:`decide` (all optional; unknown = ``None``).

    ``days_since_retrain`` is computed from ``batch_time - last_retrain_time`` (data time,
    never the wall clock) when not given. ``metric`` is the serving model's current value of
    the policy metric on the newest labelled rows; ``champion_metric`` its reference value
    (the runner passes the champion's mean metric on the first labelled batches it served —
    out of sample — and the gate-holdout value at promotion until it has served one). ``labelled_rows`` / ``rows`` count this batch;
    ``unlearned_rows`` the labelled rows that arrived since the serving model's last training,
    this batch's included (rows of earlier batches wait there while no training ran). ``update_style`` is how the
    model updates (``"warm_start"`` / ``"online_update"``) or ``None`` if it cannot.
    ``task`` (``"regression"`` / ``"classification"``) resolves ``metric: auto``.
    ``rows_since_retrain`` counts labelled rows that arrived since the last retrain and
    ``rows_at_retrain`` the rows that retrain trained on; their ratio is the ``data_growth``
    signal (a cost-aware retrain trigger: retraining when the data grew by a fixed share costs
    a bounded multiple of one retrain on all the data, however long the history). After a retrain
    the gate refused, ``batches_since_retrain``, ``updates_since_retrain`` and the data growth
    count from it, and the level (``retrain_metric``) starts again from the serving model's
    metric that night (``RunnerState.after_refusal``); ``days_since_retrain`` counts from the
    last promoted retrain.
    ``previous_metric`` is the same model's metric on the previous labelled batch (``None``
    when the model changed since); with ``metric`` it gives ``sustained_performance_drop``.
    ``retrain_metric`` is the reference value since the last retrain: the mean metric on the
    first labelled batches served after it, kept across promoted updates (``champion_metric``
    starts again with every new champion); with ``metric`` it gives ``drop_since_retrain``, how
    far the updates have let the model fall behind the level a retrain reached.
    ``previous_metric_since_retrain`` is the serving model's metric on the previous labelled
    batch when no retrain came between (promoted updates may have); with ``metric`` and
    ``retrain_metric`` it gives ``sustained_drop_since_retrain``: one bad week (a holiday) is
    not a trend. ``retrain_cost_s`` / ``update_cost_s`` are the runner's forecasts of training
    CPU from what training measured on this root; ``debt`` the learning debt (excess loss over
    the retrain level × rows since the last retrain), ``debt_cost_s`` the debt converted to CPU
    seconds at the budget's exchange rate, ``budget_spent`` the CPU spent / the allowance and
    ``budget_left_s`` the allowance not spent yet (``None`` without a budget).
    ``estimated_metric`` / ``estimated_metric_se`` are the serving version's estimate of the
    policy metric on this batch without its labels (CBPE / DLE, see
    :mod:`driftkeeper.monitor.estimation`) and its standard error; with ``champion_metric`` and
    ``retrain_metric`` they give ``estimated_performance_drop`` and ``estimated_drop_since_retrain``.
    ``batch_labelled`` says whether this batch came with its own labels (``None``: unknown, the
    batch counts as labelled when ``metric`` is known); ``previous_estimated_metric`` is the same
    model's estimate on the previous batch when that batch had no labels, and
    ``previous_estimated_metric_since_retrain`` the same with no retrain between;
    ``estimated_debt`` is the part of ``debt`` accrued from estimates whose labels are still due.
    ``estimated_metric_error`` is the estimator's own error: how far such estimates have been from
    their realised values on earlier batches (the estimate track's RMS error, from its first
    realised batch on; until it has scored a few batches, no less than the estimator's
    ``fit_error``: ``driftkeeper.keeper.late_labels.errors``): the
    signals a batch without labels reads from the estimate use its optimistic end (see
    :func:`acted_estimate`).
    A policy with ``estimates: auto`` reads them when the batch has no labels (see
    :func:`estimate_sources`).
    """

    batch_time: datetime | None = None
    last_retrain_time: datetime | None = None
    batches_since_retrain: int | None = None
    days_since_retrain: float | None = None
    updates_since_retrain: int | None = None
    champion_metric: float | None = None
    metric: float | None = None
    labelled_rows: int | None = None
    unlearned_rows: int | None = None
    rows: int | None = None
    model_trees: int | None = None
    model_size_bytes: int | None = None
    update_style: str | None = None
    consecutive_gate_refusals: int = 0
    can_rollback: bool = False
    task: str | None = None
    rows_since_retrain: int | None = None
    rows_at_retrain: int | None = None
    previous_metric: float | None = None
    previous_metric_since_retrain: float | None = None
    retrain_metric: float | None = None
    retrain_cost_s: float | None = None
    update_cost_s: float | None = None
    debt: float | None = None
    debt_cost_s: float | None = None
    budget_spent: float | None = None
    budget_left_s: float | None = None
    estimated_metric: float | None = None
    estimated_metric_se: float | None = None
    estimated_metric_error: float | None = None
    batch_labelled: bool | None = None
    previous_estimated_metric: float | None = None
    previous_estimated_metric_since_retrain: float | None = None
    estimated_debt: float | None = None

    def __post_init__(self) -> None:
        for name in ("batch_time", "last_retrain_time"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else aware(value, f"context {name}"))
        for f in fields(self):
            v = getattr(self, f.name)
            kind = _CONTEXT_TYPES.get(f.name)
            if v is None or kind is None:
                continue
            ok = (isinstance(v, bool) if kind is bool else isinstance(v, kind) and not isinstance(v, bool))
            if not ok or (isinstance(v, float) and not math.isfinite(v)):
                raise ConfigError(f"context {f.name}: expected {_CONTEXT_WORDS[kind]}, got {v!r}")
        if self.update_style not in (None, "warm_start", "online_update"):
            raise ConfigError(f"context update_style must be 'warm_start', 'online_update' or None, got {self.update_style!r}")
        if self.task not in (None, "regression", "classification"):
            raise ConfigError(f"context task must be 'regression', 'classification' or None, got {self.task!r}")
        if self.days_since_retrain is None and self.batch_time and self.last_retrain_time:
            days = (self.batch_time - self.last_retrain_time).total_seconds() / 86400.0
            object.__setattr__(self, "days_since_retrain", days)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("batch_time", "last_retrain_time"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Context":
        names = [f.name for f in fields(cls)]
        for k in d:
            if k not in names:
                raise ConfigError(f"unknown context key {k!r}{suggest(k, names)}; keys: {', '.join(names)}")
        return cls(**d)


def _metric_from_report(report: "DriftReport | None", metric: str) -> float | None:
    perf = getattr(report, "performance", None) if report is not None else None
    if not perf:
        return None
    name = metric if metric != "auto" else AUTO_METRIC.get(perf.get("task", ""), "")
    if metric == "error_rate" and "error_rate" not in (perf.get("metrics") or {}) and "accuracy" in (perf.get("metrics") or {}):
        acc = perf["metrics"]["accuracy"]
        return None if acc is None else 1.0 - acc
    v = (perf.get("metrics") or {}).get(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def performance_drop(current: float | None, champion: float | None, metric: str) -> float | None:
    """Relative degradation of ``current`` vs ``champion``: > 0 is worse, whatever the direction."""
    if current is None or champion is None:
        return None
    delta = (champion - current) if higher_is_better(metric) else (current - champion)
    return delta / max(abs(champion), _EPS)


def debt_ratio(context: Context) -> float | None:
    """The learning debt in CPU seconds over what a retrain costs now: its forecast CPU, plus the
    overdraft it would cause when the budget's allowance cannot pay for it (so a retrain over
    budget needs a debt twice as large). >= 1: a retrain pays off — though under a budget the
    guard still holds it back until the allowance left pays for it."""
    cost, debt = context.retrain_cost_s, context.debt_cost_s
    if debt is None or not cost:
        return None
    overdraft = 0.0 if context.budget_left_s is None else max(0.0, cost - context.budget_left_s)
    return debt / (cost + overdraft)


def _min_or_none(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else min(values)  # type: ignore[type-var]


#: Signals computed from the serving model's realised metric: under ``estimates: auto`` a batch
#: without labels takes them from ``estimated_metric`` instead (see :func:`estimate_sources`).
LABELLED_SIGNALS = ("metric", "performance_drop", "sustained_performance_drop", "drop_since_retrain",
                    "sustained_drop_since_retrain")
#: Signals of the learning debt, which holds estimated excess loss while labels are due.
DEBT_SIGNALS = ("debt", "debt_ratio")


#: One-sided z of the error band an estimate must clear before the policy acts on it (90 %, the
#: gate's default confidence): the same z the estimate track's choice is tested at.
ESTIMATE_Z = CONFIDENCE_Z


def acted_estimate(value: float | None, metric: str, std_error: float | None, track_error: float | None) -> float | None:
    """The value the labelled signals read from an estimate (or the realised value of the labels
    that came tonight, when that is worse): its optimistic end, ``ESTIMATE_Z``
    standard deviations toward "better", the deviation combining the sampling error of a batch
    this size (``std_error``) and the estimator's own error (``track_error``: how far the estimate
    has been from the realised values of earlier batches, and no less than its fit error until
    a few of those came back;
    ``driftkeeper.keeper.late_labels.errors``). A drop read from it is one the estimate's own error
    cannot explain: acting on the raw estimate retrained Bike Sharing on estimated drops that
    were the estimator's error (4 weeks' label delay: MAE ×1.088 of acting on realised values
    only; ``benchmarks/RESULTS.md``)."""
    if value is None:
        return None
    sd = math.sqrt(sum(float(e) ** 2 for e in (std_error, track_error) if e is not None and math.isfinite(e)))
    if higher_is_better(metric):  # accuracy, roc_auc, r2: at most 1
        return min(1.0, value + ESTIMATE_Z * sd) if value <= 1.0 else value + ESTIMATE_Z * sd
    return max(0.0, value - ESTIMATE_Z * sd) if value >= 0 else value - ESTIMATE_Z * sd  # losses: at least 0


def _worse(a: float | None, b: float | None, metric: str) -> float | None:
    """The worse of two values of ``metric`` (either may be ``None``)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b) if higher_is_better(metric) else max(a, b)


def _labelled_values(report: "DriftReport | None", policy: "Policy", context: Context
                     ) -> tuple[str | None, dict[str, float | None], dict[str, str]]:
    """``(metric name, values, sources)``: tonight's ``metric`` and the previous batches' values
    (``previous``: the previous batch; ``previous_rt``: the same with no retrain between) as the
    labelled signals read them, and for each value read while this batch's labels are not in,
    where it came from (``"estimate"`` or ``"late labels"``; see :func:`estimate_sources`)."""
    task = context.task or ((report.performance or {}).get("task") if report is not None else None)
    metric_name = policy.resolved_metric(task)
    metric = context.metric if context.metric is not None else _metric_from_report(report, metric_name)
    values = {"metric": metric, "previous": context.previous_metric, "previous_rt": context.previous_metric_since_retrain}
    sources: dict[str, str] = {}
    labelled = context.batch_labelled if context.batch_labelled is not None else metric is not None
    if policy.spec.estimates != "auto" or context.estimated_metric is None or labelled:
        return metric_name, values, sources
    # the optimistic end of each estimate's error band (tonight's errors for the previous
    # batch's estimate too: the same estimator, one batch apart) — and never better than the
    # realised value labels that came tonight for older rows give: an estimate adds what it can
    # show beyond its error, it never hides what labels said
    for key, estimate in (("metric", context.estimated_metric), ("previous", context.previous_estimated_metric),
                          ("previous_rt", context.previous_estimated_metric_since_retrain)):
        realised = values[key]
        if estimate is None:  # that batch had its labels: its realised value
            sources[key] = "late labels"
            continue
        acted = acted_estimate(estimate, metric_name, context.estimated_metric_se, context.estimated_metric_error)
        values[key] = _worse(acted, realised, metric_name)
        sources[key] = "late labels" if realised is not None and values[key] == realised != acted else "estimate"
    return metric_name, values, sources


def estimate_sources(report: "DriftReport | None", policy: "Policy", context: Context) -> dict[str, str]:
    """``{signal: source}`` for every signal that tonight reads an estimate instead of a realised
    value of this batch; empty under ``estimates: off``.

    With ``estimates: auto``, a batch that came without its labels (``context.batch_labelled``
    false, or unknown and no realised ``metric``) has no realised value of its own: labels that
    arrived tonight for older batches describe older rows. Then :data:`LABELLED_SIGNALS` are
    computed from ``estimated_metric`` (when there is one): ``metric`` is the estimate's
    optimistic end (:func:`acted_estimate`) or the realised value of tonight's late labels when
    that is worse, the drops compare it with the same baselines, and the sustained drops take the
    previous batch's value the same way (its realised value when that batch had labels). The
    source is ``"estimate"`` where the estimate decided the value and ``"late labels"`` where
    tonight's late labels did; a sustained drop (the smaller of two batches' drops) takes the
    source of the batch whose drop it is, and a signal without a value has none. The learning
    debt (:data:`DEBT_SIGNALS`) is marked ``"estimate"`` whenever part of it is estimated
    (``estimated_debt > 0``): the runner accrues an unlabelled batch's estimated excess loss and
    replaces it by the realised one when its labels arrive
    (:class:`driftkeeper.keeper.costs.Ledger`). A batch with its labels reads realised values only."""
    if policy.spec.estimates != "auto":
        return {}
    metric_name, values, sources = _labelled_values(report, policy, context)
    out: dict[str, str] = {}
    if sources:
        out.update(metric=sources["metric"], performance_drop=sources["metric"], drop_since_retrain=sources["metric"])
        for signal, baseline, key in (("sustained_performance_drop", context.champion_metric, "previous"),
                                      ("sustained_drop_since_retrain", context.retrain_metric, "previous_rt")):
            now = performance_drop(values["metric"], baseline, metric_name)
            before = performance_drop(values[key], baseline, metric_name)
            if now is not None and before is not None:
                out[signal] = sources["metric"] if now <= before else sources[key]
    if context.estimated_debt:
        out.update(dict.fromkeys(DEBT_SIGNALS, "estimate"))
    return out


def sources_text(decision: Any, sources: dict[str, str]) -> list[str]:
    """What a decision's text says of the conditions that read an estimate, or the late labels
    that were worse than it, while the batch's labels are not in (one line each; none when no
    condition did). The run record and ``driftkeeper policy explain`` print the same."""
    used = [s for s in dict.fromkeys(c["signal"] for c in decision.conditions) if s in sources]
    estimated = [s for s in used if sources[s] == "estimate"]
    late = [s for s in used if sources[s] != "estimate"]
    return ([f"estimated (this batch's labels are not in yet): {', '.join(estimated)}"] if estimated else []) + \
        ([f"from tonight's late labels (worse than this batch's estimate): {', '.join(late)}"] if late else [])


def compute_signals(report: "DriftReport | None", policy: "Policy", context: Context) -> dict[str, Any]:
    """Every signal value (``None`` when it cannot be known), incl. column signals the policy uses.
    Under ``estimates: auto`` a batch without labels reads its labelled signals from the
    estimate (:func:`estimate_sources`)."""
    metric_name, values, _ = _labelled_values(report, policy, context)
    metric, previous, previous_rt = values["metric"], values["previous"], values["previous_rt"]
    rep = report
    s: dict[str, Any] = {
        "drift_share": rep.drift_share if rep is not None and rep.columns else None,
        "drifted_columns": rep.n_drifted if rep is not None and rep.columns else None,
        "dataset_drift": rep.dataset_drift if rep is not None and rep.columns else None,
        "prediction_drift": rep.prediction.score if rep is not None and rep.prediction else None,
        "prediction_drifted": rep.prediction.drifted if rep is not None and rep.prediction else None,
        "target_drift": rep.target.score if rep is not None and rep.target else None,
        "target_drifted": rep.target.drifted if rep is not None and rep.target else None,
        "metric": metric,
        "performance_drop": performance_drop(metric, context.champion_metric, metric_name),
        "sustained_performance_drop": _min_or_none(
            performance_drop(metric, context.champion_metric, metric_name),
            performance_drop(previous, context.champion_metric, metric_name),
        ),
        "drop_since_retrain": performance_drop(metric, context.retrain_metric, metric_name),
        "estimated_metric": context.estimated_metric,
        "estimated_metric_se": context.estimated_metric_se,
        "estimated_performance_drop": performance_drop(context.estimated_metric, context.champion_metric, metric_name),
        "estimated_drop_since_retrain": performance_drop(context.estimated_metric, context.retrain_metric, metric_name),
        "sustained_drop_since_retrain": _min_or_none(
            performance_drop(metric, context.retrain_metric, metric_name),
            performance_drop(previous_rt, context.retrain_metric, metric_name),
        ),
        "rows": context.rows if context.rows is not None else (rep.current_rows if rep is not None and rep.current_rows else None),
        "labelled_rows": context.labelled_rows
        if context.labelled_rows is not None
        else ((rep.performance or {}).get("rows") if rep is not None else None),
        "unlearned_rows": context.unlearned_rows,
        "batches_since_retrain": context.batches_since_retrain,
        "days_since_retrain": context.days_since_retrain,
        "updates_since_retrain": context.updates_since_retrain,
        "model_trees": context.model_trees,
        "model_size_bytes": context.model_size_bytes,
        "consecutive_gate_refusals": context.consecutive_gate_refusals,
        "can_rollback": context.can_rollback,
        "retrain_cost_s": context.retrain_cost_s,
        "update_cost_s": context.update_cost_s,
        "debt": context.debt,
        "debt_ratio": debt_ratio(context),
        "budget_spent": context.budget_spent,
        "budget_affords": context.budget_left_s / context.retrain_cost_s
        if context.budget_left_s is not None and context.retrain_cost_s
        else None,
        "data_growth": context.rows_since_retrain / context.rows_at_retrain
        if context.rows_since_retrain is not None and context.rows_at_retrain
        else None,
        "quality_issues": rep.quality_issues if rep is not None else None,
    }
    for rule in policy.spec.rules:
        for c in rule.when.conditions():
            if c.column is None:
                continue
            col = None
            if rep is not None:
                col = next((x for x in rep.columns if x.name == c.column), None)
            if col is None:
                s[c.key] = None
            elif c.signal == "column_score":
                sc = col.score
                s[c.key] = None if sc is None or (isinstance(sc, float) and math.isnan(sc)) else sc
            elif c.signal == "missing_share":
                s[c.key] = col.missing_share
            elif c.signal == "new_categories":
                s[c.key] = col.new_categories
            else:
                s[c.key] = col.drifted
    for k, v in list(s.items()):
        if isinstance(v, float) and math.isnan(v):
            s[k] = None
    return s
