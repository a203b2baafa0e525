"""The nightly runner and the embedding API: :class:`Keeper`.

The only module that sequences side effects. One :meth:`Keeper.step` holds the run lock
(``ROOT/.run.lock``; a second run fails at once with exit code 3) and goes through five steps:

1. **read** — validate the batch (and late labels) against the schema fixed at init; a bad batch
   is refused before anything is written; a batch already processed is a no-op (idempotent);
2. **observe** — the champion's drift check and its metric on newly labelled rows;
3. **decide** — the policy's :class:`~driftkeeper.policy.Decision` (pure), and for a training
   decision the :class:`~driftkeeper.keeper.plan.TrainingPlan` (which rows train, which are held
   out; pure, from the data store's row index). ``--dry-run`` stops here and shows both;
4. **apply** — store the batch under ``ROOT/data/``, train the planned candidate, gate it
   against the champion, register it and promote it (or keep it as challenger), or roll back;
5. **commit** — the run record under ``ROOT/runs/`` and, last, the runner state (the commit
   point), then retention.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .._util.io import read_table, write_json_atomic
from .._util import memory
from ..adapters.lightgbm import night_cache
from .._util.testhooks import checkpoint
from .._util.timeutil import iso
from ..exceptions import ConfigError, DriftkeeperError, RegistryError, SchemaError
from ..metrics import evaluate
from ..table import TableSpec, frame_sha256
from . import apply, late_labels, night, schema_change
from .bundle import ModelBundle, fit_estimator, fit_monitor
from .costs import work_of
from .plan import holdout_size, time_order
from .records import RunRecord
from .retention import prune
from .root import CONFIG_FILE, LOCK_FILE, POLICY_FILE, STATE_FILE, acquire_lock, leftovers, read_config, read_state, release_lock
from .state import FORMAT_VERSION, RunnerState
from .store import LABELLED_AT, POS, SEQ, TIME, DataStore

__all__ = ["Keeper", "ModelBundle", "RunRecord"]

RETENTION_KEYS = ("versions", "runs", "data_rows")


def _check_retention(retention: dict[str, Any]) -> dict[str, Any]:
    for key, value in retention.items():
        if key not in RETENTION_KEYS:
            raise ConfigError(f"unknown retention setting {key!r}; expected versions, runs or data_rows")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"retention {key} must be a positive integer or None, got {value!r}")
    return retention


def data_fingerprint(rows: pd.DataFrame, spec: TableSpec) -> dict[str, Any]:
    """What a version was trained on: content sha256 (bookkeeping columns left out), row count
    and, with a time column, the time range."""
    fp: dict[str, Any] = {"sha256": frame_sha256(rows.drop(columns=[SEQ, POS, LABELLED_AT], errors="ignore")), "rows": len(rows),
                          "features": list(spec.features)}
    times = spec.times(rows, what="training rows")
    if times is not None:
        fp.update(time_min=iso(times.min()), time_max=iso(times.max()))
    return fp


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
        self._schema: schema_change.SchemaChange | None = None  # tonight's, set by each step
        self._progress: Callable[[str], None] = lambda phase: None

    @property
    def registry(self):
        if self._registry is None:
            from ..registry import Registry

            self._registry = Registry(self.root)
        return self._registry

    # ------------------------------------------------------------------ set-up
    @classmethod
    def init(cls, root: str | Path, model: Any, data: pd.DataFrame | str | Path, *, target: str,
             policy: str | Path = "default", time_column: str | None = None, id_column: str | None = None,
             exclude: tuple[str, ...] | list[str] = (), task: str | None = None,
             retention: dict[str, int | None] | None = None, dask_client: Any = None) -> "Keeper":
        """Train version 1 on ``data``, fit its drift reference, score it on the holdout (the newest
        labelled rows), register and promote it. ``root`` must be missing or empty.

        ``retention`` bounds what ``root`` keeps: ``versions`` (newest N model versions; older
        ones are deleted even if they once were champion — the current champion and challenger
        never), ``runs`` (newest N run records) and ``data_rows`` (labelled rows kept for
        retrain windows that say ``all``). ``None`` (the default for each) keeps everything.

        ``dask_client`` (a ``distributed.Client``): a LightGBM version 1 is trained by that
        cluster through ``lightgbm.dask`` (``data`` is still read here); the registered model is
        an ordinary local one. None: everything in this process.
        """
        from ..adapters import make_adapter
        from ..policy import load_policy
        from ..registry import Registry

        root = Path(root)
        if root.exists() and any(root.iterdir()):
            if (root / CONFIG_FILE).exists():
                raise ConfigError(f"{root} is already initialised (found {CONFIG_FILE}); use Keeper.open or a new folder")
            raise ConfigError(f"{root} is not empty; init needs a missing or empty folder")
        pol = load_policy(policy)
        df = read_table(data, what="data") if isinstance(data, (str, Path)) else data
        spec = TableSpec.from_frame(df, target=target, time_column=time_column, id_column=id_column, exclude=exclude, task=task)
        spec.validate(df, what="initial data", require_target=True)
        pol.check_columns(spec.kinds, "the initial data")
        adapter = make_adapter(model)
        if adapter.task != spec.task:
            raise ConfigError(f"the model is a {adapter.task} model but target {target!r} looks like {spec.task}; pass task= or another model")
        retention = _check_retention(dict(retention or {}))
        metric = night.metric_of(pol, spec)
        df = df.reset_index(drop=True)
        times = spec.times(df, what="initial data")
        if times is not None:
            df = df.iloc[time_order(pd.DataFrame({TIME: times, SEQ: 0, POS: np.arange(len(df))}))]
            df = df.reset_index(drop=True)
        holdout_n = holdout_size(pol.gate, len(df), always=True)
        train, holdout = df.iloc[: len(df) - holdout_n], df.iloc[len(df) - holdout_n :]
        if len(train) < 2:
            raise SchemaError(f"initial data has {len(df)} rows: too few to train and hold out {holdout_n}")
        t0 = time.process_time()
        if dask_client is not None and getattr(adapter, "kind", None) == "lightgbm":
            from ._dask import fit_frame

            t0 = time.perf_counter()  # the cluster's CPU is not measured here: its wall time
            fit_frame(adapter, spec.features_frame(train), spec.target_values(train[spec.target]), dask_client)
            cpu = time.perf_counter() - t0
        else:
            adapter.fit(spec.features_frame(train), spec.target_values(train[spec.target]))
            cpu = time.process_time() - t0
        metrics: dict[str, Any] = {"train_rows": len(train), "train_cpu_s": round(cpu, 4)}
        if len(holdout):
            metrics[metric.name] = evaluate(metric, adapter, spec.features_frame(holdout), spec.target_values(holdout[spec.target]))
            metrics["holdout_rows"] = len(holdout)
        monitor = fit_monitor(pol, spec, train, adapter)
        estimator = fit_estimator(spec, adapter, holdout, metric.name)

        root.mkdir(parents=True, exist_ok=True)
        registry = Registry(root)
        config = {"format_version": FORMAT_VERSION, "retention": retention, "spec": spec.to_dict(),
                  "policy_source": str(pol.source), "metric": metric.name,
                  "created_at": datetime.now(timezone.utc).isoformat()}
        shutil.copyfile(pol.source, root / POLICY_FILE)
        decision = {"action": "initial", "rule": "init", "policy": pol.name, "seq": 0}
        v = registry.register(ModelBundle(adapter, monitor, spec, estimator), action="initial", metrics=metrics,
                              data=data_fingerprint(train, spec), decision=decision)
        registry.promote(v.version, alias="champion", reason="initial version")
        keeper = cls(root, config)
        keeper.store.add_batch(0, df, spec.target)
        keeper.store.save_index(DataStore.index_of(df, spec, seq=0))
        batch_time = iso(times.max()) if times is not None else None
        state = RunnerState(seq=0, last_batch_time=batch_time, last_retrain_time=batch_time, last_trained_seq=0,
                            rows_at_retrain=len(train))
        state.processed[frame_sha256(df)] = "init"
        trees = getattr(adapter, "n_trees", None)
        # measured, not spent: the budget is a share of what retraining every *night* costs, and
        # version 1 is trained whatever the policy
        state.costs.observe("retrain", work_of("retrain", len(train), trees=trees), cpu, trees=trees, provisional=True)
        write_json_atomic(root / CONFIG_FILE, config)
        (root / LOCK_FILE).touch()
        keeper._write_state(state)
        keeper._registry = registry
        return keeper

    @classmethod
    def open(cls, root: str | Path) -> "Keeper":
        """Reopen a keeper created by :meth:`init` (or ``driftkeeper init``)."""
        root = Path(root)
        return cls(root, read_config(root))

    # ------------------------------------------------------------------ queries
    def policy(self):
        from ..policy import load_policy

        return load_policy(self.root / POLICY_FILE)

    def champion(self):
        """The serving model adapter (``predict`` / ``predict_proba`` on a feature frame)."""
        return self.registry.load("champion").adapter

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predict with the champion on a frame with its features (extra columns ignored)."""
        bundle = self.registry.load("champion")  # its own features: the serving schema, whatever keeper.json says
        return bundle.adapter.predict(bundle.spec.features_frame(df))

    def history(self, limit: int | None = None):
        return self.registry.history(limit=limit)

    def state(self) -> dict[str, Any]:
        return read_state(self.root).to_dict()

    def _write_state(self, state: RunnerState) -> None:
        checkpoint("runner:before-state")
        write_json_atomic(self.root / STATE_FILE, state.to_dict())

    def leftovers(self) -> list[Path]:
        """Temp files a killed run left in the runner's folders (the registry reports its own)."""
        return leftovers(self.root)

    def clean_leftovers(self) -> list[Path]:
        """Remove :meth:`leftovers`. Call only while holding the run lock (``step`` does)."""
        junk = self.leftovers()
        for p in junk:
            p.unlink(missing_ok=True)
        return junk

    @contextlib.contextmanager
    def locked(self):
        """Hold the run lock (an OS file lock: it dies with its process, so a killed run never
        blocks the next). Fails at once with :class:`LockError` naming the holder."""
        lock = acquire_lock(self.root)
        try:
            yield
        finally:
            release_lock(self.root, lock)

    # ------------------------------------------------------------------ manual moves
    def rollback(self, to: int | str | None = None, reason: str | None = None):
        """Move the champion back one step (or to ``to``) under the run lock, and reset what the
        runner knows of the serving model: its baselines, and which batches it has learned (so the
        next update learns every batch the restored version has not — known for versions this
        release registered, and for older ones while the root keeps every run). Returns the new
        champion."""
        with self.locked():
            state = read_state(self.root)
            v = self.registry.rollback(to=to, reason=reason)
            schema_change.sync(self, write=True)  # keeper.json: the restored version's features
            state.after_rollback(self._trained_seq(v, state))
            self._write_state(state)
            return v

    def promote(self, ref: int | str, reason: str | None = None):
        """Make ``ref`` the champion under the run lock, with the same reset as :meth:`rollback`.
        Returns the new champion (unchanged state when ``ref`` already is the champion)."""
        with self.locked():
            state = read_state(self.root)
            before = self.registry.get("champion").version
            v = self.registry.promote(ref, alias="champion", reason=reason)
            schema_change.sync(self, write=True)  # keeper.json: the promoted version's features
            if v.version != before:
                state.after_rollback(self._trained_seq(v, state))
                self._write_state(state)
            return v

    def _trained_seq(self, version: Any, state: RunnerState) -> int | None:
        """The newest batch ``version`` learned from: recorded at registration; for versions of
        an older release, from the run that made it when the run list is complete."""
        dec = version.decision or {}
        if dec.get("seq") is not None:
            return int(dec["seq"])
        if dec.get("action") == "initial":
            return 0
        run_id = dec.get("run_id")
        if run_id in state.runs and len(state.runs) == state.seq:
            return state.runs.index(run_id) + 1
        return None

    # ------------------------------------------------------------------ one night
    def step(self, batch: pd.DataFrame | str | Path, *, labels: pd.DataFrame | str | Path | None = None,
             dry_run: bool = False, html: bool = True, progress: Callable[[str], None] | None = None,
             exclude: tuple[str, ...] | list[str] = (), dask_client: Any = None) -> RunRecord:
        """Run one night on ``batch``: read, observe, decide (and plan), apply, commit. See the
        module docstring.

        ``exclude`` takes columns out of the features from tonight on, as ``init`` does (a feature
        leaves through a retrain without it; kept in ``keeper.json``); a batch whose columns differ
        from the model's is the policy's ``schema_change`` (see :mod:`.schema_change`).

        ``batch`` and ``labels`` are frames or file paths (CSV, CSV.gz, parquet). ``progress``
        is called with the name of each phase as it starts (the CLI shows it on a terminal).
        ``dry_run`` returns the decision and the training plan and changes nothing.
        ``dask_client`` (a ``distributed.Client``): tonight's LightGBM retrain reads its window on
        that cluster and trains through ``lightgbm.dask``, and a ``correct`` update trains there
        too (without early stopping); see :func:`.apply.dask_training`. None: in this process.
        """
        self._progress = progress or (lambda phase: None)
        with self.locked(), apply.dask_training(dask_client), night_cache():
            return self._step(batch, labels=labels, dry_run=dry_run, html=html, exclude=exclude)

    def _step(self, batch_in: Any, *, labels: Any, dry_run: bool, html: bool, exclude: Any = ()) -> RunRecord:
        t_start = time.perf_counter()
        schema_change.sync(self, write=False)  # the champion's features; keeper.json follows once the batch is stored
        spec, state, policy = self.spec, read_state(self.root), self.policy()
        policy.check_columns(spec.kinds, "this root's table")
        metric = night.metric_of(policy, spec)
        stored = self.store.index(spec, upto=state.seq)  # what committed nights stored, without features
        name, frame = schema_change.load_batch(batch_in)
        change = self._schema = schema_change.detect(
            spec, frame, mode=policy.spec.schema_change, excluded=self.config.get("exclude") or (), exclude=exclude,
            store=self.store, stored=stored, policy=policy, name=name, registry=self.registry)
        batch = night.read(change.read, stored, state, frame, labels, name=name)
        if batch.sha in state.processed:
            schema_change.already_processed(change, state.processed[batch.sha], name)
            batch.info["processed_by"] = state.processed[batch.sha]
            return RunRecord(run_id=batch.run_id, status="already_processed", batch=batch.info,
                             serving=self.registry.get("champion").version)
        if not state.costs.retrains:
            self._seed_costs(state)
        self._progress("checking drift")
        obs = night.observe(change.serving, self.store, stored, self.registry, state, metric, batch, vanished=change.dropped)
        self._progress("deciding")
        ruled = night.decide(policy, spec, state, metric, batch, obs, self._can_rollback())
        decision = schema_change.override(ruled, change, policy, obs)
        plan = night.plan(policy, spec, state, decision, batch, obs)
        schema_change.probe(change, plan, obs, batch, self.store)  # before anything is written
        record = RunRecord(
            run_id=batch.run_id, status="dry_run" if dry_run else "completed", batch=batch.info,
            decision=late_labels.decision_dict(decision, obs),
            decision_text=self._decision_text(decision, obs.bundle.adapter) + late_labels.sources_note(decision, obs),
            plan=plan.to_dict() if plan else None,
            drift=obs.report.to_dict() if obs.report is not None else None, champion_metric=obs.champion_metric,
            serving=obs.version.version, labels=obs.late, warnings=list(getattr(obs.report, "warnings", [])) + obs.warnings,
            timings=dict(obs.timings), costs=dict(obs.costs), estimated_metric=obs.estimated,
        )
        schema_change.annotate(record, change, decision, self._decision_text(ruled, obs.bundle.adapter))
        if not dry_run:
            new_state = self._apply(record, batch, obs, decision, plan, policy, state)
            self._commit(record, batch, obs, new_state, policy, html)
            schema_change.persist_excludes(self, change)
        record.timings["total_s"] = round(time.perf_counter() - t_start, 4)
        if not dry_run:
            write_json_atomic(self.root / "runs" / record.run_id / "record.json", record.to_dict())
            late_labels.commit(self.root, self.store, self.registry, state, obs, batch.seq, record.run_id)
            self._write_state(new_state)
            self._retention(policy, new_state, batch, obs)
        return record

    def _apply(self, record: RunRecord, batch: night.Batch, obs: night.Observation, decision: Any, plan: Any,
               policy: Any, state: RunnerState) -> RunnerState:
        """Store the batch, then carry out the decision. Returns the state after tonight."""
        self._progress(f"applying: {decision.action}")
        # what a killed run left: temp files, and partitions of a night that never committed (we
        # hold the lock, so none is live)
        self.clean_leftovers()
        self.store.drop_after(state.seq)
        spec, index = self.spec, night.index_tonight(self.spec, obs, batch)
        self.store.forget_index()
        if batch.labels is not None:
            hit = obs.index[spec.id_column].isin(batch.labels[spec.id_column])
            self.store.attach_labels(batch.labels, id_column=spec.id_column, target=spec.target, what="labels file",
                                     seqs=np.unique(obs.index.loc[hit, SEQ].to_numpy()).tolist(), night=batch.seq)
        self.store.add_batch(batch.seq, batch.df, spec.target)
        # stored: nothing after this reads the batch's frame, and a training that reads its rows
        # back from the store should not hold the batch twice (a night's memory follows the batch)
        batch.df = batch.df.iloc[:0]
        memory.release()  # what reading, predicting and checking the batch freed, before training
        self.store.save_index(index)
        checkpoint("runner:data-written")
        new_state = copy.deepcopy(state)
        new_state.after_batch(batch.seq, iso(batch.time), obs.newly_labelled, obs.metric_value)
        new_state.ledger = obs.ledger
        if obs.track is not None:
            new_state.track = obs.track
        if plan is not None:
            t = time.perf_counter()
            self._train_gate_register(record, batch, obs, decision, plan, policy, new_state)
            record.timings["train_s"] = round(time.perf_counter() - t, 4)
        elif decision.action == "rollback":
            v = self.registry.rollback(reason=str(decision))
            record.serving = v.version
            new_state.after_rollback(self._trained_seq(v, state))
        if decision.action == "none" and obs.report is not None and obs.report.dataset_drift and decision.guards:
            record.needs_attention.append("dataset drift, but the policy's guards allowed no action")
        return new_state

    def _estimator(self, trained: Any, obs: night.Observation, metric: str, record: RunRecord,
                   spec: TableSpec | None = None) -> tuple[Any, int | None]:
        """A retrained candidate's performance estimator, fitted on its held-out rows; an updated
        one keeps its parent's (an update moves the model a little, and refitting every night
        would cost more than the update), as does a retrain with too few held-out rows."""
        if trained.plan.action == "retrain":
            t = time.process_time()
            est = fit_estimator(spec or self.spec, trained.candidate, trained.holdout, metric)
            record.timings["estimator_fit_cpu_s"] = round(time.process_time() - t, 4)
            if est is not None:
                return est, None
        parent = obs.bundle
        if getattr(parent, "estimator", None) is None:
            return None, None
        return parent.estimator, parent.estimator_version or obs.version.version

    def _train_gate_register(self, record: RunRecord, batch: night.Batch, obs: night.Observation, decision: Any,
                             plan: Any, policy: Any, state: RunnerState) -> None:
        change = self._schema
        spec, champ = (change.new if change.retrain else self.spec), obs.bundle.adapter  # a retrain with new features
        trained = schema_change.train(change, plan, champ, self.store, spec)
        record.training, record.warnings = trained.info, record.warnings + trained.warnings
        if trained.candidate is None:
            schema_change.not_applied(record, change, trained.info.get("skipped"))
            return
        info = trained.info
        fp = trained.data if trained.data is not None else data_fingerprint(trained.rows, spec)
        trained.info.update({k: fp[k] for k in ("time_min", "time_max") if k in fp})
        checkpoint("runner:trained")
        self._progress("gating the candidate")
        result = (schema_change.gate(change, trained, champ, obs.version.metrics, policy, spec) if change.retrain
                  else apply.gate(trained, champ, obs.version.metrics, policy, spec))
        record.gate = result.record
        apply.learn_holdout(trained, result, dict(decision.params or {}), champ.update_style == "online_update", spec)
        self._progress("registering")
        action = trained.plan.action
        read = (info["read_batches"], info["read_cpu_s"]) if info.get("read_batches") else None
        state.after_training(action, info["work"], info["cpu_s"], trees=info.get("trees"), rounds=info.get("trees"),
                             read=read)
        monitor = fit_monitor(policy, spec, trained.rows, trained.candidate) if action == "retrain" else obs.bundle.monitor
        estimator, estimator_version = self._estimator(trained, obs, night.metric_of(policy, spec).name, record, spec)
        if change.retrain:  # the lineage: the features this version gained and lost against its parent's
            fp["schema_change"] = change.lineage(obs.version.version)
            if estimator_version is not None:  # the parent's estimator reads the parent's features
                estimator, estimator_version = None, None
        dec = {**(record.decision or {}), "run_id": record.run_id, "batch_sha256": batch.sha, "seq": batch.seq}
        attachments = {"drift_report.json": json.dumps(record.drift, indent=2)} if record.drift is not None else None
        v = self.registry.register(ModelBundle(trained.candidate, monitor, spec, estimator, estimator_version), action=action,
                                   parent=obs.version.version, metrics=result.metrics, data=fp, decision=dec,
                                   attachments=attachments)
        record.registered = v.version
        if result.passed:
            self.registry.promote(v.version, alias="champion", reason=f"run {record.run_id}: {decision.rule}")
            record.promoted = record.serving = v.version
            if change.retrain:
                schema_change.adopt(self, spec)
            state.after_promotion(action, batch.seq, iso(batch.time), trained.n_rows + len(trained.holdout) + (0 if trained.stop is None else len(trained.stop)))
        else:
            self.registry.promote(v.version, alias="challenger", reason=f"run {record.run_id}: gate refused")
            schema_change.not_applied(record, change, "the gate kept the champion")
            state.after_refusal(action, batch.seq)
            if state.consecutive_gate_refusals >= 2:
                record.needs_attention.append(f"the gate refused {state.consecutive_gate_refusals} candidates in a row")

    def _commit(self, record: RunRecord, batch: night.Batch, obs: night.Observation, state: RunnerState,
                policy: Any, html: bool) -> None:
        """The HTML drift page, the budget's exchange rate for tomorrow, the record's costs, and
        the batch marked processed in ``state``; the caller writes the record, then the state."""
        self._progress("writing the run record")
        run_dir = self.root / "runs" / record.run_id
        if html and obs.report is not None:
            try:
                t = time.perf_counter()
                obs.bundle.monitor.html(obs.X, run_dir / "drift.html", target=obs.y, prediction=obs.prediction,
                                        report=obs.report)  # the night's check, not a second one
                record.html = str(run_dir / "drift.html")
                record.timings["html_s"] = round(time.perf_counter() - t, 4)
            except DriftkeeperError:
                raise
            except Exception as exc:  # a report page must never fail the night
                record.warnings.append(f"HTML drift report not written: {type(exc).__name__}: {exc}")
        state.ledger.adapt(policy.spec.budget, obs.costs.get("retrain_cost_s"))
        record.costs = {**obs.costs, "spent_s": state.ledger.spent_s, "budget_spent": state.ledger.spent_share(),
                        "debt": state.ledger.debt, "debt_cost_s": state.ledger.debt_cost_s(), "rate": state.ledger.rate}
        state.after_commit(batch.sha, record.run_id)

    def _retention(self, policy: Any, state: RunnerState, batch: night.Batch, obs: night.Observation) -> None:
        index = night.index_tonight(self.spec, obs, batch)
        pruned = prune(self.root, self.config.get("retention") or {}, policy, state, self.store, index,
                       self.registry, batch.time)
        if pruned.get("data_batches"):
            self.store.save_index(index)
        if any(pruned.values()):
            write_json_atomic(self.root / STATE_FILE, state.to_dict())

    def _seed_costs(self, state: RunnerState) -> None:
        """A root of a release that did not measure costs: its newest retrain (or version 1), as
        the registry recorded it, is the first measurement."""
        for v in self.registry.history():
            rows, cpu = v.metrics.get("train_rows"), v.metrics.get("train_cpu_s")
            if v.action in ("initial", "retrain") and rows and cpu:
                trees = (v.model or {}).get("n_trees")
                state.costs.observe("retrain", work_of("retrain", int(rows), trees=trees), float(cpu), trees=trees,
                                    provisional=v.action == "initial")
                return

    @staticmethod
    def _decision_text(decision: Any, champ: Any) -> str:
        """The decision in one line, with only the update parameters the serving model takes (the
        others listed as ignored)."""
        mode = (decision.params or {}).get("mode")
        takes = champ.update_overrides_for(mode if "mode" in champ.update_overrides else None)
        return decision.text(takes, online=champ.update_style == "online_update")

    def _can_rollback(self) -> bool:
        try:
            return self.registry.rollback_target("champion") is not None
        except RegistryError:
            return False
