"""Retention after a completed night: what the data store, the run records and the registry keep."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .state import RunnerState
from .store import DataStore

__all__ = ["prune"]


def _windows(policy: Any) -> list[Any]:
    """Every retrain window the policy can ask for (its own and each rule's)."""
    windows = [policy.params_for("retrain").get("window")]
    return windows + [policy.params_for("retrain", r).get("window") for r in [*policy.rules, policy.fallback]]


def _seq_for_rows(meta: list[dict[str, Any]], rows: int | None) -> int:
    """Oldest batch to keep so the newest batches hold at least ``rows`` labelled rows."""
    total = 0
    for m in reversed(meta):
        total += m["labelled"]
        if rows is not None and total >= rows:
            return m["seq"]
    return meta[0]["seq"]


def _keep_data_from(policy: Any, meta: list[dict[str, Any]], cap: int | None, batch_time: datetime | None) -> int | None:
    """Oldest batch the retrain windows need (``None``: keep everything)."""
    windows = _windows(policy)
    if cap is None and any(w in (None, "all") or not isinstance(w, dict) for w in windows):
        return None  # an unbounded window keeps everything
    keep_from = []
    for w in windows:
        if w in (None, "all") or not isinstance(w, dict):
            keep_from.append(_seq_for_rows(meta, cap) if cap else meta[0]["seq"])
        elif w.get("rows"):
            keep_from.append(_seq_for_rows(meta, int(w["rows"])))
        elif w.get("days") and batch_time is not None:
            cutoff = pd.Timestamp(batch_time) - pd.Timedelta(days=float(w["days"]))
            later = [m["seq"] for m in meta if m["time_max"] is not None and m["time_max"] > cutoff]
            keep_from.append(min(later) if later else meta[-1]["seq"])
        else:
            keep_from.append(meta[0]["seq"])
    return min(keep_from)


def prune(root: Path, retention: dict[str, Any], policy: Any, state: RunnerState, store: DataStore,
          index: pd.DataFrame, registry: Any, batch_time: datetime | None) -> dict[str, Any]:
    """Apply retention: the data store keeps what the policy's retrain windows, updates and the
    gate need (bounded by ``retention.data_rows`` when a window is ``all``); run records beyond
    ``retention.runs`` and versions beyond ``retention.versions`` are removed (the current
    champion and challenger never). ``index``: the store's row index after tonight's writes."""
    removed: dict[str, Any] = {}
    unbounded = retention.get("data_rows") is None and any(w in (None, "all") or not isinstance(w, dict)
                                                           for w in _windows(policy))
    meta = [] if unbounded else store.partition_info(index)  # (a pass over every stored row)
    if meta:
        keep = _keep_data_from(policy, meta, retention.get("data_rows"), batch_time)
        if keep is not None:
            # rows the serving model has not learned yet feed the next update and the gate
            removed["data_batches"] = store.prune(min(keep, state.last_trained_seq + 1))
    keep_runs = retention.get("runs")
    if keep_runs is not None and len(state.runs) > keep_runs:
        old, state.runs = state.runs[:-keep_runs], state.runs[-keep_runs:]
        for run_id in old:
            shutil.rmtree(root / "runs" / run_id, ignore_errors=True)
        removed["runs"] = len(old)
    keep_versions = retention.get("versions")
    if keep_versions is not None:
        removed["versions"] = list(registry.gc(keep_last=keep_versions, force=True).removed_versions)
    return removed
