"""Choose a policy on the earlier part of the history, and measure it on the later part.

:func:`tune` splits the replayed batches in time. Every candidate — an edit of a base policy
(the shipped ``default``) — and ``always-retrain`` as the reference are backtested on the
earlier ``split`` share of the batches; the candidate with the lowest mean error within the
compute budget is chosen there. Only the chosen policy and the reference then run on the
later batches, the model initialised on all the rows before them, and those numbers are the
honest estimate: nothing about the later rows influenced the choice (the choosing code is
given the earlier rows only).

A candidate is a mapping of edits (:data:`KNOBS` names, or dotted paths such as
``update.learning_rate``, ``guards.min_rows`` or ``rules.<rule name>.<signal>`` for a rule's
threshold), applied to the parsed YAML of the base policy and validated like a policy file.

Example::

    result = tune(df, target="cnt", model=LGBMRegressor(n_jobs=1, verbose=-1), every="W",
                  time_column="ts", budget=0.2)
    result.write_policy("policy.tuned.yaml")
    print(result.chosen.label(), result.later.mean_error, result.later_ratios())
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ..exceptions import ConfigError, SchemaError
from .replay import PolicyResult, parse_every, run_backtest, split_batches

__all__ = ["DEFAULT_SPACE", "KNOBS", "Candidate", "TuneResult", "apply_edits", "pick", "tune"]

#: The policy every candidate's error and training CPU are compared with.
REFERENCE = "always-retrain"
#: The fewest batches each part of the split may have: a mean over fewer says little.
MIN_BATCHES = 4

#: Short names of the edits the default space makes: a rule's threshold (the rule's name and
#: the signals whose condition it sets) or a key of a section of the policy.
KNOBS: dict[str, tuple] = {
    "drop_since_retrain": ("rule", "drop-since-retrain", ("sustained_drop_since_retrain", "drop_since_retrain")),
    "data_growth": ("rule", "data-grown", ("data_growth",)),
    "rounds": ("path", ("update", "rounds")),
    "relearn_batches": ("path", ("update", "relearn_batches")),
    "fallback": ("path", ("fallback",)),
}
_SECTIONS = ("defaults", "retrain", "update", "guards", "gate", "monitor")


def _grid() -> tuple[dict[str, Any], ...]:
    # The retrain triggers on a 3 x 3 grid without the two corners that pair an eager trigger
    # with a lazy one: there one trigger fires all the retrains and the candidate repeats a
    # neighbour. The update's size varies only at the default triggers, where it is measured
    # against the default itself: smaller, and larger (ten relearned batches: a stream of small,
    # noisy batches needs more context — Bike Sharing at 100 trees, benchmarks/RESULTS.md, "Is
    # the goal within reach of any variant?"). Last, the default updating only when a rule saw
    # the error or the data move (no fallback update): cheaper, for a tight budget.
    triggers = [(d, g) for d in (0.1, 0.2, 0.3) for g in (0.25, 0.5, 1.0) if (d, g) not in ((0.1, 1.0), (0.3, 0.25))]
    space = [{"drop_since_retrain": d, "data_growth": g, "rounds": 40, "relearn_batches": 5} for d, g in triggers]
    space += [{"drop_since_retrain": 0.2, "data_growth": 0.5, "rounds": r, "relearn_batches": b}
              for r, b in ((20, 5), (40, 2), (20, 2), (40, 10))]
    space.append({"drop_since_retrain": 0.2, "data_growth": 0.5, "rounds": 40, "relearn_batches": 5, "fallback": "none"})
    return tuple(space)


#: The search space of :func:`tune` when ``space`` is not given: 12 candidates, the shipped
#: default's own settings (0.2, 0.5, 40, 5) among them.
DEFAULT_SPACE: tuple[dict[str, Any], ...] = _grid()


# --------------------------------------------------------------------------- editing a policy
def _set_threshold(data: dict, rule: str, signals: Sequence[str], value: Any, key: str) -> None:
    rules = data.get("rules") or []
    match = [r for r in rules if isinstance(r, dict) and r.get("name") == rule]
    if not match:
        names = ", ".join(repr(r.get("name")) for r in rules if isinstance(r, dict)) or "none"
        raise ConfigError(f"edit {key!r}: the base policy has no rule named {rule!r} (its rules: {names})")
    found: list[tuple[Any, Any]] = []  # (container, key) of every condition on one of `signals`

    def walk(node: Any, parent: Any, at: Any) -> None:
        if isinstance(node, str):
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", node)
            if m and m.group(1) in signals:
                found.append((parent, at))
        elif isinstance(node, dict) and "signal" in node:
            if str(node["signal"]).partition(":")[0] in signals:
                found.append((node, "value"))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, node, k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, node, i)

    walk(match[0].get("when"), match[0], "when")
    if len(found) != 1:
        what = "no condition" if not found else f"{len(found)} conditions"
        raise ConfigError(f"edit {key!r}: rule {rule!r} of the base policy has {what} on {' or '.join(signals)}; "
                          "the edit needs exactly one")
    parent, at = found[0]
    if at == "value" and isinstance(parent, dict) and "signal" in parent:
        parent["value"] = value
    else:  # the compact form "signal op value": replace the value, the last token
        parent[at] = re.sub(r"[^\s<>=!]+\s*$", _scalar(value), parent[at])


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number YAML can write (``np.linspace`` makes them)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)


def _resolve(key: str) -> tuple:
    if key in KNOBS:
        return KNOBS[key]
    head, _, rest = key.partition(".")
    if head == "rules" and "." in rest:
        rule, _, signal = rest.rpartition(".")
        return ("rule", rule, (signal,))
    if head in _SECTIONS and rest:
        return ("path", tuple(key.split(".")))
    from .._util.suggest import suggest

    raise ConfigError(f"unknown edit {key!r}{suggest(key, KNOBS)}: use one of {', '.join(KNOBS)}, "
                      f"<section>.<key> ({', '.join(_SECTIONS)}) or rules.<rule name>.<signal>")


def _shadowed(policy: Any, key: str) -> tuple[str, str] | None:
    """``(where, parameter)`` when the loaded ``policy`` sets the update parameter of edit ``key``
    next to an update action (its fallback, or a rule): there it overrides the ``update`` section
    the edit changes (:meth:`Policy.params_for`), so the edit would not change what those updates
    do. ``None`` when nowhere."""
    from ..policy.vocabulary import UPDATE_ACTIONS

    how = _resolve(key)
    if how[0] != "path" or len(how[1]) != 2 or how[1][0] != "update":
        return None
    param = how[1][1]
    for where, spec in [("its fallback", policy.fallback), *((f"rule {r.name!r}", r) for r in policy.rules)]:
        if spec.action in ("update", *UPDATE_ACTIONS) and param in spec.params():
            return where, param
    return None


def apply_edits(data: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the parsed policy ``data`` with ``edits`` applied (see the module docstring)."""
    out = copy.deepcopy(dict(data))
    for key, value in edits.items():
        value = _plain(value)
        how = _resolve(str(key))
        if how[0] == "rule":
            _set_threshold(out, how[1], how[2], value, str(key))
            continue
        node = out
        for part in how[1][:-1]:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ConfigError(f"edit {key!r}: {part!r} of the base policy is not a mapping")
            node = node[part]
        node[how[1][-1]] = value
    return out


