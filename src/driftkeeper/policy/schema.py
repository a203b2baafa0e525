"""Policy files: the YAML schema, its validation and one-line error messages.

Part of :mod:`driftkeeper.policy`; the words a policy may use (actions, signals, metrics,
operators, drift methods) are listed in :mod:`.vocabulary`. The schema is a tree of frozen
pydantic v2 models in strict mode (``rounds: "50"`` is refused, not coerced). Every error —
an unknown key, a wrong type, an unknown signal, action or operator, a YAML syntax error —
becomes one :class:`~driftkeeper.exceptions.PolicyError` line naming the file, the line and
the key::

    policies/x.yaml:12: unknown key 'treshold' in rules[0] (did you mean 'threshold'?)

Line numbers come from the YAML node marks (``yaml.compose``), looked up by the error's
location path. Conditions are parsed by a strict regular-expression tokenizer; user text is
never evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .. import metrics as metric_registry
from .._util.suggest import suggest
from ..exceptions import PolicyError
from .vocabulary import ACTIONS, COLUMN_SIGNALS, METRICS, MONITOR_METHODS, OPS, SIGNALS


def _err(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)  # no context: the text is used as it is


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    """Base: frozen, strict types, unknown keys refused with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = [f.alias or n for n, f in cls.model_fields.items()]
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key {key}{hint}",
                        {"key": repr(key), "hint": suggest(key, allowed), "name": str(key)},
                    )
        return data


class Window(_Strict):
    """Training data of a retrain: the last ``days`` of data time, the newest ``rows``
    labelled rows, or ``all`` of the history (written ``window: all``)."""

    days: float | None = Field(None, gt=0)
    rows: int | None = Field(None, gt=0)
    all: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, data: Any) -> Any:
        if data == "all":
            return {"all": True}
        if isinstance(data, str):
            raise _err("bad_window", f"bad window {data!r}: use {{days: N}}, {{rows: N}} or all")
        return data

    @model_validator(mode="after")
    def _one(self) -> "Window":
        given = [k for k in ("days", "rows", "all") if getattr(self, k) is not None]
        if len(given) != 1 or self.all is False:
            raise _err("bad_window", "bad window: give exactly one of {days: N}, {rows: N} or all")
        return self

    def to_value(self) -> Any:
        """The JSON form used in :attr:`Decision.params`: ``{"days": N}``, ``{"rows": N}`` or ``"all"``."""
        if self.all:
            return "all"
        if self.days is not None:
            d = self.days
            return {"days": int(d) if float(d).is_integer() else d}
        return {"rows": self.rows}


class RetrainParams(_Strict):
    window: Window | None = None


class UpdateParams(_Strict):
    rounds: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    replay_fraction: float | None = Field(None, ge=0, le=1)
    mode: Literal["continue", "refit", "correct"] | None = None
    relearn_batches: int | None = Field(None, ge=0)
    relearn_rows: int | None = Field(None, ge=0)
    passes: int | None = Field(None, ge=1)
    early_stopping_rounds: int | None = Field(None, ge=1)
    l2_regularization: float | None = Field(None, ge=0)


class Params(RetrainParams, UpdateParams):
    """Every action parameter (``defaults:`` and per rule)."""


PARAM_NAMES = tuple(Params.model_fields)
UPDATE_PARAMS = tuple(UpdateParams.model_fields)


#: What ``schema_change:`` may say (the first is the default).
SCHEMA_CHANGE_MODES = ("retrain", "refuse", "ignore_new")


def _check_action(v: str) -> str:
    if v not in ACTIONS:
        raise _err("unknown_action", f"unknown action {v!r}{suggest(v, ACTIONS)}; actions: {', '.join(ACTIONS)}")
    return v


