"""Late labels and the performance estimate in the nightly runner.

A night whose batch comes without labels decides on the serving version's estimate of its metric
(``estimates: auto``, :func:`driftkeeper.policy.signals.estimate_sources`); labels that arrive on
a later night for older batches do three things here:

* **refit the estimator** (:func:`estimator_for`): rows whose labels arrived after the serving
  model's last training (``LABELLED_AT`` past the night it trained, ``state.last_trained_seq``)
  are rows that model never learned — it could not have: they had no label when it trained. The
  newest of them (at most :data:`ESTIMATOR_REFIT_ROWS`, at least
  :data:`~driftkeeper.keeper.bundle.ESTIMATOR_MIN_ROWS`) refit its estimator, which follows a
  relation that moved better than the one fitted on the gate's holdout at training time
  (``benchmarks/RESULTS.md``: Bike's estimate error 44.8 → 16.7). The refit is kept in
  ``ROOT/estimator.joblib`` for that version and used until the next refit or until another
  version serves; a training row is never among its fitting rows.
* **settle the estimated debt** (:func:`account`, the rule in
  :class:`~driftkeeper.keeper.costs.Ledger`): the estimated excess loss accrued for those rows
  is withdrawn, the realised one accrued in its place.
* **put the realised value beside the estimate** (:func:`annotate_records`): the run record of
  each batch whose labels arrived gains ``estimated_metric.realised`` — the metric of the version
  that served it on its labelled rows, the night they arrived, and whether it lies within three
  total errors of the estimate — rewritten atomically.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .._util.io import write_bytes_atomic, write_json_atomic
from ..exceptions import DriftkeeperError
from ..metrics import evaluate, get_metric
from .bundle import ESTIMATOR_MIN_ROWS, REFERENCE_ROWS, estimate_batch, fit_estimator
from .store import LABELLED, LABELLED_AT, POS, SEQ

__all__ = ["ESTIMATOR_REFIT_ROWS", "REFIT_FILE", "account", "annotate_records", "commit", "context", "decision_dict", "errors",
           "estimate", "estimator_for", "load_refit", "realise_batch", "realised", "refit_rows", "sources_note"]

#: Most rows an estimator is refitted on: the newest labelled rows the serving model did not
#: learn. A few batches' worth — enough for DLE's cross-validated nanny, recent enough to follow
#: a relation that moves; a refit costs milliseconds (CBPE) to about a second (DLE).
ESTIMATOR_REFIT_ROWS = min(2000, REFERENCE_ROWS)
#: The estimator refitted on late labels for the serving version (``ROOT/estimator.joblib``).
REFIT_FILE = "estimator.joblib"


# --------------------------------------------------------------------------- the estimator
def load_refit(root: Path, version: int) -> dict[str, Any] | None:
    """The refitted estimator of ``version`` (``{"version", "night", "rows", "trained_seq",
    "estimator"}``), ``None`` when there is none for it (or the file is unreadable: the
    version's own estimator serves, and the next late labels refit it)."""
    path = Path(root) / REFIT_FILE
    if not path.exists():
        return None
    import joblib

    try:
        saved = joblib.load(path)
    except Exception:  # noqa: BLE001  (a file of another release or a torn disk: refitted on the next labels)
        return None
    return saved if isinstance(saved, dict) and saved.get("version") == version else None


def refit_rows(index: pd.DataFrame, trained_seq: int) -> pd.DataFrame:
    """The index rows an estimator of a model last trained on night ``trained_seq`` may be
    refitted on: labelled on a later night (never a row it trained on), the newest
    :data:`ESTIMATOR_REFIT_ROWS` of them, in the order their labels arrived."""
    unseen = index[index[LABELLED].to_numpy(bool) & (index[LABELLED_AT].to_numpy() > trained_seq)]
    unseen = unseen.sort_values([LABELLED_AT, SEQ, POS], kind="stable")
    return unseen.iloc[-ESTIMATOR_REFIT_ROWS:]


def _refit(spec: Any, store: Any, obs: Any, trained_seq: int, metric: str, night: int) -> dict[str, Any] | None:
    keys = refit_rows(obs.index, trained_seq)
    if len(keys) < ESTIMATOR_MIN_ROWS:
        return None
    tonight = keys[LABELLED_AT].to_numpy() == night  # labels not in the store until the night applies
    stored = store.rows(keys.loc[~tonight, [SEQ, POS]]) if (~tonight).any() else pd.DataFrame()
    late = obs.late_rows.merge(keys.loc[tonight, [SEQ, POS]], on=[SEQ, POS]) if tonight.any() else pd.DataFrame()
    rows = pd.concat([f for f in (stored, late) if len(f)], ignore_index=True)
    est = fit_estimator(spec, obs.bundle.adapter, rows, metric)
    if est is None:
        return None
    return {"version": obs.version.version, "night": night, "rows": len(rows), "trained_seq": trained_seq,
            "labelled_at": [int(keys[LABELLED_AT].min()), int(keys[LABELLED_AT].max())], "estimator": est}


def estimator_for(root: Path, spec: Any, store: Any, obs: Any, trained_seq: int, metric: str,
                  night: int) -> dict[str, Any] | None:
    """The refitted estimator tonight's estimate uses: refitted now when late labels arrived
    (kept in ``obs.refit`` for :func:`commit` to save), else the one saved for the serving
    version; ``None``: the version's own (its gate holdout's)."""
    from ..monitor.estimation import CLASSIFICATION_ESTIMATES, REGRESSION_ESTIMATES

    estimable = metric in (CLASSIFICATION_ESTIMATES if spec.task == "classification" else REGRESSION_ESTIMATES)
    if estimable and obs.late_rows is not None and len(obs.late_rows):
        t = time.process_time()
        fresh = _refit(spec, store, obs, trained_seq, metric, night)
        obs.timings["estimator_refit_cpu_s"] = round(time.process_time() - t, 4)
        if fresh is not None:
            obs.refit = fresh
            return fresh
    return load_refit(root, obs.version.version)


def estimate(spec: Any, store: Any, registry: Any, state: Any, obs: Any, metric: str, night: int,
             output: Any = None) -> None:
    """Tonight's ``obs.estimated``: the serving version's estimate of the batch, by the estimator
    :func:`estimator_for` picks, corrected by the errors of earlier estimates whose labels have
    arrived (:class:`~driftkeeper.monitor.tracking.EstimateTrack`; the realised values of the
    batches labelled tonight, ``obs.realised``, enter it first). ``obs.track`` is the track after
    tonight, for the state to keep. Its CPU counts as monitoring (``obs.timings``)."""
    t, c = time.perf_counter(), time.process_time()
    refit = estimator_for(Path(store.dir).parent, spec, store, obs, state.last_trained_seq, metric, night)
    obs.estimated = estimate_batch(obs.bundle, obs.X, metric, obs.version.version, output, refit)
    track = copy.deepcopy(state.track).for_metric(metric, state.last_retrain_seq)
    for seq, r in sorted(obs.realised.items()):
        if r["metric"] == metric:
            track.realise(seq, r["value"])
    if obs.estimated is not None and obs.estimated.get("value") is not None:
        corrected = track.estimate(night, float(obs.estimated["value"]))
        obs.estimated["value"] = corrected.value
        obs.estimated["tracking"] = corrected.to_dict()
    obs.track = track
    obs.timings["monitor_s"] = round(obs.timings.get("monitor_s", 0.0) + time.perf_counter() - t, 4)
    obs.timings["monitor_cpu_s"] = round(obs.timings.get("monitor_cpu_s", 0.0) + time.process_time() - c, 4)


def realise_batch(obs: Any, seq: int, metric: str, value: float | None) -> None:
    """A batch that came with its labels: its realised ``value`` enters tonight's track."""
    if obs.track is not None and obs.track.metric == metric:
        obs.track.realise(seq, value)


# --------------------------------------------------------------------------- debt and signals
def account(policy: Any, metric: str, batch: Any, obs: Any, ledger: Any, level: float | None,
            retrain_cost_s: float | None) -> None:
    """Tonight's estimate in the ledger: labels that arrived settle the estimated debt of their
    rows; a batch without labels notes its estimate and, under ``estimates: auto``, accrues its
    estimated excess over the retrain ``level`` (the rule: :class:`~driftkeeper.keeper.costs.Ledger`)."""
    from ..policy import higher_is_better
    from ..policy.signals import acted_estimate

    if obs.late_rows is not None and len(obs.late_rows):
        ledger.settle({int(s): int(n) for s, n in obs.late_rows[SEQ].value_counts().items()})
    value = (obs.estimated or {}).get("value")
    if batch.labelled or value is None:
        return
    ledger.note_estimate(batch.seq, obs.version.version, value)
    if policy.spec.estimates != "auto" or level is None:
        return
    # the excess the estimate's error cannot explain, as the signals read it
    acted = acted_estimate(value, metric, *errors(obs.estimated))
    excess = (level - acted) if higher_is_better(metric) else (acted - level)
    ledger.accrue_estimate(batch.seq, excess, len(batch.df), retrain_cost_s, level)


def errors(estimated: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """An estimate's error band, the one notion of it the rules, the ledger, the run summary and
    the realised-value annotation share: ``(sampling error, estimator error)``. The estimator's
    error is the track's measured one (how far the estimates of earlier batches by this line of
    models were from their realised values) once the track has scored
    :data:`~driftkeeper.monitor.tracking.MIN_SCORED` batches; before that — the first nights after
    a training — the larger of the estimator's ``fit_error`` (how uncertain the level it learned
    from its fitting rows is) and what the few scored batches showed: one batch whose estimate
    happened to be right must not narrow the band to the sampling error alone."""
    from ..monitor.tracking import MIN_SCORED

    def finite(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    est = estimated or {}
    tracking = est.get("tracking") or {}
    track, fit = finite(tracking.get("track_error")), finite(est.get("fit_error"))
    if track is not None and (tracking.get("scored") or 0) >= MIN_SCORED:
        return est.get("std_error"), track
    known = [e for e in (track, fit) if e is not None]
    return est.get("std_error"), max(known) if known else None


def context(state: Any, batch: Any, obs: Any) -> dict[str, Any]:
    """The :class:`~driftkeeper.policy.Context` fields of the estimate: its error band, whether the batch has
    labels, the previous batch's estimate (by the same version; since the last retrain) and the
    estimated part of the debt."""
    se, own_error = errors(obs.estimated)
    return {
        "estimated_metric_se": se,
        "estimated_metric_error": own_error,
        "batch_labelled": bool(batch.labelled),
        "previous_estimated_metric": state.ledger.previous_estimate(batch.seq, obs.version.version),
        "previous_estimated_metric_since_retrain": state.ledger.previous_estimate(batch.seq),
        "estimated_debt": obs.ledger.estimated_debt() if obs.ledger is not None else None,
    }


def decision_dict(decision: Any, obs: Any) -> dict[str, Any]:
    """The run record's ``decision``, with ``signals_from`` when this batch's labels were not in
    (which signals read its estimate, which the worse late labels)."""
    d = decision.to_dict()
    if obs.signals_from:
        d["signals_from"] = dict(obs.signals_from)
    return d


def sources_note(decision: Any, obs: Any) -> str:
    """The decision text's note of the conditions that read an estimate, or the late labels that
    were worse than it, while this batch's labels are not in (``""`` when none did;
    :func:`driftkeeper.policy.signals.sources_text`)."""
    from ..policy.signals import sources_text

    return "".join(f"; {part}" for part in sources_text(decision, obs.signals_from or {}))


# --------------------------------------------------------------------------- old records
def _run_dir(root: Path, state: Any, seq: int) -> Path | None:
    """The run folder of batch ``seq`` (runs are appended one per committed night; retention
    drops the oldest), ``None`` when it is gone."""
    k = seq - 1 - (state.seq - len(state.runs))
    return Path(root) / "runs" / state.runs[k] if 0 <= k < len(state.runs) and seq >= 1 else None


def _labelled_rows(store: Any, obs: Any, seq: int, late: pd.DataFrame, night: int) -> pd.DataFrame:
    """Every labelled row of batch ``seq`` once tonight's labels are in: those labelled on earlier
    nights (from the store) and tonight's ``late`` rows (not stored yet)."""
    index = obs.index
    mask = (index[SEQ].to_numpy() == seq) & index[LABELLED].to_numpy(bool) & (index[LABELLED_AT].to_numpy() != night)
    return pd.concat([store.rows(index.loc[mask, [SEQ, POS]]), late], ignore_index=True) if mask.any() else late


def realised(root: Path, store: Any, registry: Any, state: Any, obs: Any, night: int) -> dict[int, dict[str, Any]]:
    """The realised metric of each earlier batch whose labels arrived tonight and whose run record
    holds an estimate: the metric of the version that served it, on its labelled rows (earlier
    nights' and tonight's). Reads only; :func:`annotate_records` writes them into the records."""
    if obs.late_rows is None or not len(obs.late_rows):
        return {}
    done: dict[int, dict[str, Any]] = {}
    models = {obs.version.version: obs.bundle}  # each with its own table schema
    for seq, late in obs.late_rows.groupby(SEQ, sort=True):
        folder = _run_dir(root, state, int(seq))
        try:
            record = json.loads((folder / "record.json").read_text()) if folder is not None else None
        except (OSError, ValueError):
            record = None
        est = (record or {}).get("estimated_metric")
        if not est or est.get("version") is None or est.get("value") is None:
            continue
        version = int(est["version"])
        if version not in models:
            try:
                models[version] = registry.load(version)
            except DriftkeeperError:  # the version was removed: no model left to score
                models[version] = None
        if models[version] is None:
            continue
        bundle, rows = models[version], _labelled_rows(store, obs, int(seq), late, night)
        spec = bundle.spec
        value = evaluate(get_metric(est["metric"], spec.task), bundle.adapter, spec.features_frame(rows),
                         spec.target_values(rows[spec.target]))
        done[int(seq)] = {"value": value, "rows": len(rows), "metric": est["metric"], "folder": folder, "record": record}
    return done


def annotate_records(obs: Any, night: int, run_id: str) -> list[int]:
    """Give the record of each batch whose labels arrived tonight its realised metric beside its
    estimate (``estimated_metric.realised``, computed by :func:`realised`; ``agrees``: within 3 of
    the estimate's whole error band, :func:`errors`), written atomically.
    Returns the batches annotated."""
    done = []
    for seq, r in sorted((obs.realised or {}).items()):
        record = r["record"]
        est = record["estimated_metric"]
        total = math.hypot(*(e or 0.0 for e in errors(est)))
        est["realised"] = {"value": r["value"], "rows": r["rows"], "night": night, "run_id": run_id,
                           "agrees": bool(abs(r["value"] - est["value"]) <= 3 * total)}
        write_json_atomic(r["folder"] / "record.json", record)
        done.append(int(seq))
    return done


def commit(root: Path, store: Any, registry: Any, state: Any, obs: Any, night: int, run_id: str) -> None:
    """What tonight's late labels leave on disk before the state commits: the realised values in
    the old records and the refitted estimator. Both are rewritten the same way if the night is
    run again after a kill."""
    annotate_records(obs, night, run_id)
    if obs.refit is not None:
        import joblib

        buf = io.BytesIO()
        joblib.dump(obs.refit, buf)
        write_bytes_atomic(Path(root) / REFIT_FILE, buf.getvalue())
