"""A policy in words (``Policy.describe()`` and ``driftkeeper policy check``). Private."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import ActionSpec
from .signals import DEBT_SIGNALS, LABELLED_SIGNALS
from .vocabulary import METRICS

if TYPE_CHECKING:
    from .policy import Policy


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    return str(v)


def window_text(window: Any) -> str:
    if window == "all" or window is None:
        return "all data"
    if "days" in window:
        return f"last {_fmt(window['days'])} days"
    return f"newest {window['rows']} rows"


def params_text(action: str, params: dict[str, Any]) -> str:
    parts = []
    for k, v in params.items():
        if k == "window":
            parts.append(f"window: {window_text(v)}")
        elif v is not None:
            parts.append(f"{k}: {_fmt(v)}")
    return f" ({', '.join(parts)})" if parts else ""


def _action(policy: "Policy", spec: ActionSpec) -> str:
    a = spec.action
    if a == "update":
        shown = policy.params_for("warm_start", spec)
        return f"update (the model's warm start or online update){params_text(a, shown)}"
    if a in ("warm_start", "online_update", "retrain"):
        return f"{a}{params_text(a, policy.params_for(a, spec))}"
    return a


def _metric_name(m: str) -> str:
    return "auto (rmse / log_loss)" if m == "auto" else m


def _estimates_text(policy: "Policy") -> str:
    used = sorted({c.signal for r in policy.rules for c in r.when.conditions()} & {*LABELLED_SIGNALS, *DEBT_SIGNALS})
    uses = f" (this policy's rules read {', '.join(used)})" if used else " (no rule of this policy reads them)"
    if policy.spec.estimates == "off":
        return ("estimates: off — the performance signals and the learning debt come from realised labels only; a "
                "batch without labels leaves them to the labels of older batches, or missing" + uses)
    return ("estimates: auto — a batch that comes without its labels reads metric, performance_drop and the other "
            "performance signals from the serving version's estimate (CBPE / DLE; the decision lists them in "
            "signals_from, as estimate or late labels) — its optimistic end, 1.28 standard deviations of its sampling error and its own (tracked on earlier batches, no less than its fit error until 6 came back) toward "
            "better, never better than the labels that came tonight for older rows; and the learning debt counts its estimated excess loss until the realised one replaces "
            "it when the labels arrive; a batch with its labels reads realised values" + uses)


def describe(policy: "Policy") -> str:
    lines = [f"policy {policy.name!r} ({policy.source})"]
    if policy.description:
        lines.append(f"  {' '.join(policy.description.split())}")
    m = policy.metric
    if m == "auto":
        lines.append("metric: auto (rmse for regression, log_loss for classification; lower is better)")
    else:
        lines.append(f"metric: {m} ({'higher' if METRICS[m] else 'lower'} is better)")
    if policy.monitor:
        lines.append("monitor: " + ", ".join(f"{k} {v}" for k, v in policy.monitor.items()))
    if policy.spec.budget is not None:
        lines.append(
            f"budget: {policy.spec.budget:.0%} of the training CPU always-retrain would spend. On each night "
            "always-retrain would retrain (once its min_rows of labelled rows wait), the allowance grows by that share "
            "of the forecast cost of a retrain on this policy's window (measured on this root); every training "
            "spends from it. The learning debt — the serving model's excess loss over the level the last retrain "
            "reached (after a retrain the gate refused: the serving model's level then), times the rows it "
            "served — is converted to CPU seconds at a rate that adapts so spending tracks the allowance; debt_ratio >= 1 means a retrain now pays for itself (and for any overdraft)."
        )
    lines.append(_estimates_text(policy))
    lines.append("rules (first match wins):")
    for i, r in enumerate(policy.rules, 1):
        lines.append(f"  {i}. {r.name}: if {r.when.text()} → {_action(policy, r)}")
    lines.append(f"  {'otherwise' if policy.rules else 'always'} → {_action(policy, policy.fallback)}")
    g = policy.guards
    gl = []
    if g.min_rows is not None:
        gl.append(f"no training until {g.min_rows} labelled rows wait to be learned (small batches add up)")
    if g.retrain_cooldown is not None:
        cd = g.retrain_cooldown
        parts = [f"{cd.batches} batches" if cd.batches is not None else "", f"{cd.days:g} days" if cd.days is not None else ""]
        gl.append(f"no rule-chosen retrain within {' and '.join(p for p in parts if p)} of the last one (update instead if possible)")
    if g.max_consecutive_updates is not None:
        gl.append(f"after {g.max_consecutive_updates} updates since the last retrain, an update becomes a retrain")
    if g.max_model_trees is not None:
        gl.append(f"an update that would pass {g.max_model_trees} trees becomes a retrain")
    if g.max_model_bytes is not None:
        gl.append(f"an update that would pass {g.max_model_bytes} bytes becomes a retrain")
    if policy.spec.budget is not None:
        gl.append("budget: a rule-chosen retrain (or one for new columns) waits until the allowance left pays for "
                  "its forecast cost, however large the debt; update instead. No update while the spending is past "
                  "the allowance")
    lines.append("guards:" + (" none" if not gl else ""))
    lines.extend(f"  - {x}" for x in gl)
    gate = policy.gate
    if gate.enabled:
        ho = gate.holdout
        which = "newest" if ho.pick == "newest" else "randomly picked"
        hold = f"{which} {ho.rows} new labelled rows" if ho.rows is not None else f"{which} {ho.fraction:.0%} of the new labelled rows"
        if gate.confidence is None:
            lines.append(
                f"gate: candidate {_metric_name(policy.gate_metric)} on the {hold} must be no worse than the champion's "
                f"within margin {gate.margin:g}; otherwise the champion stays"
            )
        else:
            lines.append(
                f"gate: candidate {_metric_name(policy.gate_metric)} on the {hold} is refused only when it is worse than "
                f"the champion's (margin {gate.margin:g}) with {gate.confidence:.0%} confidence (paired t-test on "
                f"per-row losses); otherwise it is promoted"
            )
        if policy.params_for("warm_start").get("early_stopping_rounds"):
            lines.append("  an update's early stopping picks its round count on the held-out rows, cross-fitted: each "
                         "half picks one, and the gate judges every row at the count the other half picked")
        for kind, label in (("retrain", "retrained"), ("update", "updated")):
            if getattr(gate, kind) is not None:
                margin, confidence = gate.for_action(kind)
                how = f"refused only when worse with {confidence:.0%} confidence" if confidence is not None else "plain comparison"
                lines.append(f"  {label} candidates: margin {margin:g}, {how}")
    else:
        lines.append("gate: off (every candidate is promoted)")
    lines.append(schema_change_text(policy.spec.schema_change))
    return "\n".join(lines)


#: ``schema_change:`` in words.
SCHEMA_CHANGE_TEXT = {
    "retrain": ("a batch with a new column retrains from scratch with it as a feature (older rows read it as "
                "missing); a batch without a column the model uses retrains without it; either overrides the rules"),
    "refuse": "a batch with a new column, or without a column the model uses, is refused (exit 2, nothing changed)",
    "ignore_new": ("new columns are dropped from the batch's features with a warning (the data store keeps them); a "
                   "batch without a column the model uses is refused"),
}


def schema_change_text(mode: str) -> str:
    """The policy's ``schema_change`` in one line."""
    return f"schema changes ({mode}): {SCHEMA_CHANGE_TEXT[mode]}; --exclude COL drops a feature for good"
