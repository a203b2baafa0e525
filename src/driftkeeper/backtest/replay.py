"""Replay history under several policies: error × compute, with the production runner.

:func:`run_backtest` splits a labelled table into an initial training set and a sequence of
batches (``every``: calendar periods ``D``/``W``/``M`` of the time column, or fixed ``<N>rows``
chunks, in time order with a time column, else in row order). For each policy it creates a
temporary keeper root (``Keeper.init`` on the initial rows) and then, prequentially, for every
batch:

1. the serving model (the champion before this batch) predicts the batch and is scored with
   the comparison metric, as an error (lower is better, ``Metric.error``);
2. the batch, with its labels, goes to ``keeper.step(batch, html=False)`` — the same runner,
   policy, adapter, gate and registry code as a nightly run; nothing here simulates them.

**Late labels** (``label_delay``): with a delay of ``N`` batches, batch *i* reaches the runner
without its target, and its labels (id and target) reach it with batch *i + N*, through the
same path as production's late labels (``keeper.step(batch, labels=...)``, joined to the
stored rows by the id column); a time span (``"90D"``, needs a time column) delivers batch *i*'s
labels with the first later batch that ends at least the span after batch *i* ends. Labels
still due when the stream ends are never delivered. The report still scores each batch on its
true labels (step 1). A stream without an id column gets one for the replay (``_dk_row_id``:
the row's position in time order, never a feature); delay 0 replays as before, labels with
their batch.

Costs are what the runner measured: training CPU is ``record.training["cpu_s"]`` summed over
the steps plus the initial fit (``time.process_time`` around reading the training rows from the
store and fitting them, for an update as for a retrain; the initial fit is of a frame in memory,
and a training on a Dask cluster is its wall time); monitoring CPU
is ``record.timings["monitor_cpu_s"]``. Fix the model's thread count (LightGBM ``n_jobs``) so
CPU seconds compare work, not parallelism. A training the policy decided but the runner did not
run (``record.training["skipped"]``: too few rows in the window) is counted as ``skipped``, with
its reason.

A policy the runner refuses (a driftkeeper error, e.g. a ``{days: N}`` window on a stream without
a time column) does not stop the others: its result carries the ``error`` and no numbers. Only
when every policy fails does :func:`run_backtest` raise.

Example::

    result = run_backtest(df, target="cnt", policies=["default", "always-retrain"],
                      model=LGBMRegressor(n_jobs=1, verbose=-1), every="W", time_column="ts")
    print(result.to_dict()["policies"][0]["mean_error"])
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..metrics import Metric, evaluate_many, get_metric
from ..exceptions import ConfigError, DriftkeeperError, SchemaError

__all__ = ["BacktestResult", "PolicyResult", "BatchResult", "run_backtest", "split_batches", "parse_every",
           "parse_label_delay", "label_schedule"]

_PERIODS = {"D": "D", "W": "W", "M": "M"}
_DELAY_HELP = ("a number of batches (0, 4) or a time span of the time column (90D, 12W, 36h)")
ROW_ID = "_dk_row_id"  # the id column a replay with late labels adds to a stream without one
_EVERY_HELP = ("D, W or M (calendar periods of the time column) or <N>rows (e.g. 500rows: N rows per batch, "
               "in time order with a time column, else in row order)")


# --------------------------------------------------------------------------- results
@dataclass
class BatchResult:
    """One batch of one policy: the serving model's error on it (before it learned from it),
    then what the runner did with it."""

    index: int
    rows: int
    time_min: str | None
    time_max: str | None
    error: float
    action: str
    rule: str | None = None
    trained: str | None = None  # the training that ran (retrain / warm_start / online_update)
    skipped: str | None = None  # why a decided training did not run (the run record's training.skipped)
    promoted: bool = False
    gate_passed: bool | None = None
    train_cpu_s: float = 0.0
    monitor_cpu_s: float = 0.0
    serving: int | None = None
    other_errors: dict[str, float] = field(default_factory=dict)  # the ``also_metrics``, as errors
    # the batches (1-based) whose labels reached the runner with this one: ``[index]`` without a
    # label delay, ``[index - N]`` with a delay of N batches, ``[]`` while none are due
    labels_of: list[int] = field(default_factory=list)


@dataclass
class PolicyResult:
    """One policy's replay. A policy the runner refused has ``error`` set (where and why) and
    ``None`` for every number."""

    name: str
    source: str
    metric: str
    mean_error: float | None
    train_cpu_s: float | None
    init_train_cpu_s: float | None
    monitor_cpu_s: float | None
    wall_s: float
    retrains: int | None
    updates: int | None
    rollbacks: int | None
    gate_refusals: int | None
    promotions: int | None
    model_bytes: int | None
    model_trees: int | None
    final_version: int | None
    per_batch: list[BatchResult] = field(default_factory=list)
    # row-weighted mean of each ``also_metrics`` metric, as an error (lower is better)
    other_errors: dict[str, float] = field(default_factory=dict)
    skipped: int | None = 0  # decided trainings that did not run ...
    skip_reasons: dict[str, int] = field(default_factory=dict)  # ... by reason, row counts generalised
    error: str | None = None

    @classmethod
    def failed(cls, policy: Any, metric: str, error: str, wall_s: float) -> "PolicyResult":
        return cls(name=policy.name, source=str(policy.source), metric=metric, mean_error=None, train_cpu_s=None,
                   init_train_cpu_s=None, monitor_cpu_s=None, wall_s=round(wall_s, 3), retrains=None, updates=None,
                   rollbacks=None, gate_refusals=None, promotions=None, model_bytes=None, model_trees=None,
                   final_version=None, skipped=None, error=error)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_batch"] = [asdict(b) for b in self.per_batch]
        return d


@dataclass
class BacktestResult:
    """Every policy's run over the same batches. ``policies[0]`` is the primary (``--policy``) one."""

    dataset: str
    metric: str
    task: str
    initial_rows: int
    batches: int
    every: str
    policies: list[PolicyResult]
    other_metrics: list[str] = field(default_factory=list)
    label_delay: int | str = 0  # batches (int) or a time span ("90D") between a batch and its labels
    labels_never_delivered: int = 0  # batches whose labels were still due when the stream ended
    unlabelled_rows: int = 0  # rows of the data without a target, left out: nothing to score nor learn

    @property
    def completed(self) -> list[PolicyResult]:
        """The policies that ran to the end (no ``error``)."""
        return [p for p in self.policies if p.error is None]

    @property
    def failures(self) -> dict[str, str]:
        """``{policy: error}`` of the policies the runner refused."""
        return {p.name: p.error for p in self.policies if p.error is not None}

    def get(self, name: str) -> PolicyResult:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)

    def ratios(self, name: str, baseline: str) -> dict[str, float | None]:
        """``error`` and ``train_cpu`` of policy ``name`` relative to ``baseline``."""
        a, b = self.get(name), self.get(baseline)
        return {
            "error": a.mean_error / b.mean_error if a.mean_error is not None and b.mean_error else None,
            "train_cpu": a.train_cpu_s / b.train_cpu_s if a.train_cpu_s is not None and b.train_cpu_s else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "metric": self.metric,
            "lower_is_better": True,
            "task": self.task,
            "initial_rows": self.initial_rows,
            "batches": self.batches,
            "every": self.every,
            "other_metrics": list(self.other_metrics),
            "label_delay": self.label_delay,
            "labels_never_delivered": self.labels_never_delivered,
            "unlabelled_rows": self.unlabelled_rows,
            "policies": [p.to_dict() for p in self.policies],
        }

    # The table and the JSON show the same rounded numbers (see ``rows``).
    COLUMNS = ("policy", "mean error", "train CPU s", "monitor CPU s", "wall s", "retrains", "updates",
               "rollbacks", "gate refusals", "skipped", "trees", "model KB")

    def columns(self) -> tuple[str, ...]:
        """:attr:`COLUMNS` with one column per ``other_metrics`` metric after the mean error."""
        names = [f"1 - {m}" if get_metric(m).higher_is_better else f"mean {m}" for m in self.other_metrics]
        return (*self.COLUMNS[:2], *names, *self.COLUMNS[2:])

    def rows(self) -> list[list[str]]:
        """One row per policy; a failed policy's row says ``failed`` (its error is in :meth:`notes`)."""
        out = []
        for p in self.policies:
            if p.error is not None:
                out.append([p.name, "failed", *(["-"] * (len(self.columns()) - 2))])
                continue
            out.append([
                p.name, _num(p.mean_error), *(_num(p.other_errors.get(m)) for m in self.other_metrics),
                f"{p.train_cpu_s:.2f}", f"{p.monitor_cpu_s:.2f}", f"{p.wall_s:.1f}",
                str(p.retrains), str(p.updates), str(p.rollbacks), str(p.gate_refusals), str(p.skipped),
                "-" if p.model_trees is None else str(p.model_trees),
                "-" if p.model_bytes is None else f"{p.model_bytes / 1024:.0f}",
            ])
        return out

    def delay_text(self) -> str:
        """``""`` without a label delay, else e.g. ``", labels 4 batches late"``."""
        if self.label_delay in (0, "0", None):
            return ""
        if isinstance(self.label_delay, int):
            return f", labels {self.label_delay} batch{'es' if self.label_delay != 1 else ''} late"
        return f", labels {self.label_delay} late"

    def notes(self) -> list[str]:
        """One line per failed policy (its error), for the rows left out without a target, for labels
        never delivered and per reason a decided training was skipped."""
        out = [f"{p.name} failed: {p.error}" for p in self.policies if p.error is not None]
        if self.unlabelled_rows:
            out.append(f"{self.unlabelled_rows} row(s) without a target were left out: they can be neither scored nor learned from")
        if self.labels_never_delivered:
            out.append(f"the labels of the last {self.labels_never_delivered} batch(es) were still due when the stream ended: "
                       "never delivered")
        for p in self.completed:
            out += [f"{p.name} skipped {n} training(s): {reason}" for reason, n in p.skip_reasons.items()]
        return out

    def table(self):
        """A ``rich.table.Table`` of :meth:`rows`, with :meth:`notes` as its caption."""
        from rich.table import Table

        t = Table(title=f"{self.dataset}: {self.batches} batches ({self.every}){self.delay_text()}, {self.metric} as error "
                        "(lower is better)",
                  caption="\n".join(self.notes()) or None, caption_justify="left")
        for i, c in enumerate(self.columns()):
            t.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
        for r in self.rows():
            t.add_row(*r)
        return t


