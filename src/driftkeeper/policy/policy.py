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
   ``min_rows`` turns any training into ``none`` when the batch has too few labelled rows;
4. parameters are resolved: built-in defaults < ``defaults:`` < ``retrain:``/``update:`` <
   the rule's own, keeping only those that apply to the final action.

Example:
    >>> from driftkeeper.policy import load_policy, decide, Context
    >>> decide(None, load_policy("never"), Context()).action
    'none'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .schema import (
    AUTO_METRIC,
    METRIC_TASKS,
    METRICS,
    SIGNALS,
    TRAINING_ACTIONS,
    UPDATE_ACTIONS,
    UPDATE_PARAMS,
    ActionSpec,
    Condition,
    Group,
    PolicySpec,
    Rule,
    parse_policy_text,
    suggest,
)
from ..exceptions import ConfigError, PolicyError

if TYPE_CHECKING:
    from ..monitor.report import DriftReport

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

from .schema import ACTIONS  # noqa: E402

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
    "passes": None,  # None: online learners take `rounds` passes
    "early_stopping_rounds": None,  # None: every one of `rounds` is trained
    "l2_regularization": None,  # None: the model's own (LightGBM lambda_l2)
}

_EPS = 1e-12


def higher_is_better(metric: str) -> bool:
    """Direction of a metric (``auto`` is rmse / log_loss: lower is better)."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}{suggest(metric, METRICS)}; metrics: {', '.join(METRICS)}")
    return METRICS[metric]


def gate_passes(
    champion_value: float | None,
    candidate_value: float | None,
    metric: str,
    margin: float = 0.0,
    *,
    confidence: float | None = None,
    champion_losses: Any = None,
    candidate_losses: Any = None,
) -> tuple[bool, str]:
    """Is the candidate at least as good as the champion, within ``margin``? Pure.

    Both values are the metric on the same holdout rows. With ``tol = margin * |champion|``:
    lower-is-better metrics pass when ``candidate <= champion + tol`` (for a positive error:
    ``candidate <= champion * (1 + margin)``); higher-is-better ones when
    ``candidate >= champion - tol``. ``margin`` 0 means "no worse"; a negative margin
    demands an improvement. A missing or NaN candidate fails; a missing champion passes.

    With ``confidence`` (e.g. 0.9) and both models' per-row losses on the holdout, the gate
    refuses only a candidate that is worse *with that confidence*: a one-sided paired t-test
    on ``d = candidate_loss - k * champion_loss`` (``k = (1 + margin) ** power``; power 2 for
    rmse, whose losses are squared errors) refuses when ``mean(d) / (sd(d) / sqrt(n))`` exceeds
    Student's t quantile. On a holdout of a few dozen rows the point comparison is mostly
    noise and refuses good candidates about as often as bad ones; the test keeps the gate
    for what it is for: stopping updates that are clearly harmful. Metrics without per-row
    losses (roc_auc) keep the point comparison.

    >>> gate_passes(10.0, 10.4, "rmse", 0.05)[0]
    True
    >>> gate_passes(0.80, 0.70, "r2", 0.05)[0]
    False
    >>> gate_passes(1.0, 1.2, "mae", 0.0, confidence=0.9,
    ...             champion_losses=[0.0, 2.0, 1.0, 1.0], candidate_losses=[0.4, 2.0, 1.4, 1.0])[0]
    True
    """
    hib = higher_is_better(metric)
    if candidate_value is None or not math.isfinite(candidate_value):
        return False, f"gate refused: candidate {metric} is {candidate_value!r}"
    if champion_value is None or not math.isfinite(champion_value):
        return True, f"gate passed: no champion {metric} to compare with (candidate {candidate_value:.4g})"
    if confidence is not None and champion_losses is not None and candidate_losses is not None:
        tested = _paired_test(champion_value, candidate_value, metric, margin, confidence, champion_losses, candidate_losses)
        if tested is not None:
            return tested
    tol = margin * abs(champion_value)
    if hib:
        limit, ok, cmp = champion_value - tol, candidate_value >= champion_value - tol, ">="
    else:
        limit, ok, cmp = champion_value + tol, candidate_value <= champion_value + tol, "<="
    verdict = "passed" if ok else "refused"
    direction = "higher" if hib else "lower"
    return ok, (
        f"gate {verdict}: candidate {metric} {candidate_value:.4g} {'' if ok else 'not '}{cmp} "
        f"{limit:.4g} (champion {champion_value:.4g}, margin {margin:g}, {direction} is better)"
    )


def _paired_test(champion_value, candidate_value, metric, margin, confidence, champion_losses, candidate_losses):
    import numpy as np

    from ..metrics import METRICS

    a = np.asarray(champion_losses, dtype=float)
    b = np.asarray(candidate_losses, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"gate: champion and candidate losses must be 1-D and of equal length, got {a.shape} and {b.shape}")
    n = len(a)
    if n < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    m = METRICS.get(metric)
    k = (1.0 + margin) ** (m.loss_power if m is not None else 1)
    d = b - k * a
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        worse, stat = mean > 0, ("inf" if mean > 0 else "-inf" if mean < 0 else "0")
        crit = None
    else:
        from scipy.stats import t as student_t

        t = mean / (sd / math.sqrt(n))
        crit = float(student_t.ppf(confidence, n - 1))
        worse, stat = t > crit, f"{t:.2f}"
    verdict = "refused" if worse else "passed"
    change = (candidate_value - champion_value) / abs(champion_value) if champion_value else float("nan")
    against = f" {'>' if worse else '<='} {crit:.2f}" if crit is not None else ""
    return (not worse), (
        f"gate {verdict}: candidate {metric} {candidate_value:.4g} vs champion {champion_value:.4g} ({change:+.1%}, "
        f"margin {margin:g}); {'worse' if worse else 'not worse'} with {confidence:.0%} confidence "
        f"(paired t = {stat}{against}, {n} rows)"
    )


# --------------------------------------------------------------------------- context


def _aware(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"context {name}: {value!r} is not an ISO datetime") from exc
    if not isinstance(value, datetime):
        raise ConfigError(f"context {name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"context {name}: {value.isoformat()} has no timezone; give an aware datetime")
    return value


_CONTEXT_TYPES: dict[str, Any] = {
    **dict.fromkeys(
        ("batches_since_retrain", "updates_since_retrain", "labelled_rows", "rows", "model_trees",
         "model_size_bytes", "consecutive_gate_refusals", "rows_since_retrain", "rows_at_retrain"), int),
    **dict.fromkeys(("days_since_retrain", "champion_metric", "metric", "previous_metric", "retrain_metric",
                    "previous_metric_since_retrain"), (int, float)),
    "can_rollback": bool,
}
_CONTEXT_WORDS = {int: "an integer", (int, float): "a finite number", bool: "true or false"}


@dataclass(frozen=True)
class Context:
    """History facts the runner hands to :func:`decide` (all optional; unknown = ``None``).

    ``days_since_retrain`` is computed from ``batch_time - last_retrain_time`` (data time,
    never the wall clock) when not given. ``metric`` is the serving model's current value of
    the policy metric on the newest labelled rows; ``champion_metric`` its reference value
    (the runner passes the champion's mean metric on the first labelled batches it served —
    out of sample — and the gate-holdout value at promotion until it has served one). ``labelled_rows`` / ``rows`` count this batch. ``update_style`` is how the
    model updates (``"warm_start"`` / ``"online_update"``) or ``None`` if it cannot.
    ``task`` (``"regression"`` / ``"classification"``) resolves ``metric: auto``.
    ``rows_since_retrain`` counts labelled rows that arrived since the last retrain and
    ``rows_at_retrain`` the rows that retrain trained on; their ratio is the ``data_growth``
    signal (a cost-aware retrain trigger: retraining when the data grew by a fixed share costs
    a bounded multiple of one retrain on all the data, however long the history).
    ``previous_metric`` is the same model's metric on the previous labelled batch (``None``
    when the model changed since); with ``metric`` it gives ``sustained_performance_drop``.
    ``retrain_metric`` is the reference value since the last retrain: the mean metric on the
    first labelled batches served after it, kept across promoted updates (``champion_metric``
    starts again with every new champion); with ``metric`` it gives ``drop_since_retrain``, how
    far the updates have let the model fall behind the level a retrain reached.
    ``previous_metric_since_retrain`` is the serving model's metric on the previous labelled
    batch when no retrain came between (promoted updates may have); with ``metric`` and
    ``retrain_metric`` it gives ``sustained_drop_since_retrain``: one bad week (a holiday) is
    not a trend.
    """

    batch_time: datetime | None = None
    last_retrain_time: datetime | None = None
    batches_since_retrain: int | None = None
    days_since_retrain: float | None = None
    updates_since_retrain: int | None = None
    champion_metric: float | None = None
    metric: float | None = None
    labelled_rows: int | None = None
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_time", _aware("batch_time", self.batch_time))
        object.__setattr__(self, "last_retrain_time", _aware("last_retrain_time", self.last_retrain_time))
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


# --------------------------------------------------------------------------- decision


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
            with the new rows), ``passes`` (passes over the new rows for online learners; None:
            ``rounds``), ``early_stopping_rounds`` (``rounds`` is a maximum: stop once the gate's
            holdout has not improved for this many rounds, keep the best; LightGBM),
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

    @property
    def trains(self) -> bool:
        return self.action in TRAINING_ACTIONS

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
        text = f"{self.action}{params_text(self.action, self.params)}"
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


# --------------------------------------------------------------------------- policy


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
        """``guards.min_rows`` (1 when unset): the fewest labelled rows any training may use."""
        return max(1, self.spec.guards.min_rows or 1)

    def gate_passes(self, champion_value: float | None, candidate_value: float | None, task: str | None = None,
                    action: str | None = None, **losses: Any) -> tuple[bool, str]:
        """:func:`gate_passes` with this policy's gate metric and the margin and confidence for a
        candidate made by ``action`` (``None``: the gate's own, without the ``gate.retrain`` /
        ``gate.update`` overrides; the paired test needs per-row losses: pass
        ``champion_losses`` / ``candidate_losses``)."""
        metric = self.gate_metric if self.gate_metric != "auto" or task is None else AUTO_METRIC[task]
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
    return Policy(name=spec.name or stem, source=where, spec=spec)


def policy_from_text(text: str, name: str = "inline", source: str = "<string>") -> Policy:
    """A policy from YAML text (tests, notebooks)."""
    spec = parse_policy_text(text, source)
    return Policy(name=spec.name or name, source=source, spec=spec)


# --------------------------------------------------------------------------- decide


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


def _min_or_none(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else min(values)  # type: ignore[type-var]


def compute_signals(report: "DriftReport | None", policy: Policy, context: Context) -> dict[str, Any]:
    """Every signal value (``None`` when it cannot be known), incl. column signals the policy uses."""
    task = context.task or ((report.performance or {}).get("task") if report is not None else None)
    metric_name = policy.resolved_metric(task)
    metric = context.metric if context.metric is not None else _metric_from_report(report, metric_name)
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
            performance_drop(context.previous_metric, context.champion_metric, metric_name),
        ),
        "drop_since_retrain": performance_drop(metric, context.retrain_metric, metric_name),
        "sustained_drop_since_retrain": _min_or_none(
            performance_drop(metric, context.retrain_metric, metric_name),
            performance_drop(context.previous_metric_since_retrain, context.retrain_metric, metric_name),
        ),
        "rows": context.rows if context.rows is not None else (rep.current_rows if rep is not None and rep.current_rows else None),
        "labelled_rows": context.labelled_rows
        if context.labelled_rows is not None
        else ((rep.performance or {}).get("rows") if rep is not None else None),
        "batches_since_retrain": context.batches_since_retrain,
        "days_since_retrain": context.days_since_retrain,
        "updates_since_retrain": context.updates_since_retrain,
        "model_trees": context.model_trees,
        "model_size_bytes": context.model_size_bytes,
        "consecutive_gate_refusals": context.consecutive_gate_refusals,
        "can_rollback": context.can_rollback,
        "data_growth": context.rows_since_retrain / context.rows_at_retrain
        if context.rows_since_retrain is not None and context.rows_at_retrain
        else None,
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
            else:
                s[c.key] = col.drifted
    for k, v in list(s.items()):
        if isinstance(v, float) and math.isnan(v):
            s[k] = None
    return s


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


def decide(report: "DriftReport | None", policy: Policy, context: Context | None = None) -> Decision:
    """Decide what to do with the serving model. Pure and deterministic; see the module doc."""
    from .guards import apply_guards

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