class ActionSpec(Params):
    """An action and its parameters (the fallback, and the ``then`` part of a rule)."""

    action: str

    @field_validator("action")
    @classmethod
    def _v_action(cls, v: str) -> str:
        return _check_action(v)

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, data: Any) -> Any:
        return {"action": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _params_fit_action(self) -> "ActionSpec":
        given = [p for p in PARAM_NAMES if getattr(self, p) is not None]
        if given and self.action in ("none", "rollback"):
            raise _err("bad_params", f"action {self.action!r} takes no parameters (got {', '.join(given)})")
        return self

    def params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in PARAM_NAMES if getattr(self, p) is not None}


# -- conditions -------------------------------------------------------------------------

_COMPACT = re.compile(
    r"""^\s*(?P<signal>[A-Za-z_][A-Za-z0-9_]*)
        (?::(?:"(?P<qcol>[^"]+)"|(?P<col>[^\s<>=!"]+)))?
        \s*(?P<op>[<>=!]+)\s*(?P<value>[^\s<>=!]+)\s*$""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _parse_value(text: str) -> Any:
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if _NUMBER.match(text):
        return int(text) if re.match(r"^[-+]?\d+$", text) else float(text)
    raise _err("bad_value", f"value {text!r} is not a number or true/false")


def parse_compact(text: str) -> dict[str, Any]:
    """``"performance_drop >= 0.1"`` -> ``{signal, column, op, value}``; strict, no eval."""
    m = _COMPACT.match(text)
    if not m:
        raise _err(
            "bad_condition",
            f"cannot parse condition {text!r}: expected '<signal> <op> <value>', e.g. 'performance_drop >= 0.1'",
        )
    return {
        "signal": m["signal"],
        "column": m["qcol"] or m["col"],
        "op": m["op"],
        "value": _parse_value(m["value"]),
    }


class Condition(_Strict):
    """``{signal, op, value}`` (``column`` for column signals), or the compact string form."""

    signal: str
    column: str | None = None
    op: str
    value: bool | int | float

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_compact(data)
        if isinstance(data, dict) and isinstance(data.get("signal"), str) and ":" in data["signal"]:
            sig, _, col = data["signal"].partition(":")
            if "column" in data:
                raise _err("bad_condition", f"column given twice: in signal {data['signal']!r} and in 'column'")
            return {**data, "signal": sig, "column": col.strip('"')}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Condition":
        if self.signal not in SIGNALS:
            raise _err("unknown_signal", f"unknown signal {self.signal!r}{suggest(self.signal, SIGNALS)}")
        if self.op not in OPS:
            raise _err("bad_op", f"unknown operator {self.op!r}{suggest(self.op, OPS)}; use one of {' '.join(OPS)}")
        if self.signal in COLUMN_SIGNALS and not self.column:
            raise _err("bad_condition", f"signal {self.signal!r} needs a column: '{self.signal}:<column>'")
        if self.signal not in COLUMN_SIGNALS and self.column is not None:
            raise _err("bad_condition", f"signal {self.signal!r} takes no column")
        kind = SIGNALS[self.signal][0]
        if kind == "bool":
            if self.op not in ("==", "!="):
                raise _err("bad_op", f"boolean signal {self.signal!r} can only be compared with == or !=")
            if not isinstance(self.value, bool):
                raise _err("bad_value", f"boolean signal {self.signal!r} needs true or false, got {self.value!r}")
        elif isinstance(self.value, bool):
            raise _err("bad_value", f"signal {self.signal!r} is a number, got {self.value!r}")
        elif isinstance(self.value, float) and not math.isfinite(self.value):
            raise _err("bad_value", f"value for {self.signal!r} must be finite")
        return self

    @property
    def key(self) -> str:
        """The signal key in :attr:`Decision.signals`: ``metric`` or ``column_score:zipcode``."""
        return f"{self.signal}:{self.column}" if self.column is not None else self.signal

    def text(self) -> str:
        v = str(self.value).lower() if isinstance(self.value, bool) else repr(self.value)
        return f"{self.key} {self.op} {v}"


def _item_kind(v: Any) -> str:
    if isinstance(v, dict) and ("all" in v or "any" in v):
        return "group"
    return "condition"


class Group(_Strict):
    """``all:`` (every item holds) or ``any:`` (at least one holds); items nest."""

    all_: list["Item"] | None = Field(None, alias="all")
    any_: list["Item"] | None = Field(None, alias="any")

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, str):  # `when: performance_drop >= 0.1`
            return {"all": [data]}
        if isinstance(data, list):  # `when: [a, b]` means all
            return {"all": data}
        return data

    @model_validator(mode="after")
    def _one(self) -> "Group":
        if (self.all_ is None) == (self.any_ is None):
            raise _err("bad_group", "give exactly one of 'all' or 'any'")
        if not (self.all_ or self.any_):
            raise _err("bad_group", f"'{self.kind}' needs at least one condition")
        return self

    @property
    def kind(self) -> str:
        return "all" if self.all_ is not None else "any"

    @property
    def items(self) -> list[Any]:
        return list(self.all_ if self.all_ is not None else self.any_ or [])

    def conditions(self) -> list[Condition]:
        out: list[Condition] = []
        for it in self.items:
            out.extend(it.conditions() if isinstance(it, Group) else [it])
        return out

    def text(self) -> str:
        parts = [f"({it.text()})" if isinstance(it, Group) else it.text() for it in self.items]
        if len(parts) == 1:
            return parts[0]
        return (" and " if self.kind == "all" else " or ").join(parts)


Item = Annotated[
    Union[Annotated[Condition, Tag("condition")], Annotated[Group, Tag("group")]],
    Discriminator(_item_kind),
]
Group.model_rebuild()
_TAGS = {"condition", "group"}


class Rule(ActionSpec):
    name: str
    when: Group

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, data: Any) -> Any:  # a rule is never a bare word
        return data


class Cooldown(_Strict):
    """No rule-chosen retrain until ``batches`` batches *and* ``days`` days (data time) passed."""

    batches: int | None = Field(None, ge=0)
    days: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> "Cooldown":
        if self.batches is None and self.days is None:
            raise _err("bad_cooldown", "retrain_cooldown needs 'batches' and/or 'days'")
        return self


class Guards(_Strict):
    min_rows: int | None = Field(None, ge=0)
    retrain_cooldown: Cooldown | None = None
    max_consecutive_updates: int | None = Field(None, ge=1)
    max_model_trees: int | None = Field(None, ge=1)
    max_model_bytes: int | None = Field(None, ge=1)


def _check_metric(v: str) -> str:
    if v not in METRICS:
        raise _err("unknown_metric", f"unknown metric {v!r}{suggest(v, METRICS)}; metrics: {', '.join(METRICS)}")
    return v


class Holdout(_Strict):
    """The labelled rows both models are scored on: ``rows`` or ``fraction`` of the rows the
    champion has not learned, either the newest of them (``pick: newest``, the default) or a
    seeded random sample of them (``pick: random``: the candidate then learns rows up to the end
    of the batch, and the held-out rows are learned by later updates with ``relearn_batches``)."""

    rows: int | None = Field(None, ge=1)
    fraction: float | None = Field(None, gt=0, lt=1)
    pick: Literal["newest", "random"] = "newest"

    @model_validator(mode="after")
    def _one(self) -> "Holdout":
        if (self.rows is None) == (self.fraction is None):
            raise _err("bad_holdout", "holdout needs exactly one of 'rows' or 'fraction'")
        return self


class GateOverride(_Strict):
    """``gate.retrain`` / ``gate.update``: margin and confidence for one kind of candidate
    (a key left out keeps the gate's own value; ``confidence: null`` turns the test off)."""

    margin: float | None = Field(None, gt=-1, le=1)
    confidence: float | None = Field(None, ge=0.5, lt=1)


class Gate(_Strict):
    enabled: bool = True
    metric: str | None = None
    holdout: Holdout = Holdout(fraction=0.2)
    margin: float = Field(0.0, gt=-1, le=1)
    confidence: float | None = Field(None, ge=0.5, lt=1)
    retrain: GateOverride | None = None
    update: GateOverride | None = None

    def for_action(self, action: str | None) -> tuple[float, float | None]:
        """(margin, confidence) for a candidate made by ``action``: ``retrain`` uses
        ``gate.retrain``, every update style (warm_start, online_update, update) ``gate.update``,
        each key falling back to the gate's own; ``None`` gives the gate's own."""
        margin, confidence = self.margin, self.confidence
        override = None if action is None else self.retrain if action == "retrain" else self.update
        if override is not None:
            if override.margin is not None:
                margin = override.margin
            if "confidence" in override.model_fields_set:  # an explicit null turns the test off
                confidence = override.confidence
        return margin, confidence

    @field_validator("metric")
    @classmethod
    def _v_metric(cls, v: str | None) -> str | None:
        return v if v is None else _check_metric(v)

    @property
    def holdout_rows(self) -> int | None:
        return self.holdout.rows

    @property
    def holdout_fraction(self) -> float | None:
        return self.holdout.fraction

    @property
    def holdout_pick(self) -> str:
        return self.holdout.pick


class MonitorSpec(_Strict):
    method: str | dict[str, str] | None = None
    threshold: float | dict[str, float] | None = None
    drift_share: float | None = Field(None, gt=0, le=1)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, v: Any) -> Any:
        for m in (v.values() if isinstance(v, dict) else [v] if v is not None else []):
            if isinstance(m, str) and m not in MONITOR_METHODS:
                raise _err("unknown_method", f"unknown drift method {m!r}{suggest(m, MONITOR_METHODS)}")
        return v

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> Any:
        for t in (v.values() if isinstance(v, dict) else [v] if v is not None else []):
            if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
                raise _err("bad_threshold", f"threshold must be a number > 0 (or a map column: number), got {t!r}")
        return {k: float(t) for k, t in v.items()} if isinstance(v, dict) else (None if v is None else float(v))


class PolicySpec(_Strict):
    name: str | None = None
    description: str | None = None
    metric: str = "auto"
    monitor: MonitorSpec | None = None
    defaults: Params | None = None
    retrain: RetrainParams | None = None
    update: UpdateParams | None = None
    guards: Guards = Guards()
    gate: Gate = Gate()
    rules: list[Rule] = []
    fallback: ActionSpec
    budget: float | None = Field(None, gt=0, le=1)  # share of always-retrain's training CPU to spend
    estimates: Literal["auto", "off"] = "auto"  # labelled signals take their estimate while the labels are late

    # a batch whose columns differ from the model's: retrain with the new set, refuse it, or drop
    # new columns (and refuse vanished ones); see driftkeeper.keeper.schema_change
    schema_change: str = "retrain"

    @field_validator("metric")
    @classmethod
    def _v_metric(cls, v: str) -> str:
        return _check_metric(v)

    @field_validator("schema_change", mode="before")
    @classmethod
    def _v_schema_change(cls, v: Any) -> Any:
        if v not in SCHEMA_CHANGE_MODES:
            hint = suggest(v, SCHEMA_CHANGE_MODES) if isinstance(v, str) else ""
            raise _err("bad_schema_change", f"expected one of {', '.join(SCHEMA_CHANGE_MODES)}, got {v!r}{hint}")
        return v

    @field_validator("estimates", mode="before")
    @classmethod
    def _v_estimates(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML reads a bare `off` as false

    @model_validator(mode="after")
    def _consistent(self) -> "PolicySpec":
        seen: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.name in seen:
                raise PydanticCustomError("duplicate_rule", "duplicate rule name {name}", {"name": repr(r.name), "at": i})
            seen.add(r.name)
        g, m = self.gate.metric, self.metric
        if g and g != "auto" and m != "auto":
            g_task, m_task = metric_registry.METRICS[g].task, metric_registry.METRICS[m].task
            if g_task != m_task:
                raise _err("bad_metric", f"gate metric {g!r} is for {g_task} but metric {m!r} is for {m_task}")
        return self


# --------------------------------------------------------------------------- loading


def _path_text(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass
class _Marks:
    lines: dict[tuple, int]

    def line(self, loc: tuple) -> int:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 1


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], where: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            if key in seen:
                raise PolicyError(f"{where}:{k.start_mark.line + 1}: duplicate key {key!r} in {_path_text(path) or 'the policy'}")
            seen.add(key)
            lines[path + (key,)] = k.start_mark.line + 1
            _walk(v, path + (key,), lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lines[path + (i,)] = v.start_mark.line + 1
            _walk(v, path + (i,), lines, where)


_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "union_tag_invalid": "a condition or a group",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _message(err: dict[str, Any]) -> tuple[tuple, str]:
    """(location used for the line, message) of one pydantic error."""
    loc = tuple(p for p in err["loc"] if p not in _TAGS)
    kind, ctx, inp = err["type"], err.get("ctx") or {}, err.get("input")
    where = _path_text(loc)
    if kind == "unknown_key":
        key = ctx["name"]
        return loc + (key,), f"unknown key {key!r} in {where or 'the policy'}{ctx['hint']}"
    if kind == "extra_forbidden":
        parent = _path_text(loc[:-1]) or "the policy"
        return loc, f"unknown key {loc[-1]!r} in {parent}"
    if kind == "missing":
        parent = _path_text(loc[:-1]) or "the policy"
        return loc[:-1], f"missing required key {loc[-1]!r} in {parent}"
    if kind == "duplicate_rule":
        loc = loc + ("rules", ctx["at"], "name")
        return loc, f"{_path_text(loc)}: {err['msg']}"
    if kind in _TYPE_WORDS:
        return loc, f"{where}: expected {_TYPE_WORDS[kind]}, got {inp!r}"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        bound = f"{bound:g}" if isinstance(bound, (int, float)) else bound
        return loc, f"{where}: must be {_BOUNDS[kind]} {bound}, got {inp!r}"
    if kind == "literal_error":
        return loc, f"{where}: expected {ctx.get('expected')}, got {inp!r}{suggest(inp, re.findall(chr(39) + '([^' + chr(39) + ']+)' + chr(39), str(ctx.get('expected'))))}"
    msg = err["msg"]
    return loc, f"{where}: {msg}" if where else msg


def column_conditions(spec: "PolicySpec") -> list[tuple[tuple, Condition]]:
    """Every condition of the rules that names a column, with its location path
    (``("rules", 0, "when", "all", 1)``) for :func:`condition_line`."""
    out: list[tuple[tuple, Condition]] = []

    def walk(group: Group, loc: tuple) -> None:
        for j, it in enumerate(group.items):
            if isinstance(it, Group):
                walk(it, loc + (group.kind, j))
            elif it.column is not None:
                out.append((loc + (group.kind, j), it))

    for i, rule in enumerate(spec.rules):
        walk(rule.when, ("rules", i, "when"))
    return out


def condition_line(text: str | None, loc: tuple) -> int | None:
    """The line of ``loc`` in a policy's YAML ``text`` (``None`` without the text)."""
    if text is None:
        return None
    lines: dict[tuple, int] = {}
    _walk(yaml.compose(text, Loader=yaml.SafeLoader), (), lines, "")
    return _Marks(lines).line(loc)


def location_text(loc: tuple) -> str:
    return _path_text(loc)


def parse_policy_text(text: str, where: str) -> PolicySpec:
    """Validate YAML text into a :class:`PolicySpec`; ``where`` names the file in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise PolicyError(f"{where}:{line}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}:1: invalid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{where}:1: a policy must be a mapping of keys (rules, fallback, ...), got {type(data).__name__}")
    lines: dict[tuple, int] = {}
    _walk(node, (), lines, where)
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # the most specific error first: custom messages beat pydantic's union noise
        errors.sort(key=lambda e: (e["type"] in _TYPE_WORDS and len(errors) > 1, -len(e["loc"])))
        loc, msg = _message(errors[0])
        raise PolicyError(f"{where}:{_Marks(lines).line(loc)}: {msg}") from None
