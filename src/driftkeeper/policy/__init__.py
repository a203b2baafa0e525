"""The policy engine: YAML policies validated on load (``schema``), turned into a pure
``decide(report, policy, context) -> Decision`` with guards, a gate and their descriptions."""

from .policy import (
    ACTIONS,
    DECISION_ACTIONS,
    METRICS,
    SIGNALS,
    Context,
    Decision,
    Policy,
    decide,
    gate_passes,
    higher_is_better,
    load_policy,
    shipped_policies,
)

__all__ = [
    "ACTIONS",
    "DECISION_ACTIONS",
    "METRICS",
    "SIGNALS",
    "Context",
    "Decision",
    "Policy",
    "decide",
    "gate_passes",
    "higher_is_better",
    "load_policy",
    "shipped_policies",
]
