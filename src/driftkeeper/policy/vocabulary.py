"""The words a policy may use: actions, signals and their meanings, metrics, operators and
drift methods. Metrics and drift methods come from their own registries
(:mod:`driftkeeper.metrics`, :mod:`driftkeeper.monitor.stattests`); the rest is defined here."""

from __future__ import annotations

from .. import metrics as metric_registry
from ..monitor import stattests

__all__ = [
    "ACTIONS", "AUTO_METRIC", "CATEGORICAL_SIGNALS", "COLUMN_SIGNALS", "METRICS", "MONITOR_METHODS", "OPS", "SIGNALS", "TRAINING_ACTIONS",
    "UPDATE_ACTIONS",
]

#: Every action a rule (or the fallback) may name. ``update`` is resolved by :func:`decide`
#: to the model's own update style; a :class:`Decision` never carries ``update``.
ACTIONS = ("none", "warm_start", "online_update", "update", "retrain", "rollback")
#: Actions that train something (``min_rows`` applies to them).
TRAINING_ACTIONS = ("warm_start", "online_update", "retrain")
UPDATE_ACTIONS = ("warm_start", "online_update")

#: Every metric a policy may name -> True when higher is better: ``auto`` and the metric
#: registry's names (:mod:`driftkeeper.metrics`, where metrics are defined).
METRICS: dict[str, bool] = {"auto": False, **{n: m.higher_is_better for n, m in metric_registry.METRICS.items()}}
AUTO_METRIC = metric_registry.AUTO_METRIC  # what ``metric: auto`` means per task

#: signal -> (type, meaning). Types: "number", "int", "bool". ``column`` signals need a
#: column name: ``column_score:zipcode`` (or ``{signal: column_score, column: zipcode}``);
#: the name must be a feature column of the table (a keeper checks it at init and every night).
SIGNALS: dict[str, tuple[str, str]] = {
    "drift_share": ("number", "share of feature columns that drifted (0..1)"),
    "drifted_columns": ("int", "number of feature columns that drifted"),
    "dataset_drift": ("bool", "drift_share reached the monitor's drift_share threshold"),
    "column_score": ("number", "drift score of one column (a p-value or a distance, see the report)"),
    "column_drifted": ("bool", "whether one column drifted"),
    "missing_share": ("number", "share of this batch's rows missing in one column (0..1)"),
    "new_categories": ("number", "share of this batch's rows holding a category of one categorical column never seen in the reference (0..1)"),
    "quality_issues": ("int", "data-quality findings of this batch: columns entirely missing (drift not computed) or with categories never seen in the reference"),
    "prediction_drift": ("number", "drift score of the model's predictions"),
    "prediction_drifted": ("bool", "whether the model's predictions drifted"),
    "target_drift": ("number", "drift score of the labels"),
    "target_drifted": ("bool", "whether the labels drifted"),
    "metric": ("number", "the serving model's metric on the newest labelled rows (a batch without labels, estimates: auto: the optimistic end of its estimate, see estimated_metric)"),
    "performance_drop": ("number", "relative degradation of metric vs the champion's baseline (context.champion_metric); > 0 is worse"),
    "sustained_performance_drop": ("number", "the smaller performance_drop of this batch and the previous one (the same model on both)"),
    "drop_since_retrain": ("number", "relative degradation of metric vs its level after the last retrain (kept across updates; a refused retrain measures it again); > 0 is worse"),
    "sustained_drop_since_retrain": ("number", "the smaller drop_since_retrain of this batch and the previous one (no retrain between; updates may)"),
    "estimated_metric": ("number", "the serving model's metric on this batch estimated without its labels (CBPE for classifiers, DLE for regressors; fitted on rows the model did not train on)"),
    "estimated_metric_se": ("number", "standard error of estimated_metric (the sampling error of a batch this size)"),
    "estimated_performance_drop": ("number", "performance_drop computed from estimated_metric: usable before the labels arrive; > 0 is worse"),
    "estimated_drop_since_retrain": ("number", "drop_since_retrain computed from estimated_metric; > 0 is worse"),
    "rows": ("int", "rows in this batch"),
    "labelled_rows": ("int", "labelled rows in this batch"),
    "unlearned_rows": ("int", "labelled rows that arrived since the serving model's last training, this batch's included (small batches add up until min_rows)"),
    "batches_since_retrain": ("int", "batches since the last retrain"),
    "days_since_retrain": ("number", "days of data time since the last retrain"),
    "updates_since_retrain": ("int", "updates since the last retrain"),
    "model_trees": ("int", "trees in the serving model"),
    "model_size_bytes": ("int", "size of the serving model in bytes"),
    "consecutive_gate_refusals": ("int", "gate refusals in a row"),
    "can_rollback": ("bool", "a previous champion exists to roll back to"),
    "data_growth": ("number", "labelled rows since the last retrain / rows that retrain used (0.5 = 50% more data)"),
    "retrain_cost_s": ("number", "forecast training CPU seconds of a retrain on the policy's window (measured on this root)"),
    "update_cost_s": ("number", "forecast training CPU seconds of tonight's update (measured on this root)"),
    "debt": ("number", "learning debt: excess loss over the last retrain's level x rows, summed since that retrain (a refused retrain clears it)"),
    "debt_ratio": ("number", "the debt in CPU seconds (the budget's exchange rate) / (retrain_cost_s + the overdraft a retrain would cause): >= 1, a retrain pays off"),
    "budget_spent": ("number", "training CPU spent / the budget's allowance so far (1 = on budget)"),
    "budget_affords": ("number", "allowance not spent yet / retrain_cost_s: >= 1, the budget pays for a retrain now"),
}
COLUMN_SIGNALS = ("column_score", "column_drifted", "missing_share", "new_categories")
#: Column signals that only a categorical column has.
CATEGORICAL_SIGNALS = ("new_categories",)
OPS = ("<", "<=", ">", ">=", "==", "!=")

#: Drift methods ``monitor.method`` may name: ``auto`` and the monitor's statistical tests
#: (Evidently's names).
MONITOR_METHODS = ("auto", *stattests.METHODS)
