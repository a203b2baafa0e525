"""The policy engine: YAML policies validated on load (``schema``), turned into a pure
``decide(report, policy, context) -> Decision`` with guards, a gate and their descriptions."""

from .decision import Decision, decide
from .gate import gate_passes, higher_is_better
from .guards import budget_holds_retrain
from .policy import DECISION_ACTIONS, Policy, load_policy, shipped_policies
from .vocabulary import ACTIONS, METRICS, SIGNALS
from .signals import Context, compute_signals, performance_drop

__all__ = [
    "ACTIONS",
    "DECISION_ACTIONS",
    "METRICS",
    "SIGNALS",
    "Context",
    "Decision",
    "Policy",
    "budget_holds_retrain",
    "compute_signals",
    "decide",
    "gate_passes",
    "higher_is_better",
    "load_policy",
    "performance_drop",
    "shipped_policies",
]