def _num(v: float) -> str:
    if v is None or not math.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"


# --------------------------------------------------------------------------- splitting
def parse_every(every: str) -> tuple[str, int | str]:
    """``("period", "D"|"W"|"M")`` or ``("rows", N)``; ConfigError otherwise."""
    s = str(every).strip()
    if s.upper() in _PERIODS:
        return "period", _PERIODS[s.upper()]
    m = re.fullmatch(r"(\d+)\s*rows?", s, flags=re.IGNORECASE)
    if m and int(m.group(1)) > 0:
        return "rows", int(m.group(1))
    raise ConfigError(f"--every must be {_EVERY_HELP}; got {every!r}")


def parse_label_delay(delay: int | str | None, *, time_column: str | None = None) -> int | pd.Timedelta:
    """A label delay: a number of batches (``int`` ≥ 0; ``None`` and ``"0"`` are 0) or a positive
    time span (``pd.Timedelta``; ``"90D"``, ``"12W"``, needs ``time_column``); ConfigError otherwise."""
    if delay is None:
        return 0
    if isinstance(delay, bool) or not isinstance(delay, (int, np.integer, str)):
        raise ConfigError(f"--label-delay must be {_DELAY_HELP}; got {delay!r}")
    text = str(delay).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        n = int(text)
        if n < 0:
            raise ConfigError(f"--label-delay must be 0 or more batches; got {n}")
        return n
    try:
        span = pd.Timedelta(text)
    except (ValueError, TypeError):
        raise ConfigError(f"--label-delay must be {_DELAY_HELP}; got {delay!r}") from None
    if pd.isna(span) or span <= pd.Timedelta(0):
        raise ConfigError(f"--label-delay {text!r}: a time span must be positive")
    if time_column is None:
        raise ConfigError(f"--label-delay {text!r} is a time span, but there is no time column; give --time-column "
                          "or a number of batches")
    return span