# --------------------------------------------------------------------------- results
@dataclass
class Candidate:
    """One policy of the search: its edits of the base, its YAML and its earlier-part numbers."""

    index: int  # 1-based, in the order of the space
    name: str
    edits: dict[str, Any]
    yaml: str
    earlier: PolicyResult | None = None
    cpu_ratio: float | None = None  # training CPU / always-retrain's, on the earlier part
    within_budget: bool = True
    pareto: bool = False  # no other candidate has both lower-or-equal error and CPU, one lower

    def label(self) -> str:
        return ", ".join(f"{k} {_scalar(v)}" for k, v in self.edits.items()) or "the base policy unchanged"

    def to_dict(self) -> dict[str, Any]:
        e = self.earlier
        return {
            "index": self.index, "name": self.name, "edits": dict(self.edits), "cpu_ratio": self.cpu_ratio,
            "within_budget": self.within_budget, "pareto": self.pareto,
            "earlier": None if e is None else {k: getattr(e, k) for k in (
                "mean_error", "train_cpu_s", "retrains", "updates", "rollbacks", "gate_refusals")},
        }


@dataclass
class TuneResult:
    """The search on the earlier batches and the chosen policy's numbers on the later ones.

    ``budget_mode``: ``"policy"`` (the policy schema has a ``budget`` key: every candidate carries
    it), ``"filter"`` (it has not) or ``None`` (no budget). Either way a candidate whose training
    CPU on the earlier part was over the budget cannot be chosen. ``budget_met`` is False when no
    candidate stayed within the budget and the cheapest one was chosen.
    """

    dataset: str
    target: str
    metric: str
    task: str
    every: str
    base: str
    split: float
    budget: float | None
    budget_mode: str | None
    initial_rows: int
    earlier_batches: int
    later_batches: int
    candidates: list[Candidate]
    reference_earlier: PolicyResult
    chosen_index: int
    policy_text: str  # the chosen policy as written, without the header
    later: PolicyResult
    reference_later: PolicyResult
    budget_met: bool = True
    command: str | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def chosen(self) -> Candidate:
        return self.candidates[self.chosen_index - 1]

    def later_ratios(self) -> dict[str, float | None]:
        """The chosen policy's later-part ``error`` and ``train_cpu`` relative to always-retrain's."""
        a, b = self.later, self.reference_later
        return {"error": a.mean_error / b.mean_error if b.mean_error else None,
                "train_cpu": a.train_cpu_s / b.train_cpu_s if b.train_cpu_s else None}

    def policy_yaml(self) -> str:
        """The chosen policy as YAML, under a comment saying how it was chosen and measured."""
        return "".join(f"# {ln}".rstrip() + "\n" for ln in self._header()) + "\n" + self.policy_text

    def write_policy(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.policy_yaml(), encoding="utf-8")
        return path

    def _header(self) -> list[str]:
        c, r = self.chosen, self.reference_earlier
        lines = [
            f"Chosen by `driftkeeper tune` on {self.created}: the {self.base} policy with the edits below",
            self._why(),
            "",
            f"data: {_oneline(self.dataset)}, target {_oneline(self.target)}, {self.initial_rows} initial rows, then "
            f"{self.earlier_batches + self.later_batches} batches (every {self.every})",
        ]
        if self.command:
            lines.append(f"command: {_oneline(self.command)}")
        lines += [
            f"chosen on batches 1-{self.earlier_batches}{_span(r)}; reported on batches "
            f"{self.earlier_batches + 1}-{self.earlier_batches + self.later_batches}{_span(self.reference_later)}",
            "",
            f"searched on the earlier batches (error: mean {self.metric}; CPU: training CPU / {REFERENCE}'s):",
            f"{'#':>4}  {'error':>10}  {'CPU':>6}  edits",
        ]
        for k in self.candidates:
            mark = " <- chosen" if k is c else (" (over budget)" if not k.within_budget else "")
            lines.append(f"{k.index:>4}  {_num(k.earlier.mean_error):>10}  {_ratio(k.cpu_ratio):>6}  {k.label()}{mark}")
        lines.append(f"{'':>4}  {_num(r.mean_error):>10}  {'1.00':>6}  {REFERENCE} (reference)")
        ratios = self.later_ratios()
        lines += [
            "",
            f"chosen: #{c.index} ({c.label()})",
            "on the later batches, never read while choosing (the honest estimate):",
            f"  this policy:    mean {self.metric} {_num(self.later.mean_error)}, training CPU {self.later.train_cpu_s:.2f} s",
            f"  {REFERENCE}: mean {self.metric} {_num(self.reference_later.mean_error)}, "
            f"training CPU {self.reference_later.train_cpu_s:.2f} s",
            f"  error x{_ratio(ratios['error'], 3)}, training CPU x{_ratio(ratios['train_cpu'])} of {REFERENCE}'s",
        ]
        return lines

    def _why(self) -> str:
        lowest = f"had the lowest mean {self.metric} on the earlier batches of the history"
        if self.budget is None:
            return f"{lowest}."
        carried = f" (every candidate carried budget: {self.budget})" if self.budget_mode == "policy" else ""
        if self.budget_met:
            return f"{lowest} among those whose training CPU stayed <= {self.budget} x {REFERENCE}'s{carried}."
        return (f"was the cheapest on the earlier batches of the history: none stayed within training CPU <= "
                f"{self.budget} x {REFERENCE}'s{carried}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "target": self.target, "metric": self.metric, "lower_is_better": True,
            "task": self.task, "every": self.every, "base": self.base, "split": self.split, "budget": self.budget,
            "budget_mode": self.budget_mode, "budget_met": self.budget_met, "initial_rows": self.initial_rows,
            "earlier_batches": self.earlier_batches, "later_batches": self.later_batches,
            "candidates": [k.to_dict() for k in self.candidates],
            "reference_earlier": self.reference_earlier.to_dict(), "chosen": self.chosen_index,
            "later": self.later.to_dict(), "reference_later": self.reference_later.to_dict(),
            "later_ratios": self.later_ratios(), "command": self.command, "created": self.created,
        }

    def table(self):
        """A ``rich.table.Table`` of the candidates on the earlier batches."""
        from rich.table import Table

        t = Table(title=f"{self.dataset}: {len(self.candidates)} candidates on batches 1-{self.earlier_batches} "
                        f"({self.every}), mean {self.metric} (lower is better)")
        for i, col in enumerate(("#", "edits of " + self.base, "error", "CPU x ref", "retrains", "updates", "")):
            t.add_column(col, justify="left" if i in (1, 6) else "right", no_wrap=i != 1)
        for k in self.candidates:
            e = k.earlier
            note = "chosen" if k is self.chosen else ("over budget" if not k.within_budget else "")
            note += " pareto" if k.pareto else ""
            t.add_row(str(k.index), k.label(), _num(e.mean_error), _ratio(k.cpu_ratio), str(e.retrains), str(e.updates),
                      note.strip(), style="bold" if k is self.chosen else None)
        r = self.reference_earlier
        t.add_row("", REFERENCE, _num(r.mean_error), "1.00", str(r.retrains), str(r.updates), "reference")
        return t

    def figure_png(self) -> bytes:
        """Error vs training CPU of every candidate on the earlier batches (PNG bytes)."""
        from .tune_plot import figure_png

        return figure_png(self)

    def write_plot(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.figure_png())
        return path


