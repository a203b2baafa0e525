"""Run records of a root, read into one flat :class:`Night` per run.

The runner writes ``ROOT/runs/<run-id>/record.json`` each night. Records of older releases,
dry runs and "already processed" runs lack some keys, and newer runners add keys: every
field here is read with a default, so a missing key gives ``None`` (or an empty list), never
an error. Reading never changes a file under the root.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..exceptions import ConfigError, InputError

__all__ = [
    "Night",
    "action_group",
    "load_nights",
    "load_records",
    "parse_since",
    "read_metric_name",
    "record_action",
    "retrain_rules",
]

#: Drop signals a retrain rule may use, each with the one-batch drop it is computed from
#: (a sustained drop is the smaller of two batches' drops; the reference level is the same).
DROP_SIGNALS = {
    "performance_drop": "performance_drop",
    "sustained_performance_drop": "performance_drop",
    "drop_since_retrain": "drop_since_retrain",
    "sustained_drop_since_retrain": "drop_since_retrain",
}
_UPDATES = ("warm_start", "online_update", "update")


def action_group(action: str | None) -> str:
    """``update`` / ``retrain`` / ``rollback`` / ``none`` (the timeline's four lanes)."""
    if action in _UPDATES:
        return "update"
    if action in ("retrain", "rollback"):
        return action
    return "none"


def record_action(rec: dict[str, Any]) -> str:
    """The action a night carried out (or tried): the decided one, unless the runner switched it
    (an update that would break a size cap trains a retrain: ``training.action`` says so)."""
    trained = _dict(rec.get("training")).get("action")
    return str(trained or _dict(rec.get("decision")).get("action") or "none")


def _num(x: Any) -> float | None:
    """A finite float, or None for anything else (missing, NaN, a string, a bool)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _when(text: Any) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (naive times are taken as UTC)."""
    if not isinstance(text, str):
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def _started(run_id: str) -> datetime | None:
    """The start time encoded in a run id (``20240101T020000123456Z-<sha8>``)."""
    try:
        return datetime.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_since(text: str | None, option: str = "--since") -> datetime | None:
    """``--since``: a date (``2024-03-01``) or an ISO-8601 time; naive means UTC."""
    if text is None:
        return None
    when = _when(text.strip())
    if when is None:
        raise ConfigError(f"{option} {text!r} is not a date; expected YYYY-MM-DD or an ISO-8601 time such as 2024-03-01T06:00")
    return when


@dataclass(frozen=True)
class Night:
    """One run of ``driftkeeper run``, flattened for tables, plots and metrics.

    ``time`` is the newest row time of the batch when the batch has a time column, else the
    run's start. ``outcome`` says what happened in a word: ``promoted``, ``refused`` (the gate
    kept the champion), ``skipped`` (training skipped, e.g. too few rows), ``rolled back``,
    ``no action``, ``done`` (trained, neither promoted nor refused), ``dry run`` or
    ``already processed``. ``budget`` is the night's ledger of the
    policy's compute budget (``costs``: allowance, spent, ``budget_spent`` = spent / allowance),
    None when the policy sets no budget. ``retrain_level`` is the metric value
    at which a retrain rule of the policy fires (None when no retrain rule watches the metric
    or its reference is unknown that night). ``record`` is the whole record as read.
    """

    run_id: str
    started: datetime | None
    time: datetime | None
    status: str
    exit_code: int
    source: str | None
    rows: int | None
    labelled: bool | None
    action: str
    requested: str | None
    rule: str | None
    guards: list[str]
    decision_text: str | None
    outcome: str
    metric_name: str | None
    metric: float | None
    baseline: float | None
    estimated_metric: float | None
    retrain_level: float | None
    drift_share: float | None
    dataset_drift: bool | None
    drifted_columns: list[str]
    serving: int | None
    registered: int | None
    promoted: int | None
    gate: str | None
    training_skipped: str | None
    train_cpu_s: float | None
    monitor_cpu_s: float | None
    duration_s: float | None
    budget: dict[str, Any] | None
    budget_spent: float | None
    warnings: list[str]
    needs_attention: list[str]
    html: Path | None
    record: dict[str, Any] = field(repr=False, compare=False)

    @property
    def group(self) -> str:
        return action_group(self.action)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (times ISO-8601, paths strings), without the raw record."""
        d = asdict(self)
        d.pop("record")
        for k in ("started", "time"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        d["html"] = str(self.html) if self.html is not None else None
        return d


def _outcome(rec: dict[str, Any], action: str) -> str:
    status = rec.get("status")
    if status in ("dry_run", "already_processed"):
        return status.replace("_", " ")
    training, gate = _dict(rec.get("training")), _dict(rec.get("gate"))
    if training.get("skipped"):
        return "skipped"
    if gate and gate.get("passed") is False:
        return "refused"
    if action == "rollback":
        return "rolled back"
    if rec.get("promoted") is not None:
        return "promoted"
    return "no action" if action_group(action) == "none" else "done"


def _estimated(rec: dict[str, Any]) -> float | None:
    est = rec.get("estimated_metric")
    return _num(_dict(est).get("value")) if isinstance(est, dict) else _num(est)


def _retrain_level(decision: dict[str, Any], rules: set[str], higher: bool) -> float | None:
    """The metric value at which a retrain rule's drop condition holds, from this night's signals.

    A drop is ``(metric - ref) / ref`` (``(ref - metric) / ref`` when higher is better), so the
    reference is recovered from the metric and the one-batch drop the night recorded. Of several
    retrain conditions the one closest to firing (the lowest level; highest when higher is
    better) is the level.
    """
    signals = _dict(decision.get("signals"))
    metric = _num(signals.get("metric"))
    levels = []
    for cond in decision.get("conditions") or ():
        if not isinstance(cond, dict) or cond.get("rule") not in rules or cond.get("op") not in (">=", ">"):
            continue
        drop, value = _num(signals.get(DROP_SIGNALS.get(cond.get("signal"), ""))), _num(cond.get("value"))
        if metric is None or drop is None or value is None:
            continue
        scale = 1 - drop if higher else 1 + drop
        if scale <= 0:
            continue
        ref = metric / scale
        levels.append(ref * (1 - value) if higher else ref * (1 + value))
    if not levels:
        return None
    return max(levels) if higher else min(levels)


def _budget(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The night's compute-budget ledger (``costs``), when its policy sets a budget."""
    costs = _dict(rec.get("costs"))
    return costs if costs.get("budget") else None


def _html(rec: dict[str, Any], run_dir: Path) -> Path | None:
    # the recorded path may point to where the root lived when the night ran; the file beside
    # the record is what a moved or copied root still has
    page = run_dir / "drift.html"
    return page if page.is_file() else None


def _night(rec: dict[str, Any], run_dir: Path, rules: set[str], higher: bool) -> Night:
    run_id = str(rec.get("run_id") or run_dir.name)
    batch, decision = _dict(rec.get("batch")), _dict(rec.get("decision"))
    drift, champ = _dict(rec.get("drift")), _dict(rec.get("champion_metric"))
    training, timings = _dict(rec.get("training")), _dict(rec.get("timings"))
    action = record_action(rec)
    started = _started(run_id)
    columns = [c for c in drift.get("columns") or () if isinstance(c, dict)]
    gate = _dict(rec.get("gate"))
    exit_code = rec.get("exit_code")
    return Night(
        run_id=run_id,
        started=started,
        time=_when(batch.get("time_max")) or started,
        status=str(rec.get("status") or "completed"),
        exit_code=exit_code if isinstance(exit_code, int) else (1 if rec.get("needs_attention") else 0),
        source=batch.get("source"),
        rows=batch.get("rows"),
        labelled=batch.get("labelled"),
        action=action,
        requested=decision.get("requested"),
        rule=decision.get("rule"),
        guards=[str(g.get("reason") or g.get("guard")) for g in decision.get("guards") or () if isinstance(g, dict)],
        decision_text=rec.get("decision_text"),
        outcome=_outcome(rec, action),
        metric_name=champ.get("metric"),
        metric=_num(champ.get("value")),
        baseline=_num(champ.get("baseline")),
        estimated_metric=_estimated(rec),
        retrain_level=_retrain_level(decision, rules, higher),
        drift_share=_num(drift.get("drift_share")),
        dataset_drift=drift.get("dataset_drift"),
        drifted_columns=[str(c.get("name")) for c in columns if c.get("drifted")],
        serving=rec.get("serving"),
        registered=rec.get("registered"),
        promoted=rec.get("promoted"),
        gate=gate.get("explanation"),
        training_skipped=training.get("skipped"),
        train_cpu_s=_num(training.get("cpu_s")),
        monitor_cpu_s=_num(timings.get("monitor_cpu_s")),
        duration_s=_num(timings.get("total_s")),
        budget=_budget(rec),
        budget_spent=_num(_dict(_budget(rec)).get("budget_spent")),
        warnings=[str(w) for w in rec.get("warnings") or ()],
        needs_attention=[str(n) for n in rec.get("needs_attention") or ()],
        html=_html(rec, run_dir),
        record=rec,
    )


def _runs_dir(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"root {str(root)!r} does not exist; create one with 'driftkeeper init'")
    runs = root / "runs"
    if not runs.is_dir() and not (root / "keeper.json").is_file():
        raise ConfigError(f"{str(root)!r} is not a driftkeeper root (no keeper.json, no runs/); create one with 'driftkeeper init'")
    return runs


def load_records(root: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(run folder, record)`` of every run under ``root``, oldest first.

    Run ids start with their UTC start time, so their order is the order the nights ran.
    A record that is not valid JSON raises :class:`~driftkeeper.exceptions.InputError`
    naming the file (records are written atomically: a broken one was edited by hand).
    """
    runs = _runs_dir(Path(root))
    out = []
    for path in sorted(runs.glob("*/record.json")) if runs.is_dir() else ():
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"run record {str(path)!r} cannot be read ({exc}); move it out of runs/ to skip that night") from exc
        if not isinstance(rec, dict):
            raise InputError(f"run record {str(path)!r} is not a JSON object; move it out of runs/ to skip that night")
        out.append((path.parent, rec))
    return out


def read_metric_name(root: str | Path) -> str | None:
    """The metric the runner scores the champion with (``keeper.json``), or None if unknown."""
    try:
        return json.loads((Path(root) / "keeper.json").read_text(encoding="utf-8")).get("metric")
    except (OSError, ValueError, AttributeError):
        return None


def retrain_rules(root: str | Path, records: Iterable[dict[str, Any]] = ()) -> set[str]:
    """Names of the rules whose action is a retrain: the root's policy file, plus every rule a
    record shows firing a retrain (policies change; old records keep their rules).

    The policy file is read as plain YAML for these two keys: the root's copy was validated
    when it was written, and validating it again would load the whole policy engine.
    """
    import yaml

    names = {
        str(_dict(r.get("decision")).get("rule"))
        for r in records
        if _dict(r.get("decision")).get("requested") == "retrain"
    }
    try:
        spec = yaml.safe_load((Path(root) / "policy.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return names  # no readable policy: the records' rules still count
    rules = _dict(spec).get("rules")
    for rule in rules if isinstance(rules, list) else ():
        if isinstance(rule, dict) and rule.get("action") == "retrain" and "name" in rule:
            names.add(str(rule["name"]))
    return names


def load_nights(root: str | Path, since: datetime | None = None) -> list[Night]:
    """Every night under ``root``, oldest first; with ``since``, those whose ``time`` is not earlier."""
    from ..metrics import higher_is_better

    records = load_records(root)
    metric = read_metric_name(root) or next(
        (_dict(r.get("champion_metric")).get("metric") for _, r in records if r.get("champion_metric")), None
    )
    try:
        higher = bool(metric) and higher_is_better(metric)
    except ConfigError:  # a metric this release does not know: lower is better, like most
        higher = False
    rules = retrain_rules(root, (r for _, r in records))
    nights = [_night(rec, run_dir, rules, higher) for run_dir, rec in records]
    if since is not None:
        nights = [n for n in nights if n.time is None or n.time >= since]
    return nights