def label_schedule(batches: Sequence[pd.DataFrame], delay: int | pd.Timedelta, *, time_column: str | None = None) -> list[int | None]:
    """For each batch (0-based), the batch whose step delivers its labels, or ``None`` when they
    are still due at the end of the stream. ``delay`` as :func:`parse_label_delay` returns it: N
    batches → ``i + N``; a span → the first later batch that ends at least ``delay`` after batch
    ``i`` ends (times of ``time_column``)."""
    n = len(batches)
    if isinstance(delay, pd.Timedelta):
        if time_column is None:
            raise ConfigError("a label delay in time needs a time column")
        ends = [_parse_times(b, time_column).max() for b in batches]
        out: list[int | None] = []
        for i in range(n):
            due = ends[i] + delay
            out.append(next((j for j in range(i + 1, n) if ends[j] >= due), None))
        return out
    return [i + delay if i + delay < n else None for i in range(n)]


def _row_id_column(columns: Sequence[str]) -> str:
    """A column name for the replay's row ids that the data does not use."""
    name = ROW_ID
    while name in columns:
        name = "_" + name
    return name


def _parse_times(df: pd.DataFrame, column: str) -> pd.Series:
    from ..table import TableSpec

    spec = TableSpec(target="", features=[], kinds={}, task="regression", time_column=column)
    return spec.times(df, what="data").reset_index(drop=True)


