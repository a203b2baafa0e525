"""The policy engine: what to do after a drift check — none, update, retrain or rollback.

A :class:`Policy` is read from YAML (see ``policies/default.yaml`` for the annotated format)
by :func:`load_policy`. :func:`decide` is pure and deterministic: it reads a
:class:`~driftkeeper.monitor.DriftReport` (or ``None``) and a :class:`Context` of history
facts the runner fills, and returns a :class:`Decision`. No I/O, no clock: time-based
signals use ``context.batch_time`` (data time), so backtests replay history faithfully.

Decision order:

1. signals are computed; a signal that cannot be known (no labels → no ``metric``; no
   report; an unknown column) is ``None`` and listed in ``Decision.missing``;
2. rules are tried in order, first match wins; a condition on a missing signal is false;
   no match → the ``fallback`` action;
3. guards adjust the action, each one recorded in ``Decision.guards``:
   ``update`` → the model's ``update_style`` (or ``retrain`` when it cannot update);
   ``rollback`` without a previous champion → ``none``;
   ``max_consecutive_updates`` / ``max_model_trees`` / ``max_model_bytes`` force an update
   into a ``retrain`` (forced retrains ignore the cooldown);
   ``retrain_cooldown`` turns a rule-chosen retrain into an update (if the model can update
   and the update passes the caps) or ``none``;
   ``min_rows`` turns any training into ``none`` while fewer labelled rows than that wait to be
   learned (``unlearned_rows``: small batches add up) or when no labelled row came tonight;
4. parameters are resolved: built-in defaults < ``defaults:`` < ``retrain:``/``update:`` <
   the rule's own, keeping only those that apply to the final action.

Example:
    >>> from driftkeeper.policy import load_policy, decide, Context
    >>> decide(None, load_policy("never"), Context()).action
    'none'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .gate import gate_passes
from .._util.suggest import suggest
from .schema import UPDATE_PARAMS, ActionSpec, PolicySpec, Rule, column_conditions, condition_line, location_text
from .vocabulary import AUTO_METRIC, CATEGORICAL_SIGNALS, UPDATE_ACTIONS
from .schema import parse_policy_text as _parse
from ..exceptions import PolicyError

@functools.lru_cache(maxsize=32)
def parse_policy_text(text: str, where: str) -> PolicySpec:
    """The validated spec of a policy text (cached: a runner reads the same file every night, and
    the spec is immutable)."""
    return _parse(text, where)


__all__ = ["BUILTIN_PARAMS", "DECISION_ACTIONS", "Policy", "load_policy", "shipped_policies"]

#: Actions a :class:`Decision` can carry (``update`` is always resolved away).
DECISION_ACTIONS = ("none", "warm_start", "online_update", "retrain", "rollback")

#: Parameters used when neither the policy nor the rule sets them.
BUILTIN_PARAMS: dict[str, Any] = {
    "window": "all",
    "rounds": 100,
    "learning_rate": None,  # None: the model's own learning rate
    "replay_fraction": 0.0,
    "mode": "continue",
    "relearn_batches": 0,
    "relearn_rows": None,  # None: relearned rows are bounded by relearn_batches x the new rows only
    "passes": None,  # None: online learners take `rounds` passes
    "early_stopping_rounds": None,  # None: every one of `rounds` is trained
    "l2_regularization": None,  # None: the model's own (LightGBM lambda_l2)
}


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``spec`` is the parsed file; the properties are what the runner reads.

    ``metric`` (may be ``auto``: rmse / log_loss), ``monitor`` (dict of Monitor settings),
    ``gate`` (``enabled``, ``metric``, ``holdout.rows`` / ``holdout.fraction``, ``margin``,
    ``confidence``; ``gate.for_action(action)`` gives the margin and confidence for a candidate
    of that action, with the ``gate.retrain`` / ``gate.update`` overrides applied),
    ``guards``, ``rules``, ``fallback``.
    """

    name: str
    source: str
    spec: PolicySpec
    text: str | None = field(default=None, compare=False, repr=False)  # the YAML, for line numbers

    @property
    def description(self) -> str:
        return self.spec.description or ""

    @property
    def metric(self) -> str:
        return self.spec.metric

    def resolved_metric(self, task: str | None) -> str:
        """The concrete metric name for ``task`` (resolves ``auto``)."""
        if self.metric != "auto":
            return self.metric
        if task is None:
            return "auto"
        return AUTO_METRIC[task]

    @property
    def gate(self):
        return self.spec.gate

    @property
    def gate_metric(self) -> str:
        return self.spec.gate.metric or self.spec.metric

    def resolved_gate_metric(self, task: str | None) -> str:
        """The concrete metric the gate compares on for ``task`` (``gate.metric``, else the
        policy metric; ``auto`` resolves to rmse / log_loss)."""
        m = self.gate_metric
        return AUTO_METRIC[task] if m == "auto" and task is not None else m

    @property
    def guards(self):
        return self.spec.guards

    @property
    def rules(self) -> list[Rule]:
        return list(self.spec.rules)

    @property
    def fallback(self) -> ActionSpec:
        return self.spec.fallback

    @property
    def monitor(self) -> dict[str, Any]:
        m = self.spec.monitor
        if m is None:
            return {}
        return {k: v for k, v in m.model_dump().items() if v is not None}

    def monitor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Monitor(**policy.monitor_kwargs())`` (a fresh dict)."""
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.monitor.items()}

    def min_training_rows(self) -> int:
        """``guards.min_rows`` (1 when unset): the fewest labelled rows any training may use (an
        update counts the rows it learns and its holdout)."""
        return max(1, self.spec.guards.min_rows or 1)

    def gate_passes(self, champion_value: float | None, candidate_value: float | None, task: str | None = None,
                    action: str | None = None, **losses: Any) -> tuple[bool, str]:
        """:func:`gate_passes` with this policy's gate metric and the margin and confidence for a
        candidate made by ``action`` (``None``: the gate's own, without the ``gate.retrain`` /
        ``gate.update`` overrides; the paired test needs per-row losses: pass
        ``champion_losses`` / ``candidate_losses``)."""
        metric = self.resolved_gate_metric(task)
        margin, confidence = self.spec.gate.for_action(action)
        return gate_passes(champion_value, candidate_value, metric, margin, confidence=confidence, **losses)

    def params_for(self, action: str, rule: ActionSpec | None = None) -> dict[str, Any]:
        """Resolved parameters of ``action`` (built-in < defaults < retrain/update < rule)."""
        if action == "retrain":
            keys: tuple[str, ...] = ("window",)
            section = self.spec.retrain
        elif action in UPDATE_ACTIONS:
            keys, section = UPDATE_PARAMS, self.spec.update
        else:
            return {}
        out = {k: BUILTIN_PARAMS[k] for k in keys}
        for layer in (self.spec.defaults, section, rule):
            if layer is None:
                continue
            for k in keys:
                v = getattr(layer, k, None)
                if v is not None:
                    out[k] = v.to_value() if k == "window" else v
        return out

    @classmethod
    def from_yaml(cls, text: str, name: str = "inline", source: str = "<string>") -> "Policy":
        """A policy from YAML text (validated like a file; errors name ``source`` and the line)."""
        spec = parse_policy_text(text, source)
        return cls(name=spec.name or name, source=source, spec=spec, text=text)

    def check_columns(self, kinds: Mapping[str, str], what: str = "the table") -> None:
        """Refuse a column signal (``column_score:<col>``, ``missing_share:<col>``, ...) naming a
        column that is not a feature of ``what`` (``kinds``: feature -> ``numerical`` /
        ``categorical``), or ``new_categories`` on a numerical column: one :class:`PolicyError`
        line with the file, the line and a did-you-mean. A misspelt column would otherwise be a
        signal that is always missing, and its rule would never fire."""
        for loc, cond in column_conditions(self.spec):
            col = cond.column
            if col in kinds and (cond.signal not in CATEGORICAL_SIGNALS or kinds[col] == "categorical"):
                continue
            line = condition_line(self.text, loc)  # parses the YAML again: only for the error
            where = f"{self.source}:{line}: " if line is not None else f"{self.source}: "
            at = f"{where}{location_text(loc)}: {cond.key}: "
            if col not in kinds:
                feats = list(kinds)
                shown = ", ".join(map(repr, feats[:12])) + (f", ... ({len(feats)} in all)" if len(feats) > 12 else "")
                raise PolicyError(f"{at}column {col!r} is not a feature column of {what}{suggest(col, feats)}; "
                                  f"feature columns: {shown}")
            if cond.signal in CATEGORICAL_SIGNALS and kinds[col] != "categorical":
                raise PolicyError(f"{at}{cond.signal} needs a categorical column, and {col!r} is {kinds[col]}; "
                                  f"use missing_share:{col} or column_score:{col}")

    def describe(self) -> str:
        """The policy in words: metric, monitor, rules in order, fallback, guards, gate."""
        from .describe import describe

        return describe(self)


def shipped_policies() -> list[str]:
    """Names of the policies packaged with driftkeeper (``default``, ``never``, ...)."""
    from importlib import resources

    folder = resources.files("driftkeeper") / "policies"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_policy(name_or_path: str | Path) -> Policy:
    """A shipped policy by bare name (``"default"``) or a YAML file by path.

    Raises :class:`PolicyError` (one line, ``file:line: ...``) when the file is invalid, and
    when it does not exist (listing the shipped names).
    """
    from importlib import resources

    text_name = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or "/" in text_name or "\\" in text_name or text_name.endswith((".yaml", ".yml"))
    if not looks_like_path:
        res = resources.files("driftkeeper") / "policies" / f"{text_name}.yaml"
        if not res.is_file():
            names = shipped_policies()
            raise PolicyError(
                f"no policy named {text_name!r}{suggest(text_name, names)}; shipped policies: {', '.join(names)} "
                "(or give a path to a .yaml file)"
            )
        text, where, stem = res.read_text(encoding="utf-8"), str(res), text_name
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise PolicyError(f"policy file {str(path)!r} does not exist; shipped policies: {', '.join(shipped_policies())}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path}: cannot read policy file: {exc}") from exc
        where, stem = str(path), path.stem
    spec = parse_policy_text(text, where)
    return Policy(name=spec.name or stem, source=where, spec=spec, text=text)
