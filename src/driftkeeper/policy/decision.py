"""The decision: :func:`decide` tries the policy's rules in order on the signals, applies the
guards and resolves the parameters of the action; a :class:`Decision` says what and why. Pure."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .describe import _fmt, params_text
from .guards import apply_guards
from .schema import ActionSpec, Condition, Group
from .signals import Context, compute_signals
from .vocabulary import UPDATE_ACTIONS

if TYPE_CHECKING:
    from ..monitor.report import DriftReport
    from .policy import Policy

@dataclass(frozen=True)
class Decision:
    """What :func:`decide` chose, and why.

    Attributes:
        action: one of :data:`DECISION_ACTIONS` (``none``, ``warm_start``,
            ``online_update``, ``retrain``, ``rollback``).
        params: for ``retrain``: ``window`` (``{"days": N}``, ``{"rows": N}`` or ``"all"``);
            for updates: ``rounds``, ``learning_rate`` (None = the model's own),
            ``replay_fraction``, ``mode`` (``continue`` | ``refit`` | ``correct``), ``relearn_batches``
            (how many of the newest batches a warm-start model already learned it learns again
            with the new rows), ``relearn_rows`` (most rows relearned, the newest: an update's cost
            stays bounded whatever the batches' size), ``passes`` (passes over the new rows for online learners; None:
            ``rounds``), ``early_stopping_rounds`` (``rounds`` is a maximum: stop once half of the
            held-out rows, which the gate then does not judge on, have not improved for this many
            rounds, keep the best; LightGBM),
            ``l2_regularization`` (L2 penalty on the update's leaf values; LightGBM ``lambda_l2``;
            None: the model's own); empty otherwise.
        rule: the rule that fired, or ``"fallback"``.
        requested: the action the rule (or fallback) asked for, before guards.
        conditions: every condition evaluated: ``{rule, signal, op, value, actual, held, missing}``.
        guards: every guard that changed the action: ``{guard, from, to, reason}``.
        signals: every signal value (``None`` when missing), incl. ``column_score:<name>``
            keys the policy refers to.
        missing: names of the missing signals.
        policy: the policy's name.
    """

    action: str
    params: dict[str, Any]
    rule: str
    requested: str
    conditions: tuple[dict[str, Any], ...] = ()
    guards: tuple[dict[str, Any], ...] = ()
    signals: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    policy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "params": dict(self.params),
            "rule": self.rule,
            "requested": self.requested,
            "conditions": [dict(c) for c in self.conditions],
            "guards": [dict(g) for g in self.guards],
            "signals": dict(self.signals),
            "missing": list(self.missing),
            "policy": self.policy,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Decision":
        return cls(
            action=d["action"],
            params=dict(d.get("params") or {}),
            rule=d["rule"],
            requested=d.get("requested", d["action"]),
            conditions=tuple(dict(c) for c in d.get("conditions", ())),
            guards=tuple(dict(g) for g in d.get("guards", ())),
            signals=dict(d.get("signals") or {}),
            missing=tuple(d.get("missing", ())),
            policy=d.get("policy", ""),
        )

    def __str__(self) -> str:
        return self.text()

    def text(self, takes: Collection[str] | None = None, *, online: bool = False) -> str:
        """The decision in one line: the action and its parameters, and why.

        ``takes``: the update parameters the serving model takes (its adapter's
        ``update_overrides_for(mode)``), ``online``: whether it learns online. Given them, an
        update shows only the parameters that apply to this model and lists the others as
        ignored (``None``: every parameter, as the policy resolved them)."""
        shown, ignored = applicable_params(self.action, self.params, takes, online)
        text = f"{self.action}{params_text(self.action, shown)}"
        if ignored:
            text += f" [ignored by this model: {', '.join(ignored)}]"
        if self.rule == "fallback":
            text += " — no rule fired (fallback)"
        else:
            held = [c for c in self.conditions if c["rule"] == self.rule and c["held"]]
            why = "; ".join(f"{c['signal']} {_fmt(c['actual'])} {c['op']} {_fmt(c['value'])}" for c in held)
            text += f" — rule {self.rule!r} fired" + (f": {why}" if why else "")
        for g in self.guards:
            text += f"; guard {g['guard']}: {g['reason']}"
        used = list(dict.fromkeys(c["signal"] for c in self.conditions if c["missing"]))
        if used:
            text += f"; missing signals (conditions on them were false): {', '.join(used)}"
        return text


def applicable_params(action: str, params: dict[str, Any], takes: Collection[str] | None,
                      online: bool) -> tuple[dict[str, Any], list[str]]:
    """``(parameters that apply, names of those that do not)`` of an update for a model that takes
    the update parameters ``takes`` (``None``: all apply). ``passes`` applies to online learners
    only, and replaces ``rounds`` when set; ``relearn_batches`` to warm starts only (an online
    learner learned those rows when they arrived)."""
    if takes is None or action not in UPDATE_ACTIONS:
        return dict(params), []
    passes = params.get("passes") is not None

    def applies(key: str) -> bool:
        if key == "passes":
            return online
        if key in ("relearn_batches", "relearn_rows"):
            return not online
        if key == "rounds" and online and passes:
            return False
        return key in takes

    shown = {k: v for k, v in params.items() if applies(k)}
    return shown, [k for k, v in params.items() if k not in shown and v is not None]


_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _evaluate(group: Group, signals: dict[str, Any], rule: str, record: list[dict[str, Any]]) -> bool:
    """Evaluate every item (no short-circuit, so the record is complete)."""
    results = []
    for it in group.items:
        if isinstance(it, Group):
            results.append(_evaluate(it, signals, rule, record))
            continue
        c: Condition = it
        actual = signals.get(c.key)
        missing = actual is None
        held = (not missing) and bool(_OPS[c.op](actual, c.value))
        record.append(
            {"rule": rule, "signal": c.key, "op": c.op, "value": c.value, "actual": actual, "held": held, "missing": missing}
        )
        results.append(held)
    return all(results) if group.kind == "all" else any(results)


def decide(report: "DriftReport | None", policy: "Policy", context: Context | None = None) -> Decision:
    """Decide what to do with the serving model. Pure and deterministic; see the module doc."""
    context = context or Context()
    signals = compute_signals(report, policy, context)
    record: list[dict[str, Any]] = []
    chosen: ActionSpec = policy.fallback
    rule_name = "fallback"
    for rule in policy.spec.rules:
        if _evaluate(rule.when, signals, rule.name, record):
            chosen, rule_name = rule, rule.name
            break
    action, guards = apply_guards(chosen.action, policy, context, signals, chosen)
    params = policy.params_for(action, chosen)
    missing = tuple(k for k, v in signals.items() if v is None)
    return Decision(
        action=action,
        params=params,
        rule=rule_name,
        requested=chosen.action,
        conditions=tuple(record),
        guards=tuple(guards),
        signals=signals,
        missing=missing,
        policy=policy.name,
    )