def split_batches(
    df: pd.DataFrame,
    *,
    every: str,
    time_column: str | None = None,
    initial: int | str | None = None,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The initial training rows and the batches, in time order (stable for ties).

    ``initial``: a row count, a time span (``"90D"``, ``"12W"``: rows before first time + span),
    or ``None``: the first 20 % of the rows — extended to the end of its period for periodic
    batches.
    """
    kind, unit = parse_every(every)
    df = df.reset_index(drop=True)
    times = None
    if time_column is not None:
        if time_column not in df.columns:
            raise SchemaError(f"time column {time_column!r} is not a column of the data")
        times = _parse_times(df, time_column)
        order = np.argsort(times.to_numpy(), kind="stable")
        df, times = df.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    if kind == "period" and times is None:
        raise ConfigError(f"--every {every!r} needs a time column (--time-column); without one use <N>rows batches")
    n = len(df)
    if n < 4:
        raise SchemaError(f"the data has {n} rows: too few to backtest")

    # how many rows train version 1
    if initial is None:
        n_init = max(2, int(math.ceil(0.2 * n)))
        if kind == "period":
            periods = times.dt.tz_localize(None).dt.to_period(unit)
            last = periods.iloc[n_init - 1]
            n_init = int((periods <= last).sum())
    elif isinstance(initial, (int, np.integer)) or (isinstance(initial, str) and initial.strip().isdigit()):
        n_init = int(initial)
    else:
        if times is None:
            raise ConfigError(f"--initial {initial!r} is a time span, but there is no time column; give a row count")
        try:
            span = pd.Timedelta(str(initial))
        except ValueError as exc:
            raise ConfigError(f"--initial must be a row count or a time span like 90D or 12W; got {initial!r}") from exc
        n_init = int((times < times.iloc[0] + span).sum())
    if n_init < 2 or n_init >= n:
        raise ConfigError(f"--initial leaves {n_init} of {n} rows for the first model; it needs at least 2 and must leave rows to replay")
    init = df.iloc[:n_init]
    rest = df.iloc[n_init:]
    if kind == "rows":
        batches = [rest.iloc[i : i + unit] for i in range(0, len(rest), unit)]
    else:
        periods = times.iloc[n_init:].dt.tz_localize(None).dt.to_period(unit).to_numpy()
        cuts = np.flatnonzero(periods[1:] != periods[:-1]) + 1
        bounds = [0, *cuts.tolist(), len(rest)]
        batches = [rest.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return init.reset_index(drop=True), [b.reset_index(drop=True) for b in batches]


# --------------------------------------------------------------------------- running
def _policy_list(policies: str | Path | Sequence[str | Path]) -> list[str | Path]:
    items = [policies] if isinstance(policies, (str, Path)) else list(policies)
    out: list[str | Path] = []
    seen: set[str] = set()
    for p in items:
        key = str(Path(p).resolve()) if isinstance(p, Path) or str(p).endswith((".yaml", ".yml")) or "/" in str(p) else str(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    if not out:
        raise ConfigError("backtest needs at least one policy")
    return out


def _fresh_model(model: Any) -> Any:
    from ..adapters import ModelAdapter

    if isinstance(model, ModelAdapter):
        return model.clone()
    return copy.deepcopy(model)


class _PolicyFailed(Exception):
    """A driftkeeper error of one policy's replay, and where it happened."""

    def __init__(self, where: str, cause: DriftkeeperError):
        super().__init__(f"{where}: {cause}")


def _skip_reason(reason: str) -> str:
    """A skipped training's reason with its leading row count generalised, so that nights skipped
    for the same cause count together ("12 labelled rows in ..." -> "too few labelled rows in ...")."""
    return re.sub(r"^\d+ ", "too few ", reason)


class _Tally:
    """What the runner did over one policy's batches, from its run records."""

    def __init__(self) -> None:
        self.counts = {"retrain": 0, "update": 0, "rollback": 0, "refused": 0, "promoted": 0, "skipped": 0}
        self.skip_reasons: dict[str, int] = {}

    def add(self, rec: Any) -> tuple[str | None, str | None, dict[str, Any]]:
        """Count one run record; returns (training that ran, why a decided one did not, gate)."""
        tr = rec.training or {}
        skipped = tr.get("skipped")
        trained = tr.get("action") if tr and not skipped else None
        if trained == "retrain":
            self.counts["retrain"] += 1
        elif trained in ("warm_start", "online_update"):
            self.counts["update"] += 1
        if skipped:
            self.counts["skipped"] += 1
            reason = _skip_reason(str(skipped))
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        if rec.action == "rollback":
            self.counts["rollback"] += 1
        gate = rec.gate or {}
        if gate and not gate.get("passed", True):
            self.counts["refused"] += 1
        if rec.promoted is not None:
            self.counts["promoted"] += 1
        return trained, skipped, gate


def _run_policy(policy: Any, init: pd.DataFrame, batches: list[pd.DataFrame], *, model: Any, target: str, metric: Metric,
                time_column, id_column, exclude, task, root: Path, others: Sequence[Metric] = (),
                progress: Any = None, schedule: Sequence[int | None] | None = None, dask_client: Any = None) -> PolicyResult:
    """Replay the batches under one policy; a driftkeeper error is raised as :class:`_PolicyFailed`.

    ``schedule`` (see :func:`label_schedule`): the batch whose step delivers each batch's labels;
    ``None``: every batch arrives with its own labels."""
    from ..keeper.runner import Keeper

    t_wall = time.perf_counter()
    try:
        keeper = Keeper.init(root, _fresh_model(model), init, target=target, policy=policy.source,
                             time_column=time_column, id_column=id_column, exclude=tuple(exclude), task=task,
                             dask_client=dask_client)
    except DriftkeeperError as exc:
        raise _PolicyFailed("init", exc) from exc
    spec = keeper.spec
    v1 = keeper.registry.get("champion")
    init_cpu = float(v1.metrics.get("train_cpu_s") or 0.0)
    serving, champ = v1.version, keeper.champion()
    per: list[BatchResult] = []
    tally = _Tally()
    train_cpu, monitor_cpu = init_cpu, 0.0
    arrivals: dict[int, list[int]] = {}
    for i, j in enumerate(schedule or []):
        if j is not None:
            arrivals.setdefault(j, []).append(i)
    for i, batch in enumerate(batches):
        X, y = spec.features_frame(batch), spec.target_values(batch[target])
        values = evaluate_many([metric, *others], champ, X, y)  # one prediction for all metrics
        err = metric.error(values[0])
        other = {m.name: float(m.error(v)) for m, v in zip(others, values[1:])}
        if schedule is None:
            step_in, labels, labels_of = batch, None, [i + 1]
        else:  # the batch without its target; the labels due tonight, by id (production's late labels)
            step_in = batch.drop(columns=[target])
            due = arrivals.get(i, [])
            labels = pd.concat([batches[k][[id_column, target]] for k in due], ignore_index=True) if due else None
            labels_of = [k + 1 for k in due]
        try:
            rec = keeper.step(step_in, labels=labels, html=False, dask_client=dask_client)
        except DriftkeeperError as exc:
            raise _PolicyFailed(f"batch {i + 1} of {len(batches)}", exc) from exc
        trained, skipped, gate = tally.add(rec)
        cpu = float((rec.training or {}).get("cpu_s") or 0.0)
        mon = float(rec.timings.get("monitor_cpu_s", 0.0))
        train_cpu += cpu
        monitor_cpu += mon
        times = spec.times(batch) if spec.time_column else None
        per.append(BatchResult(
            index=i + 1, rows=len(batch),
            time_min=times.min().isoformat() if times is not None else None,
            time_max=times.max().isoformat() if times is not None else None,
            error=float(err), action=rec.action, rule=(rec.decision or {}).get("rule"), trained=trained,
            skipped=skipped, promoted=rec.promoted is not None, gate_passed=gate.get("passed") if gate else None,
            train_cpu_s=round(cpu, 4), monitor_cpu_s=round(mon, 4), serving=rec.serving, other_errors=other,
            labels_of=labels_of,
        ))
        if rec.serving is not None and rec.serving != serving:
            serving, champ = rec.serving, keeper.champion()
        if progress is not None:
            progress(policy.name, i + 1, len(batches))
    final = keeper.registry.get("champion")
    desc = champ.describe()
    weights = np.array([b.rows for b in per], float)
    mean_error = _weighted_mean(np.array([b.error for b in per], float), weights)
    other_means = {m.name: round(_weighted_mean(np.array([b.other_errors[m.name] for b in per], float), weights), 6)
                   for m in others}
    c = tally.counts
    return PolicyResult(
        name=policy.name, source=str(policy.source), metric=metric.name, mean_error=round(mean_error, 6),
        train_cpu_s=round(train_cpu, 4), init_train_cpu_s=round(init_cpu, 4), monitor_cpu_s=round(monitor_cpu, 4),
        wall_s=round(time.perf_counter() - t_wall, 3), retrains=c["retrain"], updates=c["update"],
        rollbacks=c["rollback"], gate_refusals=c["refused"], promotions=c["promoted"],
        model_bytes=desc.get("size_bytes"), model_trees=desc.get("n_trees"), final_version=final.version, per_batch=per,
        other_errors=other_means, skipped=c["skipped"], skip_reasons=dict(tally.skip_reasons),
    )


def _raise_all_failed(results: list[PolicyResult], errors: list[Any]) -> None:
    """Every policy failed: the error itself when they all failed alike (one policy, or the
    data at fault), else one line with each policy's error."""
    first = errors[0]
    if all(type(e) is type(first) and str(e) == str(first) for e in errors):
        raise first
    raise type(first)("every policy failed: " + "; ".join(f"{r.name}: {r.error}" for r in results)) from first


def _weighted_mean(errs: np.ndarray, weights: np.ndarray) -> float:
    """Row-weighted mean over the batches where the metric is defined (ROC AUC is not on a
    one-class batch); nan when it is defined on none."""
    ok = np.isfinite(errs)
    return float(np.sum(errs[ok] * weights[ok]) / np.sum(weights[ok])) if ok.any() else float("nan")


def run_backtest(
    data: pd.DataFrame | str | Path,
    *,
    target: str,
    policies: str | Path | Sequence[str | Path],
    model: Any,
    every: str,
    time_column: str | None = None,
    initial: int | str | None = None,
    id_column: str | None = None,
    exclude: Sequence[str] = (),
    task: str | None = None,
    metric: str | None = None,
    also_metrics: Sequence[str] = (),
    workdir: str | Path | None = None,
    dataset: str | None = None,
    progress: Any = None,
    label_delay: int | str | None = 0,
    dask_client: Any = None,
) -> BacktestResult:
    """Replay ``data`` batch by batch under each policy with the production runner.

    Rows without a target are left out (counted in ``unlabelled_rows``).
    ``policies``: shipped names or YAML paths; the first is the primary one (its metric is the
    comparison metric unless ``metric`` is given); duplicates are dropped. ``model``: an
    unfitted model (or adapter) — each policy gets its own copy. ``every``: ``D``/``W``/``M``
    (needs ``time_column``) or ``"<N>rows"`` (N rows per batch, in time order with
    ``time_column``; without one, row order is taken as time and the runner gets no time
    column, so ``{days: N}`` retrain windows refuse and day-based cooldowns never fire). ``workdir``: keep the
    keeper roots there (one folder per policy) instead of a temporary folder that is removed.
    A policy the runner refuses with a driftkeeper error gets a result with ``error`` (where
    and why) and the others run on; when every policy fails, the error is raised (their common
    error, or one line naming each policy's).
    ``also_metrics``: more metric names scored on the same predictions and reported next to
    the comparison metric (as errors, e.g. ``["log_loss", "roc_auc"]``): an error rate on a
    rare class can rank models by how few of them cross 0.5 rather than by how good they are.
    ``progress``: optional callable ``(policy_name, batch_index, n_batches)``, called after each
    batch of each policy (``batch_index`` counts from 1 to ``n_batches`` for every policy).
    ``label_delay``: how late labels reach the runner — ``N`` batches (batch *i*'s labels come
    with batch *i + N*) or a time span like ``"90D"`` (with ``time_column``: with the first later
    batch that ends at least the span after batch *i* ends); see the module docstring. The
    batches are still scored on their true labels. 0 (the default): labels come with their batch.
    ``dask_client``: a ``distributed.Client`` every keeper trains LightGBM on (see ``Keeper.step``).
    """
    from .._util.io import read_table
    from ..table import infer_task
    from ..policy import load_policy

    delay = parse_label_delay(label_delay, time_column=time_column)  # a bad delay fails before the data is read
    name = dataset or (Path(data).name if isinstance(data, (str, Path)) else "data")
    df = read_table(data, what="data") if isinstance(data, (str, Path)) else data
    cols = [str(c) for c in df.columns]
    if target not in cols:
        from .._util.suggest import suggest

        raise SchemaError(f"target {target!r} is not a column of the data{suggest(target, cols)}")
    df, unlabelled = _labelled_rows(df, target)
    pols = [load_policy(p) for p in _policy_list(policies)]
    names = [p.name for p in pols]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"two policies are both named {dup!r}; give them distinct names")
    init, batches = split_batches(df, every=every, time_column=time_column, initial=initial)
    if not batches:
        raise ConfigError("no batches left after the initial rows")
    schedule = None
    if not (isinstance(delay, int) and delay == 0):
        init, batches, id_column = _with_row_ids(init, batches, id_column)
        schedule = label_schedule(batches, delay, time_column=time_column)
    the_task = task or infer_task(init[target])
    metric_obj = get_metric(metric or pols[0].resolved_metric(the_task), the_task)
    others: list[Metric] = []
    for m in also_metrics:
        mo = get_metric(m, the_task)
        if mo.name != metric_obj.name and mo not in others:
            others.append(mo)

    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="driftkeeper-backtest-"))
    results, errors = [], []
    try:
        for pol in pols:
            root = base / re.sub(r"[^A-Za-z0-9_.-]", "_", pol.name)
            if workdir is not None and root.exists():
                shutil.rmtree(root)
            t_wall = time.perf_counter()
            try:
                res = _run_policy(pol, init, batches, model=model, target=target, metric=metric_obj,
                                  time_column=time_column, id_column=id_column, exclude=exclude, task=task, root=root,
                                  others=others, progress=progress, schedule=schedule, dask_client=dask_client)
            except _PolicyFailed as exc:
                errors.append(exc.__cause__)
                res = PolicyResult.failed(pol, metric_obj.name, str(exc), time.perf_counter() - t_wall)
            results.append(res)
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    if len(errors) == len(results):
        _raise_all_failed(results, errors)
    return BacktestResult(dataset=name, metric=metric_obj.name, task=the_task, initial_rows=len(init), batches=len(batches),
                          every=str(every), policies=results, other_metrics=[m.name for m in others],
                          label_delay=delay if isinstance(delay, int) else str(label_delay).strip(),
                          labels_never_delivered=sum(j is None for j in schedule or []), unlabelled_rows=unlabelled)


