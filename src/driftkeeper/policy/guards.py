"""Guards: the safety rules applied after a policy rule chose an action (private).

Order (each guard that changes the action is recorded as ``{guard, from, to, reason}``):

1. ``update_unsupported`` — ``update`` (or an explicit ``warm_start``/``online_update``)
   when the model cannot update (``context.update_style is None``) → ``retrain``;
   ``update_style`` — an explicit update style the model does not have → the model's style.
2. ``rollback_unavailable`` — ``rollback`` without a previous champion → ``none``.
3. ``max_consecutive_updates`` / ``max_model_trees`` / ``max_model_bytes`` — an update
   after N updates since the last retrain, or one that would grow the model past a cap
   (``model_trees + rounds``; bytes projected per tree) → ``retrain`` (forced: the cooldown
   does not apply to it).
4. ``retrain_cooldown`` — a retrain chosen by a rule within ``batches`` batches or ``days``
   days (data time) of the last one → the model's update, if it passes the caps, else ``none``.
5. ``budget`` — with a policy ``budget``: a retrain chosen by a rule while less of the
   allowance is left than its forecast cost (``budget_left_s < retrain_cost_s``: the budget
   is kept, not overdrawn and caught up later) → the model's update, if it passes the caps and
   the budget allows it, else ``none``; an update while the spending is past the allowance
   (``budget_left_s < 0``) → ``none``. Retrains the caps force are not held back.
6. ``min_rows`` — any training while fewer labelled rows than ``min_rows`` wait to be learned
   (``unlearned_rows``: this batch's and those of earlier batches no training has learned yet;
   the batch's ``labelled_rows``, then ``rows``, when that is unknown) → ``none``. Small batches
   thus wait for each other: a stream of 40-row batches trains every third batch, on all three.
   A night without any new labelled row (``labelled_rows`` 0) does not train either: the rows
   waiting since a refused candidate would train the same candidate again.

A guard whose inputs are unknown (``None``) does not fire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import ActionSpec
from .vocabulary import TRAINING_ACTIONS, UPDATE_ACTIONS

if TYPE_CHECKING:
    from .policy import Context, Policy


def _cap_violation(action: str, policy: "Policy", context: "Context", spec: ActionSpec | None) -> tuple[str, str] | None:
    """(guard, reason) when an update ``action`` would break a cap, else None."""
    g = policy.guards
    n = context.updates_since_retrain
    if g.max_consecutive_updates is not None and n is not None and n >= g.max_consecutive_updates:
        return "max_consecutive_updates", f"{n} updates since the last retrain >= {g.max_consecutive_updates}"
    rounds = policy.params_for(action, spec).get("rounds") or 0
    trees = context.model_trees
    if g.max_model_trees is not None and trees is not None and trees + rounds > g.max_model_trees:
        return "max_model_trees", f"{trees} trees + {rounds} rounds = {trees + rounds} > {g.max_model_trees}"
    size = context.model_size_bytes
    if g.max_model_bytes is not None and size is not None:
        projected = size * (trees + rounds) / trees if trees else size
        if projected > g.max_model_bytes:
            how = f"{size} bytes grown to ~{int(projected)}" if trees else f"{size} bytes"
            return "max_model_bytes", f"{how} > {g.max_model_bytes}"
    return None


def _past_allowance(left: float) -> str:
    return f"training CPU spent is {-left:.3g} s past the budget's allowance"


def budget_holds_retrain(left: float | None, cost: float | None) -> str | None:
    """Why a budget holds a retrain back tonight, or ``None``: the allowance left (``left``,
    negative past it) must pay for the retrain's forecast ``cost``. The one rule the budget
    guard and a schema change's retrain (``keeper.schema_change``) both follow."""
    if left is None or not cost or left >= cost:
        return None
    if left >= 0:
        return f"the budget's allowance has {left:.3g} s left, less than the retrain's forecast {cost:.3g} s"
    return _past_allowance(left)


def apply_guards(
    requested: str, policy: "Policy", context: "Context", signals: dict[str, Any], spec: ActionSpec | None = None
) -> tuple[str, list[dict[str, Any]]]:
    guards: list[dict[str, Any]] = []
    action = requested

    def fire(name: str, to: str, reason: str) -> None:
        nonlocal action
        guards.append({"guard": name, "from": action, "to": to, "reason": f"{reason} → {to} instead of {action}"})
        action = to

    style = context.update_style
    if action == "update" or action in UPDATE_ACTIONS:
        if style is None:
            fire("update_unsupported", "retrain", "the model cannot be updated")
        elif action == "update":
            action = style  # resolution, not a guard
        elif action != style:
            fire("update_style", style, f"the model updates by {style}, not {action}")
    if action == "rollback" and not context.can_rollback:
        fire("rollback_unavailable", "none", "no previous champion to roll back to")

    forced = False
    if action in UPDATE_ACTIONS:
        hit = _cap_violation(action, policy, context, spec)
        if hit:
            fire(hit[0], "retrain", hit[1])
            forced = True

    cd = policy.guards.retrain_cooldown
    if action == "retrain" and not forced and cd is not None:
        why = []
        b, d = context.batches_since_retrain, context.days_since_retrain
        if cd.batches is not None and b is not None and b < cd.batches:
            why.append(f"{b} batches since the last retrain < {cd.batches}")
        if cd.days is not None and d is not None and d < cd.days:
            why.append(f"{d:.3g} days since the last retrain < {cd.days:g}")
        if why:
            reason = "; ".join(why)
            if style is not None and _cap_violation(style, policy, context, spec) is None:
                fire("retrain_cooldown", style, reason)
            else:
                fire("retrain_cooldown", "none", reason + (" and the model cannot be updated" if style is None else " and an update would break a cap"))

    left, cost = context.budget_left_s, context.retrain_cost_s
    if policy.spec.budget and left is not None and cost:
        update_ok = left >= 0
        why = budget_holds_retrain(left, cost)
        if action == "retrain" and not forced and why:
            if style is not None and update_ok and _cap_violation(style, policy, context, spec) is None:
                fire("budget", style, why)
            else:
                fire("budget", "none", why)
        elif action in UPDATE_ACTIONS and not update_ok:
            fire("budget", "none", _past_allowance(left))

    min_rows = policy.guards.min_rows
    if action in TRAINING_ACTIONS and min_rows is not None:
        n, what = signals.get("unlearned_rows"), "labelled rows not learned yet"  # since the last training
        if n is None:
            n, what = signals.get("labelled_rows"), "labelled rows"
        if n is None:
            n, what = signals.get("rows"), "rows"
        if n is not None and n < min_rows:
            fire("min_rows", "none", f"{n} {what} < min_rows {min_rows}")
        elif min_rows > 0 and signals.get("unlearned_rows") is not None and signals.get("labelled_rows") == 0:
            # rows wait (a refused candidate's, say) but nothing new came: the same rows would
            # train the same candidate again
            fire("min_rows", "none", f"no labelled rows tonight ({n} {what} already waited last night)")
    return action, guards
