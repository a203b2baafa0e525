"""The nightly runner and the embedding API: :class:`Keeper`.

This is the only module that sequences side effects. One :meth:`Keeper.step`:

1. takes the run lock (``ROOT/.run.lock``; a second run fails at once with exit code 3);
2. validates the batch (and labels) against the schema fixed at init — a bad batch is refused
   before anything is written;
3. skips a batch whose content was already processed (idempotent);
4. checks drift with the champion's monitor and scores the champion on newly labelled rows;
5. asks the policy for a :class:`~driftkeeper.policy.Decision` (pure);
6. applies it: stores the batch under ``ROOT/data/``, trains a candidate (update or retrain),
   gates it against the champion on the newest labelled rows, registers it and promotes it
   (or keeps it as challenger), or rolls back;
7. writes the run record under ``ROOT/runs/`` and, last, the runner state (the commit point).

Which rows train what (see README, "What each action trains on"):

* the **holdout** is the newest labelled rows (``gate.holdout``), in time order; it is never
  in a candidate's training data, and champion and candidate are scored on the same rows;
* a **retrain** fits a fresh model on the labelled rows of the policy's window (last N days,
  last N rows, or all), minus the holdout;
* an **update** continues the champion on the labelled rows that arrived since the model last
  learned (batches after the last training), minus the holdout.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .._util.io import read_table, write_json_atomic
from ..metrics import evaluate, evaluate_rows, get_metric
from .store import POS, SEQ, DataStore
from ..table import TableSpec, frame_sha256
from .._util.testhooks import checkpoint
from ..exceptions import ConfigError, DriftkeeperError, LockError, ModelSizeError, RegistryError, SchemaError

__all__ = ["Keeper", "RunRecord", "ModelBundle"]

FORMAT_VERSION = 1
CONFIG_FILE = "keeper.json"
STATE_FILE = "state.json"
POLICY_FILE = "policy.yaml"
LOCK_FILE = ".run.lock"

TRAINING_ACTIONS = ("warm_start", "online_update", "retrain")


def _utc(ts: Any) -> datetime | None:
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return t.to_pydatetime()


def _iso(ts: Any) -> str | None:
    t = _utc(ts)
    return t.isoformat() if t is not None else None


# --------------------------------------------------------------------------- bundle
class ModelBundle:
    """What the registry stores for each version: the model adapter, the drift monitor fitted on
    the data that model was trained on, and the table schema. Rolling back a version rolls back
    its drift reference too."""

    def __init__(self, adapter: Any, monitor: Any, spec: TableSpec, reference_predictions_kind: str = "value"):
        self.adapter = adapter
        self.monitor = monitor
        self.spec = spec
        self.reference_predictions_kind = reference_predictions_kind

    def describe(self) -> dict[str, Any]:
        d = dict(self.adapter.describe())
        d["monitor_reference_rows"] = getattr(self.monitor, "reference_rows_", None)
        return d


def _prediction_signal(adapter: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """What prediction drift is computed on: the value (regression), the positive-class
    probability (binary) or the predicted label (multiclass)."""
    if task == "regression":
        return np.asarray(adapter.predict(X), dtype=float)
    proba = adapter.predict_proba(X)
    if proba.shape[1] == 2:
        return np.asarray(proba[:, 1], dtype=float)
    return np.asarray(adapter.predict(X)).astype(str)


REFERENCE_ROWS = 10_000


def _fit_monitor(policy: Any, spec: TableSpec, train: pd.DataFrame, adapter: Any) -> Any:
    """The drift reference of a new version: its newest training rows (at most
    ``REFERENCE_ROWS``, so versions stay small however much history a retrain used)."""
    from ..monitor.monitor import Monitor

    train = train.iloc[-REFERENCE_ROWS:]
    X = spec.features_frame(train)
    kwargs = policy.monitor_kwargs() if hasattr(policy, "monitor_kwargs") else {}
    categorical = [c for c, k in spec.kinds.items() if k == "categorical"]
    numerical = [c for c, k in spec.kinds.items() if k == "numeric"]
    mon = Monitor(categorical=categorical or None, numerical=numerical or None, **kwargs)
    y = spec.target_values(train[spec.target]).reset_index(drop=True)
    pred = _prediction_signal(adapter, X, spec.task)
    return mon.fit(X.reset_index(drop=True), target=y, prediction=pd.Series(pred, name="prediction"))


# --------------------------------------------------------------------------- records
@dataclass
class RunRecord:
    """Everything one run did and why. ``to_dict()`` is what ``driftkeeper run --json`` prints and
    what is stored as ``ROOT/runs/<run_id>/record.json``."""

    run_id: str
    status: str  # "completed" | "already_processed" | "dry_run"
    batch: dict[str, Any]
    decision: dict[str, Any] | None = None
    decision_text: str | None = None
    drift: dict[str, Any] | None = None
    champion_metric: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    registered: int | None = None
    promoted: int | None = None
    serving: int | None = None
    needs_attention: list[str] = field(default_factory=list)
    labels: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    html: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.needs_attention else 0

    @property
    def action(self) -> str:
        return (self.decision or {}).get("action", "none")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d

    def summary(self) -> str:
        """A short human summary: the decision and why, what happened, the version now serving."""
        if self.status == "already_processed":
            return f"batch {self.batch.get('sha256', '')[:12]} was already processed by run {self.batch.get('processed_by')}; nothing to do (serving v{self.serving:04d})"
        lines = [self.decision_text or "no decision"]
        if self.training:
            t = self.training
            if t.get("skipped"):
                lines.append(f"training skipped: {t['skipped']}")
            else:
                lines.append(f"trained {t['action']} on {t['rows']} rows ({t['cpu_s']:.2f} s CPU)")
        if self.gate:
            lines.append(self.gate["explanation"])
        if self.registered is not None:
            where = "promoted to champion" if self.promoted == self.registered else "kept as challenger"
            lines.append(f"registered v{self.registered:04d}, {where}")
        if self.status == "dry_run":
            lines.append("dry run: nothing was changed")
        if self.serving is not None:
            lines.append(f"serving v{self.serving:04d}")
        for n in self.needs_attention:
            lines.append(f"needs attention: {n}")
        return "\n".join(lines)


@dataclass
class _State:
    format_version: int = FORMAT_VERSION
    seq: int = 0  # batches processed
    processed: dict[str, str] = field(default_factory=dict)  # batch sha256 -> run id
    last_batch_time: str | None = None
    last_retrain_time: str | None = None
    last_retrain_seq: int = 0
    last_trained_seq: int = 0  # newest batch the serving model has learned from
    updates_since_retrain: int = 0
    consecutive_gate_refusals: int = 0
    baseline: list[float] = field(default_factory=list)  # champion's metric on its first served batches
    previous_metric: float | None = None  # champion's metric on the previous labelled batch
    previous_metric_since_retrain: float | None = None  # serving metric on the previous labelled batch, no retrain since
    retrain_baseline: list[float] = field(default_factory=list)  # metric on the first batches after the last retrain
    rows_at_retrain: int = 0  # rows the last retrain (or init) trained on
    rows_since_retrain: int = 0  # labelled rows that arrived since
    runs: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "_State":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


# --------------------------------------------------------------------------- keeper
class Keeper:
    """A maintained model under ``root``: its registry, data store, policy and run history.

    Create one with :meth:`init`, reopen it with :meth:`open`, and call :meth:`step` once per
    batch (night).

    Example::

        keeper = Keeper.init("models/house", LGBMRegressor(), first_months,
                             target="price", policy="default", time_column="date")
        record = keeper.step(next_week)          # RunRecord
        print(record.summary())
        model = keeper.champion()                # the serving adapter
    """

    def __init__(self, root: Path, config: dict[str, Any]):
        self.root = Path(root)
        self.config = config
        self.spec = TableSpec.from_dict(config["spec"])
        self.store = DataStore(self.root)
        self._registry = None

    # ------------------------------------------------------------------ set-up
    @property
    def registry(self):
        if self._registry is None:
            from ..registry.registry import Registry

            self._registry = Registry(self.root)
        return self._registry

    @classmethod
    def init(
        cls,
        root: str | Path,
        model: Any,
        data: pd.DataFrame | str | Path,
        *,
        target: str,
        policy: str | Path = "default",
        time_column: str | None = None,
        id_column: str | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        task: str | None = None,
        retention: dict[str, int | None] | None = None,
    ) -> "Keeper":
        """Train version 1 on ``data``, fit its drift reference, score it on the holdout (the newest
        labelled rows), register and promote it. ``root`` must be missing or empty.

        ``retention`` bounds what ``root`` keeps: ``versions`` (newest N model versions; older
        ones are deleted even if they once were champion — the current champion and challenger
        never), ``runs`` (newest N run records) and ``data_rows`` (labelled rows kept for
        retrain windows that say ``all``). ``None`` (the default for each) keeps everything.
        """
        from ..adapters import make_adapter
        from ..policy import load_policy
        from ..registry.registry import Registry

        root = Path(root)
        if root.exists() and any(root.iterdir()):
            if (root / CONFIG_FILE).exists():
                raise ConfigError(f"{root} is already initialised (found {CONFIG_FILE}); use Keeper.open or a new folder")
            raise ConfigError(f"{root} is not empty; init needs a missing or empty folder")
        pol = load_policy(policy)
        df = read_table(data, what="data") if isinstance(data, (str, Path)) else data
        spec = TableSpec.from_frame(df, target=target, time_column=time_column, id_column=id_column, exclude=exclude, task=task)
        spec.validate(df, what="initial data", require_target=True)
        adapter = make_adapter(model)
        if adapter.task != spec.task:
            raise ConfigError(f"the model is a {adapter.task} model but target {target!r} looks like {spec.task}; pass task= or another model")
        metric = get_metric(pol.resolved_metric(spec.task), spec.task)
        df = df.reset_index(drop=True)
        order = _time_order(df, spec)
        df = df.iloc[order].reset_index(drop=True)
        holdout_n = _holdout_size(pol, len(df), always=True)
        train, holdout = df.iloc[: len(df) - holdout_n], df.iloc[len(df) - holdout_n :]
        if len(train) < 2:
            raise SchemaError(f"initial data has {len(df)} rows: too few to train and hold out {holdout_n}")
        t0 = time.process_time()
        adapter.fit(spec.features_frame(train), spec.target_values(train[spec.target]))
        cpu = time.process_time() - t0
        metrics = {"train_rows": len(train), "train_cpu_s": round(cpu, 4)}
        if len(holdout):
            metrics[metric.name] = evaluate(metric, adapter, spec.features_frame(holdout), spec.target_values(holdout[spec.target]))
            metrics["holdout_rows"] = len(holdout)
        monitor = _fit_monitor(pol, spec, train, adapter)

        root.mkdir(parents=True, exist_ok=True)
        registry = Registry(root)
        times = spec.times(df, what="initial data")
        retention = dict(retention or {})
        for key, value in retention.items():
            if key not in ("versions", "runs", "data_rows"):
                raise ConfigError(f"unknown retention setting {key!r}; expected versions, runs or data_rows")
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"retention {key} must be a positive integer or None, got {value!r}")
        config = {
            "format_version": FORMAT_VERSION,
            "retention": retention,
            "spec": spec.to_dict(),
            "policy_source": str(pol.source),
            "metric": metric.name,
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
        shutil.copyfile(pol.source, root / POLICY_FILE)
        fp = _data_fingerprint(train, spec)
        decision = {"action": "initial", "rule": "init", "policy": pol.name}
        v = registry.register(ModelBundle(adapter, monitor, spec), action="initial", metrics=metrics, data=fp, decision=decision)
        registry.promote(v.version, alias="champion", reason="initial version")
        keeper = cls(root, config)
        keeper.store.add_batch(0, df, spec.target)
        batch_time = _iso(times.max()) if times is not None else None
        state = _State(seq=0, last_batch_time=batch_time, last_retrain_time=batch_time, last_trained_seq=0, rows_at_retrain=len(train))
        state.processed[frame_sha256(df)] = "init"
        write_json_atomic(root / CONFIG_FILE, config)
        (root / LOCK_FILE).touch()
        keeper._write_state(state)
        keeper._registry = registry
        return keeper

    @classmethod
    def open(cls, root: str | Path) -> "Keeper":
        """Reopen a keeper created by :meth:`init` (or ``driftkeeper init``)."""
        root = Path(root)
        cfg = root / CONFIG_FILE
        if not root.is_dir():
            raise ConfigError(f"{root} does not exist; create it with 'driftkeeper init'")
        if not cfg.exists():
            raise ConfigError(f"{root} is not an initialised driftkeeper root (no {CONFIG_FILE}); run 'driftkeeper init' first")
        try:
            config = json.loads(cfg.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{cfg} is unreadable: {exc}") from exc
        fv = config.get("format_version", 0)
        if fv > FORMAT_VERSION:
            raise ConfigError(f"{root} was written by a newer driftkeeper (format {fv}, this one reads {FORMAT_VERSION}); upgrade driftkeeper")
        return cls(root, config)

    # ------------------------------------------------------------------ queries
    def policy(self):
        from ..policy import load_policy

        return load_policy(self.root / POLICY_FILE)

    def champion(self):
        """The serving model adapter (``predict`` / ``predict_proba`` on a feature frame)."""
        return self.registry.load("champion").adapter

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predict with the champion on a frame with the init schema (extra role columns ignored)."""
        return self.champion().predict(self.spec.features_frame(df))

    def history(self, limit: int | None = None):
        return self.registry.history(limit=limit)

    def state(self) -> dict[str, Any]:
        return asdict(self._read_state())

    def _read_state(self) -> _State:
        p = self.root / STATE_FILE
        if not p.exists():
            raise ConfigError(f"{self.root} has no {STATE_FILE}; it was not initialised completely — run 'driftkeeper init' again in a new folder")
        return _State.from_dict(json.loads(p.read_text()))

    def _write_state(self, state: _State) -> None:
        checkpoint("runner:before-state")
        write_json_atomic(self.root / STATE_FILE, asdict(state))

    def leftovers(self) -> list[Path]:
        """Temp files a killed run left in the runner's folders (the registry reports its own)."""
        found = []
        for folder in (self.root, self.root / "data", *(self.root / "runs").glob("*")):
            if folder.is_dir():
                found.extend(p for p in folder.glob(".*.tmp-*") if p.is_file())
        return sorted(found)

    def clean_leftovers(self) -> list[Path]:
        """Remove :meth:`leftovers`. Call only while holding the run lock (``step`` does)."""
        junk = self.leftovers()
        for p in junk:
            p.unlink(missing_ok=True)
        return junk

    # ------------------------------------------------------------------ the lock
    @contextlib.contextmanager
    def locked(self):
        """Hold the run lock (an OS file lock: it dies with its process, so a killed run never
        blocks the next). Fails at once with :class:`LockError` naming the holder."""
        lock = self._acquire()
        try:
            yield
        finally:
            (self.root / (LOCK_FILE + ".info")).unlink(missing_ok=True)
            lock.release()

    def _acquire(self):
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.root / LOCK_FILE), timeout=0)
        info = self.root / (LOCK_FILE + ".info")
        try:
            lock.acquire()
        except Timeout:
            holder = "unknown process"
            try:
                h = json.loads(info.read_text())
                holder = f"pid {h['pid']} on {h['host']}, started {h['started']}"
            except (OSError, ValueError, KeyError):
                pass
            raise LockError(f"another run holds the lock on {self.root} ({holder}); try again when it finishes") from None
        info.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        return lock

    # ------------------------------------------------------------------ one night
    def step(
        self,
        batch: pd.DataFrame | str | Path,
        *,
        labels: pd.DataFrame | str | Path | None = None,
        dry_run: bool = False,
        html: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> RunRecord:
        """Run one night on ``batch``: check, decide, act, record. See the module docstring.

        ``batch`` and ``labels`` are frames or file paths (CSV, CSV.gz, parquet). ``progress``
        is called with the name of each phase as it starts (the CLI shows it on a terminal).
        """
        self._progress = progress or (lambda phase: None)
        with self.locked():
            return self._step(batch, labels=labels, dry_run=dry_run, html=html)

    def _step(self, batch, *, labels, dry_run: bool, html: bool) -> RunRecord:
        from ..policy import Context, decide

        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        spec = self.spec
        state = self._read_state()
        policy = self.policy()
        metric = get_metric(policy.resolved_metric(spec.task), spec.task)

        name = str(batch) if isinstance(batch, (str, Path)) else "batch"
        df = read_table(batch, what="batch") if isinstance(batch, (str, Path)) else batch.reset_index(drop=True)
        labelled = spec.validate(df, what=f"batch {name!r}" if name != "batch" else "batch")
        lab_df = None
        if labels is not None:
            lname = str(labels) if isinstance(labels, (str, Path)) else "labels"
            lab_df = read_table(labels, what="labels file") if isinstance(labels, (str, Path)) else labels
            self._validate_labels(lab_df, lname)
        sha = frame_sha256(df)
        if lab_df is not None:  # the same batch with new labels is new work
            sha = hashlib.sha256(f"{sha}+labels:{frame_sha256(lab_df)}".encode()).hexdigest()
        times = spec.times(df)
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + f"-{sha[:8]}"
        batch_info: dict[str, Any] = {"source": name, "sha256": sha, "rows": len(df), "labelled": labelled}
        if times is not None:
            batch_info.update(time_min=_iso(times.min()), time_max=_iso(times.max()))
        if sha in state.processed:
            batch_info["processed_by"] = state.processed[sha]
            champ = self.registry.get("champion")
            return RunRecord(run_id=run_id, status="already_processed", batch=batch_info, serving=champ.version)
        if times is not None and state.last_batch_time is not None and _utc(times.max()) < _utc(state.last_batch_time):
            raise SchemaError(
                f"batch {name!r} ends at {_iso(times.max())}, before the last processed batch ({state.last_batch_time}); "
                "batches must arrive in time order"
            )
        batch_time = _utc(times.max()) if times is not None else None
        seq = state.seq + 1

        # ---------------------------------------------------------------- check
        self._progress("checking drift")
        champ_v = self.registry.get("champion")
        bundle: ModelBundle = self.registry.load("champion")
        champ = bundle.adapter
        t, c = time.perf_counter(), time.process_time()  # monitoring: predictions + drift check
        X = spec.features_frame(df)
        pred = _prediction_signal(champ, X, spec.task)
        y = spec.target_values(df[spec.target]) if labelled else None
        report = bundle.monitor.check(X, target=y, prediction=pd.Series(pred, name="prediction"))
        timings["monitor_s"] = round(time.perf_counter() - t, 4)
        timings["monitor_cpu_s"] = round(time.process_time() - c, 4)

        # champion on newly labelled rows: this batch's labels and late labels
        new_lab_X, new_lab_y = [], []
        if labelled:
            new_lab_X.append(X)
            new_lab_y.append(y)
        late_info = None
        if lab_df is not None:
            late = self._late_rows(lab_df)
            if len(late):
                new_lab_X.append(spec.features_frame(late))
                new_lab_y.append(spec.target_values(late[spec.target]))
            late_info = {"rows": len(lab_df)}
        champion_metric = None
        current_value = None
        if new_lab_X:
            Xl = pd.concat(new_lab_X, ignore_index=True)
            yl = pd.concat(new_lab_y, ignore_index=True)
            current_value = evaluate(metric, champ, Xl, yl)
            champion_metric = {"metric": metric.name, "value": current_value, "rows": len(yl), "at_promotion": champ_v.metrics.get(metric.name)}
        baseline = _baseline(state, champ_v.metrics.get(metric.name))
        if champion_metric is not None:
            champion_metric["baseline"] = baseline

        # ---------------------------------------------------------------- decide
        self._progress("deciding")
        newly_labelled = (len(df) if labelled else 0) + (late_info or {}).get("rows", 0)
        ctx = Context(
            batch_time=batch_time,
            last_retrain_time=_utc(state.last_retrain_time),
            batches_since_retrain=seq - state.last_retrain_seq,
            updates_since_retrain=state.updates_since_retrain,
            champion_metric=baseline,
            metric=current_value,
            labelled_rows=newly_labelled,
            rows=len(df),
            model_trees=getattr(champ, "n_trees", None),
            model_size_bytes=champ_v.size_bytes,
            update_style=getattr(champ, "update_style", None) if getattr(champ, "supports_update", False) else None,
            consecutive_gate_refusals=state.consecutive_gate_refusals,
            can_rollback=self._can_rollback(),
            task=spec.task,
            rows_since_retrain=state.rows_since_retrain + newly_labelled,
            rows_at_retrain=state.rows_at_retrain or None,
            previous_metric=state.previous_metric,
            previous_metric_since_retrain=state.previous_metric_since_retrain,
            retrain_metric=_baseline(state, champ_v.metrics.get(metric.name), since_retrain=True),
        )
        decision = decide(report, policy, ctx)
        record = RunRecord(
            run_id=run_id,
            status="dry_run" if dry_run else "completed",
            batch=batch_info,
            decision=decision.to_dict(),
            decision_text=str(decision),
            drift=report.to_dict() if report is not None else None,
            champion_metric=champion_metric,
            serving=champ_v.version,
            labels=late_info,
            warnings=list(report.warnings) if report is not None else [],
        )
        if dry_run:
            timings["total_s"] = round(time.perf_counter() - t_start, 4)
            record.timings = timings
            return record

        # ---------------------------------------------------------------- apply
        self._progress(f"applying: {decision.action}")
        self.clean_leftovers()  # temp files of a killed run; we hold the lock, so none is live
        if lab_df is not None:
            self.store.attach_labels(lab_df, id_column=spec.id_column, target=spec.target, what="labels file")
        self.store.add_batch(seq, df, spec.target)
        checkpoint("runner:data-written")
        action = decision.action
        new_state = copy.deepcopy(state)
        new_state.seq = seq
        new_state.rows_since_retrain += newly_labelled
        if current_value is not None:
            new_state.previous_metric = new_state.previous_metric_since_retrain = float(current_value)
            if len(new_state.baseline) < BASELINE_BATCHES:
                new_state.baseline.append(float(current_value))
            if len(new_state.retrain_baseline) < BASELINE_BATCHES:
                new_state.retrain_baseline.append(float(current_value))
        new_state.last_batch_time = _iso(batch_time) if batch_time is not None else state.last_batch_time
        if action in TRAINING_ACTIONS:
            t = time.perf_counter()
            self._train_gate_register(record, decision, bundle, champ_v, policy, metric, new_state, seq, batch_time)
            timings["train_s"] = round(time.perf_counter() - t, 4)
        elif action == "rollback":
            v = self.registry.rollback(reason=str(decision))
            record.serving = v.version
            new_state.consecutive_gate_refusals = 0
            new_state.baseline, new_state.previous_metric, new_state.retrain_baseline = [], None, []
            new_state.previous_metric_since_retrain = None
        if decision.action == "none" and report is not None and report.dataset_drift and getattr(decision, "guards", None):
            record.needs_attention.append("dataset drift, but the policy's guards allowed no action")

        # ---------------------------------------------------------------- record
        self._progress("writing the run record")
        run_dir = self.root / "runs" / run_id
        if html and report is not None:
            try:
                t = time.perf_counter()
                bundle.monitor.html(X, run_dir / "drift.html", target=y, prediction=pd.Series(pred, name="prediction"))
                record.html = str(run_dir / "drift.html")
                timings["html_s"] = round(time.perf_counter() - t, 4)
            except DriftkeeperError:
                raise
            except Exception as exc:  # a report page must never fail the night
                record.warnings.append(f"HTML drift report not written: {type(exc).__name__}: {exc}")
        timings["total_s"] = round(time.perf_counter() - t_start, 4)
        record.timings = timings
        write_json_atomic(run_dir / "record.json", record.to_dict())
        new_state.processed[sha] = run_id
        new_state.runs.append(run_id)
        self._write_state(new_state)
        pruned = self._prune(policy, new_state, batch_time)
        if any(pruned.values()):
            write_json_atomic(self.root / STATE_FILE, asdict(new_state))
        return record

    # ------------------------------------------------------------------ helpers
    def _validate_labels(self, lab: pd.DataFrame, name: str) -> None:
        spec = self.spec
        if spec.id_column is None:
            raise ConfigError("--labels needs an id column; this root was initialised without --id-column")
        missing = [c for c in (spec.id_column, spec.target) if c not in lab.columns]
        if missing:
            raise SchemaError(f"labels file {name!r} is missing column(s) {missing}; expected the id column {spec.id_column!r} and the target {spec.target!r}")
        if len(lab) == 0:
            raise SchemaError(f"labels file {name!r} has no rows")
        dup = lab[spec.id_column].duplicated()
        if dup.any():
            raise SchemaError(f"labels file {name!r} has {int(dup.sum())} duplicate id(s), e.g. {lab.loc[dup, spec.id_column].iloc[0]!r}")
        spec.validate_target(lab[spec.target], what=f"labels file {name!r}")
        known = set()
        for part in (self.store.load(target=spec.target, labelled_only=False),):
            if len(part):
                known = set(part[spec.id_column].tolist())
        unknown = [i for i in lab[spec.id_column] if i not in known]
        if unknown:
            raise SchemaError(f"labels file {name!r} has {len(unknown)} id(s) never seen in a processed batch, e.g. {unknown[0]!r}")

    def _late_rows(self, lab: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        stored = self.store.load(target=spec.target, labelled_only=False)
        stored = stored[stored[spec.id_column].isin(lab[spec.id_column])].drop(columns=[spec.target])
        return stored.merge(lab[[spec.id_column, spec.target]], on=spec.id_column)

    def _can_rollback(self) -> bool:
        try:
            return self.registry.rollback_target("champion") is not None
        except RegistryError:
            return False

    def _train_gate_register(self, record, decision, bundle, champ_v, policy, metric, state: _State, seq, batch_time) -> None:
        from ..registry.registry import Registry  # noqa: F401  (import errors surface here, not mid-run)

        spec = self.spec
        params = dict(decision.params or {})
        labelled = self.store.load(target=spec.target)
        labelled = labelled.iloc[_time_order(labelled, spec)].reset_index(drop=True)
        gate_cfg = policy.gate
        action = decision.action
        training: dict[str, Any] = {"action": action}
        min_rows = policy.min_training_rows() if hasattr(policy, "min_training_rows") else 1
        champ = bundle.adapter
        candidate = None
        train = holdout = labelled.iloc[:0]

        # The holdout is the newest labelled rows the champion has not learned from (batches
        # after its last training), so the comparison is fair to both models.
        new_rows = labelled[labelled[SEQ] > state.last_trained_seq]
        n_hold = _holdout_size(policy, len(new_rows)) if gate_cfg.enabled else 0
        if getattr(gate_cfg, "holdout_pick", "newest") == "random" and n_hold:
            picked = np.random.default_rng(int(seq)).choice(len(new_rows), size=n_hold, replace=False)
            holdout = new_rows.iloc[np.sort(picked)]  # seeded by the batch: a rerun picks the same rows
        else:
            holdout = new_rows.iloc[len(new_rows) - n_hold :]
        hold_idx = set(holdout.index)

        def split(pool: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
            return pool[~pool.index.isin(hold_idx)], holdout

        online = getattr(champ, "update_style", None) == "online_update"  # rounds are passes; no relearning

        if action in ("warm_start", "online_update"):
            train, holdout = split(new_rows)
            if len(train) < max(1, min_rows):
                training["skipped"] = f"{len(train)} new labelled rows outside the holdout; an update needs at least {max(1, min_rows)}"
            else:
                relearn, known = int(params.get("relearn_batches") or 0), 0
                if relearn and online:
                    # an online learner learned those rows when they arrived: learning them again
                    # would count them twice (relearning is context for warm starts and corrections)
                    training["relearn_skipped"] = "online learner"
                elif relearn:
                    # the policy's `relearn_batches`: the newest batches the champion already
                    # learned go in again, in time order before the new rows (more context for
                    # a warm start than the new batch alone; see benchmarks/retrain_recipes.py)
                    done = labelled[SEQ] <= state.last_trained_seq
                    again = sorted(set(int(x) for x in labelled.loc[done, SEQ]))[-relearn:]
                    old = labelled[labelled[SEQ].isin(again)]
                    # at most relearn × (this batch's rows), the newest: the initial data is
                    # "batch 0" and may be many batches long
                    cap = relearn * len(new_rows)
                    if len(old) > cap:
                        old = old.iloc[len(old) - cap :]
                        training["relearned_rows_capped"] = cap
                    known = len(old)  # relearned rows first, then the new ones (each in time order)
                    train = pd.concat([old, train])
                    training["relearned_batches"] = again
                candidate = copy.deepcopy(champ)
                if params.get("mode") and hasattr(candidate, "update_mode"):
                    candidate.update_mode = params["mode"]  # the policy's `mode: continue|refit|correct`
                checkpoint("runner:training")
                t0 = time.process_time()
                # pass the policy's update parameters the model understands; note the others
                keys = ("rounds", "learning_rate", "replay_fraction", "early_stopping_rounds", "l2_regularization")
                wanted = {k: params[k] for k in keys if params.get(k) is not None}
                if online and params.get("passes") is not None:
                    wanted["rounds"] = params["passes"]  # an online learner's rounds are passes over the rows
                accepted = set(getattr(candidate, "update_overrides", wanted))
                overrides = {k: v for k, v in wanted.items() if k in accepted}
                if set(wanted) - set(overrides):
                    training["ignored_params"] = sorted(set(wanted) - set(overrides))
                if "early_stopping_rounds" in overrides and not len(holdout):
                    # nothing to stop on (gate off, or no rows to hold out): every round is trained
                    training["early_stopping_skipped"] = "no holdout rows"
                    del overrides["early_stopping_rounds"]
                if "early_stopping_rounds" in overrides:
                    # the gate's holdout picks the update's strength (its round count); the gate
                    # then compares on the same rows, so it judges a candidate tuned on them
                    overrides["eval_set"] = (spec.features_frame(holdout), spec.target_values(holdout[spec.target]))
                training["params"] = {k: v for k, v in overrides.items() if k != "eval_set"}
                try:
                    candidate.update(spec.features_frame(train), spec.target_values(train[spec.target]), **overrides,
                                     **({"known_rows": known} if known else {}))
                    if "early_stopping_rounds" in overrides:
                        training["rounds_kept"] = getattr(candidate, "last_update_rounds_", None)
                except ModelSizeError as exc:
                    record.warnings.append(f"update refused ({exc}); retraining instead")
                    action = "retrain"
                    candidate = None
                training["cpu_s"] = time.process_time() - t0
        if action == "retrain":
            train, holdout = split(_window(labelled, params.get("window"), spec, batch_time))
            training["action"] = "retrain"
            if len(train) < max(2, min_rows):
                training["skipped"] = f"{len(train)} labelled rows in the retrain window; a retrain needs at least {max(2, min_rows)}"
                candidate = None
            else:
                candidate = champ.clone()
                checkpoint("runner:training")
                t0 = time.process_time()
                candidate.fit(spec.features_frame(train), spec.target_values(train[spec.target]))
                training["cpu_s"] = time.process_time() - t0
        training["holdout_rows"] = len(holdout)
        record.training = training
        if candidate is None:
            training.setdefault("skipped", "no candidate")
            return
        training["rows"] = len(train)
        training["batches"] = sorted(set(int(s) for s in train[SEQ]))
        fp = _data_fingerprint(train, spec)
        training.update({k: fp[k] for k in ("time_min", "time_max") if k in fp})
        checkpoint("runner:trained")

        # ---------------------------------------------------------------- gate
        self._progress("gating the candidate")
        metrics: dict[str, Any] = {"train_rows": len(train), "train_cpu_s": round(training["cpu_s"], 4)}
        passed = True
        if gate_cfg.enabled and len(holdout) >= max(1, getattr(gate_cfg, "min_rows", 1)):
            from ..policy import gate_passes

            Xh, yh = spec.features_frame(holdout), spec.target_values(holdout[spec.target])
            margin, confidence = gate_cfg.for_action(action)
            champ_value, champ_losses = evaluate_rows(metric, champ, Xh, yh)
            cand_value, cand_losses = evaluate_rows(metric, candidate, Xh, yh)
            passed, explanation = gate_passes(champ_value, cand_value, metric.name, margin, confidence=confidence,
                                              champion_losses=champ_losses, candidate_losses=cand_losses)
            record.gate = {
                "metric": metric.name,
                "rows": len(holdout),
                "champion": champ_value,
                "candidate": cand_value,
                "margin": margin,
                "confidence": confidence,
                "passed": bool(passed),
                "explanation": explanation,
            }
            metrics[metric.name] = cand_value
            metrics["holdout_rows"] = len(holdout)
        else:
            reason = "gate disabled by the policy" if not gate_cfg.enabled else f"gate skipped: {len(holdout)} holdout rows"
            record.gate = {"metric": metric.name, "passed": True, "skipped": True, "explanation": reason}
            metrics[metric.name] = champ_v.metrics.get(metric.name)

        if passed and action != "retrain" and len(holdout) and getattr(candidate, "update_relearns_window", False):
            training["holdout_learned"] = 0  # a windowed update (LightGBM `mode: correct`) gets them with relearn_batches
        elif passed and action != "retrain" and len(holdout) and not record.gate.get("skipped"):
            # Learn the gate's holdout once the candidate passed: an update otherwise never sees
            # those rows (the next update starts after this batch). Few rows, so cheap.
            t0 = time.process_time()
            if online and params.get("passes") is not None:
                rounds = int(params["passes"])  # passes over the holdout rows, as over the batch
            else:
                kept = training.get("rounds_kept") or params.get("rounds") or 10  # early stopping chose fewer
                rounds = max(1, round(kept * len(holdout) / (len(train) + len(holdout))))
            wanted = {"rounds": rounds, "replay_fraction": 0.0, "l2_regularization": params.get("l2_regularization")}
            kwargs = {k: v for k, v in wanted.items() if v is not None and k in getattr(candidate, "update_overrides", ())}
            candidate.update(spec.features_frame(holdout), spec.target_values(holdout[spec.target]), **kwargs)
            training["cpu_s"] += time.process_time() - t0
            training["holdout_learned"] = len(holdout)
            training["holdout_rounds"] = kwargs.get("rounds")

        # ---------------------------------------------------------------- register
        self._progress("registering")
        if action == "retrain":
            monitor = _fit_monitor(policy, spec, train, candidate)
        else:
            monitor = bundle.monitor
        new_bundle = ModelBundle(candidate, monitor, spec)
        dec = dict(record.decision or {})
        dec["run_id"] = record.run_id
        dec["batch_sha256"] = record.batch["sha256"]
        attachments = {}
        if record.drift is not None:
            attachments["drift_report.json"] = json.dumps(record.drift, indent=2)
        v = self.registry.register(
            new_bundle, action=action, parent=champ_v.version, metrics=metrics, data=fp, decision=dec, attachments=attachments or None
        )
        record.registered = v.version
        if passed:
            self.registry.promote(v.version, alias="champion", reason=f"run {record.run_id}: {decision.rule}")
            record.promoted = v.version
            record.serving = v.version
            state.consecutive_gate_refusals = 0
            state.baseline, state.previous_metric = [], None  # a new champion earns its own baseline
            state.last_trained_seq = seq
            if action == "retrain":
                state.last_retrain_time = _iso(batch_time) if batch_time is not None else state.last_retrain_time
                state.last_retrain_seq = seq
                state.updates_since_retrain = 0
                state.rows_at_retrain = len(train) + len(holdout)
                state.rows_since_retrain = 0
                state.retrain_baseline = []  # the retrained model sets the level updates must keep
                state.previous_metric_since_retrain = None
            else:
                state.updates_since_retrain += 1
        else:
            self.registry.promote(v.version, alias="challenger", reason=f"run {record.run_id}: gate refused")
            state.consecutive_gate_refusals += 1
            if action == "retrain":
                # A refused retrain is not retried on the very next batch: a retrain forced by
                # max_consecutive_updates (or a due schedule) otherwise repeats every batch until one passes.
                state.updates_since_retrain = 0
                state.last_retrain_seq = seq
                state.rows_since_retrain = 0
            if state.consecutive_gate_refusals >= 2:
                record.needs_attention.append(f"the gate refused {state.consecutive_gate_refusals} candidates in a row")

    def _prune(self, policy, state: _State, batch_time: datetime | None) -> dict[str, Any]:
        """Apply retention after a completed run: the data store keeps what the policy's retrain
        windows, updates and the gate need (bounded by ``retention.data_rows`` when a window is
        ``all``); run records beyond ``retention.runs``, and versions beyond
        ``retention.versions``, are removed (the current champion and challenger never)."""
        retention = self.config.get("retention") or {}
        removed: dict[str, Any] = {}
        seqs = self.store.sequences()
        if seqs:
            windows = [policy.params_for("retrain").get("window")]
            windows += [policy.params_for("retrain", r).get("window") for r in [*policy.rules, policy.fallback]]
            cap = retention.get("data_rows")
            if cap is None and any(w in (None, "all") or not isinstance(w, dict) for w in windows):
                windows = []  # an unbounded window keeps everything: no need to read the store
            meta = self.store.partition_info(target=self.spec.target, times=self.spec.times) if windows else []
            keep_from = []
            for w in windows:
                if w in (None, "all") or not isinstance(w, dict):
                    keep_from.append(_seq_for_rows(meta, cap) if cap else seqs[0])
                elif w.get("rows"):
                    keep_from.append(_seq_for_rows(meta, int(w["rows"])))
                elif w.get("days") and batch_time is not None:
                    cutoff = pd.Timestamp(batch_time) - pd.Timedelta(days=float(w["days"]))
                    later = [m["seq"] for m in meta if m["time_max"] is not None and m["time_max"] > cutoff]
                    keep_from.append(min(later) if later else seqs[-1])
                else:
                    keep_from.append(seqs[0])
            if keep_from:
                # rows the serving model has not learned yet feed the next update and the gate
                oldest = min(min(keep_from), state.last_trained_seq + 1)
                removed["data_batches"] = self.store.prune(oldest)
        keep_runs = retention.get("runs")
        if keep_runs is not None and len(state.runs) > keep_runs:
            old, state.runs = state.runs[:-keep_runs], state.runs[-keep_runs:]
            for run_id in old:
                shutil.rmtree(self.root / "runs" / run_id, ignore_errors=True)
            removed["runs"] = len(old)
        keep_versions = retention.get("versions")
        if keep_versions is not None:
            res = self.registry.gc(keep_last=keep_versions, force=True)
            removed["versions"] = list(res.removed_versions)
        return removed


def _seq_for_rows(meta: list[dict[str, Any]], rows: int | None) -> int:
    """Oldest batch to keep so the newest batches hold at least ``rows`` labelled rows."""
    total = 0
    for m in reversed(meta):
        total += m["labelled"]
        if rows is not None and total >= rows:
            return m["seq"]
    return meta[0]["seq"]


BASELINE_BATCHES = 3


def _baseline(state: _State, at_promotion: float | None, since_retrain: bool = False) -> float | None:
    """The champion's reference metric for ``performance_drop``: its mean metric on the first
    (up to ``BASELINE_BATCHES``) labelled batches it served — out of sample, unlike the gate
    holdout, whose rows sit right next to the training rows in time and flatter the model.
    Until it has served a labelled batch, the holdout value at promotion. ``since_retrain``:
    the same for ``drop_since_retrain``, over the first batches served after the last retrain
    (promoted updates do not reset it)."""
    values = state.retrain_baseline if since_retrain else state.baseline
    if values:
        return float(np.mean(values))
    return at_promotion


def _data_fingerprint(rows: pd.DataFrame, spec: TableSpec) -> dict[str, Any]:
    """What a version was trained on: content sha256 (bookkeeping columns left out), row count
    and, with a time column, the time range."""
    fp: dict[str, Any] = {"sha256": frame_sha256(rows.drop(columns=[SEQ, POS], errors="ignore")), "rows": len(rows)}
    times = spec.times(rows, what="training rows")
    if times is not None:
        fp.update(time_min=_iso(times.min()), time_max=_iso(times.max()))
    return fp


def _time_order(df: pd.DataFrame, spec: TableSpec) -> np.ndarray:
    """Row order by time (stable: batch sequence and position break ties)."""
    if len(df) == 0:
        return np.arange(0)
    keys = []
    if spec.time_column is not None:
        keys.append(spec.times(df, what="stored rows").to_numpy())
    if SEQ in df.columns:
        keys.append(df[SEQ].to_numpy())
        keys.append(df[POS].to_numpy())
    if not keys:
        return np.arange(len(df))
    return np.lexsort(tuple(reversed(keys)))


def _holdout_size(policy, n: int, *, always: bool = False) -> int:
    """Rows held out from ``n`` time-ordered rows: the gate's ``holdout`` (``rows: N``, or a
    fraction of the ``n`` rows), at most half of them. ``always`` holds out even with the gate
    off (init needs a holdout metric as the baseline of ``performance_drop``)."""
    gate = policy.gate
    if not gate.enabled and not always:
        return 0
    rows = getattr(gate, "holdout_rows", None)
    frac = getattr(gate, "holdout_fraction", None)
    if rows:
        h = int(rows)
    elif frac:
        h = int(round(frac * n))
    else:
        h = int(round(0.2 * n))
    return max(0, min(h, n // 2))


def _window(pool: pd.DataFrame, window: Any, spec: TableSpec, batch_time: datetime | None) -> pd.DataFrame:
    """Rows of the retrain window: ``None``/"all", ``{"rows": N}`` or ``{"days": N}`` before the batch time."""
    if window in (None, "all") or (isinstance(window, dict) and not window):
        return pool
    if isinstance(window, dict) and window.get("rows"):
        return pool.iloc[-int(window["rows"]) :]
    if isinstance(window, dict) and window.get("days"):
        if spec.time_column is None or batch_time is None:
            raise ConfigError("the policy's retrain window is in days, but this root has no time column; use {rows: N}")
        t = spec.times(pool, what="stored rows")
        cutoff = pd.Timestamp(batch_time) - pd.Timedelta(days=float(window["days"]))
        return pool[(t > cutoff).to_numpy()]
    raise ConfigError(f"unknown retrain window {window!r}; expected 'all', {{days: N}} or {{rows: N}}")