def _labelled_rows(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """The rows with a target, and how many had none. History often holds rows whose outcome
    never came (a house passed in without a price): they can be neither scored nor learned from,
    so the replay leaves them out and says so, instead of refusing the whole table."""
    missing = df[target].isna()
    n = int(missing.sum())
    if n == len(df):
        raise SchemaError(f"target {target!r} is missing on every row of the data; a backtest needs labelled rows")
    return (df[~missing].reset_index(drop=True), n) if n else (df, 0)


def _with_row_ids(init: pd.DataFrame, batches: list[pd.DataFrame], id_column: str | None):
    """Late labels are joined by id: the data's id column when it names each row once, else a
    new column of row positions in time order (:data:`ROW_ID`). Returns (init, batches, id column)."""
    if id_column is not None:
        ids = pd.concat([init[id_column], *(b[id_column] for b in batches)], ignore_index=True)
        if ids.isna().any() or ids.duplicated().any():
            raise ConfigError(f"--label-delay joins late labels by id, but id column {id_column!r} has missing or repeated "
                              "ids; leave --id-column out and the backtest numbers the rows")
        return init, batches, id_column
    name = _row_id_column([str(c) for c in init.columns])
    start, out = len(init), []
    init = init.assign(**{name: np.arange(len(init), dtype="int64")})
    for b in batches:
        out.append(b.assign(**{name: np.arange(start, start + len(b), dtype="int64")}))
        start += len(b)
    return init, out, name
