"""The Prometheus text file ``driftkeeper run --metrics-file`` writes for node_exporter's
textfile collector.

The file is written with ``prometheus_client.write_to_textfile`` from a fresh registry: the
text goes to a temp file beside the target (a name the collector ignores, as it does not end
in ``.prom``) and is renamed over it, so a scrape never reads half a file, and a run killed
mid-write leaves the previous night's file as it was.

Every series carries a ``root`` label (the root folder's name), so several models on one host,
each with its own ``.prom`` file, do not collide in the collector.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..exceptions import ConfigError, DriftkeeperError, LockError
from .runs import _budget, _num, record_action

__all__ = ["MetricsFile", "families"]

PREFIX = "driftkeeper_"
#: Every decision action gets a counter series from the first night on (0 until it happens),
#: so a rate() over them works without waiting for the first retrain or rollback.
ACTIONS = ("none", "warm_start", "online_update", "retrain", "rollback")


def _gauge(name: str, doc: str, root: str, value: Any, **labels: str):
    from prometheus_client.core import GaugeMetricFamily

    fam = GaugeMetricFamily(PREFIX + name, doc, labels=["root", *labels])
    fam.add_metric([root, *labels.values()], float(value))
    return fam


def _status(root: str, status: str, exit_code: int, now: float) -> list:
    return [
        _gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", root, now),
        _gauge("last_run_status", "Status of the last run (1 for its status).", root, 1, status=status),
        _gauge("last_run_exit_code", "Exit code of the last run: 0 ok, 1 needs a person, 2 bad input, 3 locked.", root, exit_code),
    ]


def _last_run(root: str, rec: dict[str, Any]) -> Iterator:
    """Gauges of the last run's own values (each only when the record has it)."""
    drift = rec.get("drift") or {}
    champ = rec.get("champion_metric") or {}
    metric = str(champ.get("metric") or "metric")
    est = rec.get("estimated_metric")
    est_value = _num(est.get("value") if isinstance(est, dict) else est)
    est_metric = str(est.get("metric") or metric) if isinstance(est, dict) else metric
    values = [
        ("last_run_duration_seconds", "Wall time of the last run.", _num((rec.get("timings") or {}).get("total_s")), {}),
        ("serving_version", "Model version serving (the champion) after the last run.", _num(rec.get("serving")), {}),
        ("drift_share", "Share of feature columns that drifted in the last batch.", _num(drift.get("drift_share")), {}),
        ("dataset_drift", "1 when the last batch drifted as a whole.", _num(drift.get("dataset_drift")), {}),
        ("metric", "The champion's metric on the last batch's labelled rows.", _num(champ.get("value")), {"metric": metric}),
        ("metric_baseline", "The level the champion's metric is compared with.", _num(champ.get("baseline")), {"metric": metric}),
        ("estimated_metric", "The champion's metric estimated without labels.", est_value, {"metric": est_metric}),
        ("training_seconds", "CPU seconds the last run spent training (0 when it trained nothing).",
         _num((rec.get("training") or {}).get("cpu_s")) or 0.0, {}),
        ("needs_attention", "Problems of the last run that need a person.", len(rec.get("needs_attention") or ()), {}),
        ("budget_spent", "Training CPU spent / the compute budget's allowance so far (1 = on budget).",
         _num((_budget(rec) or {}).get("budget_spent")), {}),
    ]
    for name, doc, value, labels in values:
        if value is not None:
            yield _gauge(name, doc, root, value, **labels)


def _counters(root: str, records: Iterable[dict[str, Any]]) -> Iterator:
    """Totals over every recorded night: actions by kind, refused candidates, training CPU."""
    from prometheus_client.core import CounterMetricFamily

    actions = dict.fromkeys(ACTIONS, 0)
    runs = refused = 0
    cpu = 0.0
    for rec in records:
        runs += 1
        action = record_action(rec)
        actions[action] = actions.get(action, 0) + 1
        refused += (rec.get("gate") or {}).get("passed") is False
        cpu += _num((rec.get("training") or {}).get("cpu_s")) or 0.0
    fam = CounterMetricFamily(PREFIX + "actions", "Nights by the action decided.", labels=["root", "action"])
    for action, n in actions.items():
        fam.add_metric([root, action], n)
    yield fam
    for name, doc, value in (
        ("runs", "Nights recorded under the root.", runs),
        ("candidates_refused", "Trained candidates the gate refused.", refused),
        ("training_cpu_seconds", "CPU seconds spent training over all recorded nights.", cpu),
    ):
        fam = CounterMetricFamily(PREFIX + name, doc, labels=["root"])
        fam.add_metric([root], value)
        yield fam


def families(root_name: str, record: dict[str, Any], records: Iterable[dict[str, Any]], now: float | None = None) -> list:
    """Every metric family for a finished run: status, the run's own gauges, totals over ``records``."""
    now = time.time() if now is None else now
    status, exit_code = str(record.get("status") or "completed"), int(record.get("exit_code") or 0)
    return [*_status(root_name, status, exit_code, now), *_last_run(root_name, record), *_counters(root_name, records)]


class _Fixed:
    """A collector that yields families built beforehand (one registry, one write)."""

    def __init__(self, fams: list) -> None:
        self._fams = fams

    def collect(self) -> Iterator:
        return iter(self._fams)


class MetricsFile:
    """The ``--metrics-file`` of one run: checked before the run, written after it (or its failure).

    ``root`` names the root in the ``root`` label and is where the totals' records are read.
    """

    def __init__(self, path: str | Path, root: str | Path) -> None:
        self.path = Path(path)
        self.root = Path(root)
        if self.path.suffix != ".prom":
            raise ConfigError(f"--metrics-file {str(self.path)!r} must end in .prom (node_exporter's textfile collector reads only *.prom)")
        if not self.path.parent.is_dir():
            raise ConfigError(f"--metrics-file {str(self.path)!r}: folder {str(self.path.parent)!r} does not exist; create it or name the collector's folder")

    def _write(self, fams: list) -> str | None:
        from prometheus_client import CollectorRegistry, write_to_textfile

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(fams))
        try:
            write_to_textfile(str(self.path), registry)
        except OSError as exc:  # the temp file is gone; the previous file, if any, is intact
            return f"--metrics-file {str(self.path)!r} not written: {exc.strerror or exc}"
        return None

    def write_run(self, record: dict[str, Any]) -> str | None:
        """After a run that finished (whatever exit code it returns itself; dry runs too).

        Returns None, or a one-line message when the file could not be written.
        """
        from .runs import load_records

        try:
            records = [rec for _, rec in load_records(self.root)]
        except DriftkeeperError as exc:  # e.g. a record edited by hand: the night itself ran
            return f"--metrics-file {str(self.path)!r} not written: {exc}"
        return self._write(families(self.root.name, record, records))

    def write_failure(self, exc: BaseException) -> str | None:
        """After a run that raised: its status and exit code (what the CLI exits with) and the time."""
        if isinstance(exc, LockError):
            status = "locked"
        elif isinstance(exc, DriftkeeperError):
            status = "failed"
        else:
            status = "crashed"
        exit_code = exc.exit_code if isinstance(exc, DriftkeeperError) else 1
        return self._write(_status(self.root.name, status, exit_code, time.time()))