def _with(k: Candidate) -> str:
    return f"with {k.label()}" if k.edits else "unchanged"


def _oneline(text: Any) -> str:
    return " ".join(str(text).split())


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"


def _ratio(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _span(p: PolicyResult) -> str:
    first, last = p.per_batch[0].time_min, p.per_batch[-1].time_max
    return f" ({first[:10]} .. {last[:10]})" if first and last else ""


# --------------------------------------------------------------------------- choosing
def pick(candidates: Sequence[Candidate], budget: float | None) -> tuple[Candidate, bool]:
    """The candidate with the lowest earlier error among those within ``budget`` (ties: the
    lower CPU), and whether the budget was met; none within it: the cheapest. Sets
    ``within_budget`` (from ``cpu_ratio``, unless ``budget`` is None) and ``pareto``."""
    def err(k: Candidate) -> float:
        v = k.earlier.mean_error
        return v if math.isfinite(v) else math.inf

    def cpu(k: Candidate) -> float:
        return k.cpu_ratio if k.cpu_ratio is not None else k.earlier.train_cpu_s

    for k in candidates:
        if budget is not None:
            k.within_budget = k.cpu_ratio is not None and k.cpu_ratio <= budget
        k.pareto = math.isfinite(err(k)) and not any(
            err(o) <= err(k) and cpu(o) <= cpu(k) and (err(o) < err(k) or cpu(o) < cpu(k)) for o in candidates)
    eligible = [k for k in candidates if k.within_budget]
    if not eligible:
        return min(candidates, key=lambda k: (cpu(k), err(k))), False
    return min(eligible, key=lambda k: (err(k), cpu(k))), True


class _Runner:
    """Backtests one policy at a time with fixed settings; holds no data, so what a run reads
    is exactly the frame it is given."""

    def __init__(self, workdir: Path, progress: Callable | None, total: int, **settings: Any):
        self.workdir, self.progress, self.total, self.settings, self.done = workdir, progress, total, settings, 0

    def run(self, frame: pd.DataFrame, policy: str | Path, initial: int, label: str) -> PolicyResult:
        if self.progress is not None:
            self.progress(self.done, self.total, label)
        res = run_backtest(frame, policies=[policy], initial=initial, **self.settings)
        self.done += 1
        if self.progress is not None and self.done == self.total:
            self.progress(self.done, self.total, "done")
        return res.policies[0]

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path


def _choose(earlier: pd.DataFrame, initial: int, candidates: list[Candidate], runner: _Runner,
            budget: float | None) -> tuple[PolicyResult, Candidate, bool]:
    """Backtest every candidate and the reference on ``earlier`` (the only rows it gets) and
    pick one: the rows after the earlier part cannot influence the choice."""
    n = len(candidates)
    ref = runner.run(earlier, REFERENCE, initial, f"earlier part: {REFERENCE} (reference)")
    for k in candidates:
        k.earlier = runner.run(earlier, runner.write(k.name, k.yaml), initial, f"earlier part: candidate {k.index}/{n}")
        k.cpu_ratio = k.earlier.train_cpu_s / ref.train_cpu_s if ref.train_cpu_s > 0 else None
    chosen, met = pick(candidates, budget)
    return ref, chosen, met


# --------------------------------------------------------------------------- the search
def _budget_in_schema() -> bool:
    from ..policy.schema import PolicySpec

    return "budget" in PolicySpec.model_fields


def _candidates(base: str | Path, space: Sequence[Mapping[str, Any]] | None, budget: float | None,
                budget_in_policy: bool) -> tuple[str, list[Candidate]]:
    """The base policy's name and one validated candidate per edit of ``space``."""
    import yaml

    from ..policy import Policy, load_policy

    base_pol = load_policy(base)
    data = yaml.safe_load(Path(base_pol.source).read_text(encoding="utf-8"))
    edits_list = list(DEFAULT_SPACE if space is None else space)
    if not edits_list or not all(isinstance(e, Mapping) for e in edits_list):
        raise ConfigError("space must be a non-empty list of mappings of edits, e.g. [{'rounds': 20}, {'rounds': 60}]")
    out = []
    for i, edits in enumerate(edits_list, start=1):
        for key in edits:
            if (shadow := _shadowed(base_pol, str(key))) is not None:
                where, param = shadow
                raise ConfigError(f"edit {key!r}: the base policy {base_pol.name!r} sets {param} in {where}, which overrides "
                                  f"update.{param} there, so the edit would not change those updates; remove {param} from "
                                  f"{where} (it then comes from the update section), or search a space without {key!r}")
        cand = apply_edits(data, edits)
        if budget is not None and budget_in_policy:
            cand["budget"] = budget
        name = f"{base_pol.name}-tune{i:02d}"
        k = Candidate(index=i, name=name, edits={str(e): _plain(v) for e, v in edits.items()}, yaml="")
        cand["name"], cand["description"] = name, f"The {base_pol.name} policy {_with(k)}."
        k.yaml = yaml.safe_dump(cand, sort_keys=False, allow_unicode=True, width=100)
        Policy.from_yaml(k.yaml, source=f"candidate {i} ({k.label()})")
        out.append(k)
    return base_pol.name, out


def _check_args(split: float, budget: float | None) -> None:
    if not (isinstance(split, (int, float)) and 0 < split < 1):
        raise ConfigError(f"--split must be between 0 and 1 (the share of batches to choose on, e.g. 0.6); got {split!r}")
    if budget is not None and not (isinstance(budget, (int, float)) and 0 < budget <= 1):
        raise ConfigError(f"--budget must be in (0, 1] (a share of {REFERENCE}'s training CPU, e.g. 0.2); got {budget!r}")


def _parts(n: int, split: float) -> int:
    k = int(math.floor(split * n + 0.5))
    if k < MIN_BATCHES or n - k < MIN_BATCHES:
        raise ConfigError(
            f"{n} batches: --split {split} leaves {k} to choose on and {n - k} to report on; each part needs at least "
            f"{MIN_BATCHES} (give more data, smaller --every batches or another --split)")
    return k


def _default_every(n_rows: int, initial: int | str | None, time_column: str | None) -> str:
    """``W`` with a time column; otherwise row batches that cut the replayed rows into about 40."""
    if time_column is not None:
        return "W"
    n_init = int(initial) if isinstance(initial, int) or (isinstance(initial, str) and initial.isdigit()) \
        else int(math.ceil(0.2 * n_rows))
    return f"{max(1, math.ceil((n_rows - n_init) / 40))}rows"


def tune(
    data: pd.DataFrame | str | Path,
    *,
    target: str,
    model: Any,
    every: str | None = None,
    time_column: str | None = None,
    initial: int | str | None = None,
    id_column: str | None = None,
    exclude: Sequence[str] = (),
    task: str | None = None,
    metric: str | None = None,
    budget: float | None = None,
    split: float = 0.6,
    base: str | Path = "default",
    space: Sequence[Mapping[str, Any]] | None = None,
    dataset: str | None = None,
    command: str | None = None,
    progress: Callable[[int, int, str], Any] | None = None,
) -> TuneResult:
    """Choose edits of the ``base`` policy on the earlier batches, report them on the later ones.

    ``every``, ``time_column``, ``initial``, ``id_column``, ``exclude``, ``task``, ``metric``
    and ``model`` are those of :func:`run_backtest` (``every`` defaults to ``W`` with a time
    column, else row batches that make about 40). ``split``: the share of the batches to
    choose on. ``budget``: a share of always-retrain's training CPU (0 < budget <= 1); set as
    every candidate's ``budget`` key when the policy schema has one, otherwise a filter: only
    candidates whose training CPU on the earlier batches is at most ``budget`` x always-retrain's
    may be chosen. ``space``: a list of edit mappings (default :data:`DEFAULT_SPACE`).
    ``command``: recorded in the written policy's header. ``progress``: optional callable
    ``(runs_done, runs_total, what_runs_now)``, called before every backtest run and once
    with ``runs_done == runs_total`` at the end.
    """
    from .._util.io import read_table
    from ..table import infer_task
    from ..policy import load_policy

    _check_args(split, budget)
    name = dataset or (Path(data).name if isinstance(data, (str, Path)) else "data")
    df = read_table(data, what="data") if isinstance(data, (str, Path)) else data
    if target not in df.columns:
        from .._util.suggest import suggest

        raise SchemaError(f"target {target!r} is not a column of the data{suggest(target, [str(c) for c in df.columns])}")
    every = every or _default_every(len(df), initial, time_column)
    parse_every(every)
    in_policy = budget is not None and _budget_in_schema()
    base_name, candidates = _candidates(base, space, budget, in_policy)
    init, batches = split_batches(df, every=every, time_column=time_column, initial=initial)
    k = _parts(len(batches), split)
    the_task = task or infer_task(init[target])
    metric_name = metric or load_policy(base).resolved_metric(the_task)
    settings = dict(target=target, model=model, every=every, time_column=time_column, id_column=id_column,
                    exclude=tuple(exclude), task=task, metric=metric_name, dataset=name)
    earlier = pd.concat([init, *batches[:k]], ignore_index=True)
    with tempfile.TemporaryDirectory(prefix="driftkeeper-tune-") as tmp:
        runner = _Runner(Path(tmp), progress, len(candidates) + 3, **settings)
        # the budget is also a limit on what the earlier part measured: a policy key steers spending,
        # it does not guarantee it (updates spend from the same allowance)
        ref, chosen, met = _choose(earlier, len(init), candidates, runner, budget)
        text = _final_text(chosen, base_name, name)
        everything = pd.concat([earlier, *batches[k:]], ignore_index=True)
        later = runner.run(everything, runner.write("chosen", text), len(earlier), "later part: the chosen policy")
        ref_later = runner.run(everything, REFERENCE, len(earlier), f"later part: {REFERENCE} (reference)")
    return TuneResult(
        dataset=name, target=target, metric=metric_name, task=the_task, every=str(every), base=base_name,
        split=float(split), budget=budget, budget_mode=None if budget is None else ("policy" if in_policy else "filter"),
        initial_rows=len(init), earlier_batches=k, later_batches=len(batches) - k, candidates=candidates,
        reference_earlier=ref, chosen_index=chosen.index, policy_text=text, later=later, reference_later=ref_later,
        budget_met=met, command=command,
    )


def _final_text(chosen: Candidate, base_name: str, dataset: str) -> str:
    import yaml

    data = yaml.safe_load(chosen.yaml)
    data["name"] = f"{base_name}-tuned"
    data["description"] = (f"The {base_name} policy {_with(chosen)}; the lowest error on the earlier batches of "
                           f"{_oneline(dataset)} among the candidates driftkeeper tune tried.")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
