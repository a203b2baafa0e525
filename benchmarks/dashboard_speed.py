"""Time ``driftkeeper dashboard`` on a year of nights.

    python benchmarks/dashboard_speed.py [--nights 365] [--root DIR]

A year of real nights takes hours to run, and the dashboard only reads records: one real night
runs (Keeper.init + one step, LightGBM, a small synthetic table), and :func:`add_nights` clones
its record (so every key the current runner writes is there) into the other nights, with a
seeded story: a metric that wanders and jumps, drift episodes on a few columns, updates on most
nights, retrains on a schedule and on drops, refused candidates (twice in a row: a night that
needs a person), skipped training, a rollback, data-quality warnings. The dashboard's tests use
:func:`add_nights` too. Prints the page's size, the first build in this process (imports
included: what a cron job pays) and the median of three more builds. The target: under 5 s for
365 nights, a few MB.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftkeeper.dashboard.runs import load_records


def _decide(rng: np.random.Generator, night: int, metric: float, level: float, since_retrain: int) -> tuple[str, str]:
    if metric > level and since_retrain >= 4:
        return "retrain", "drop-since-retrain"
    if since_retrain >= 25:
        return "retrain", "data-grown"
    if night % 97 in (30, 31):
        return "warm_start", "fallback"
    if night % 97 == 60:
        return "rollback", "bad-promotion"
    if rng.random() < 0.06:
        return "none", "fallback"
    return "warm_start", "moderate-drop-or-drift" if rng.random() < 0.3 else "fallback"


def _columns(template: list[dict[str, Any]], rng: np.random.Generator, episode: bool) -> list[dict[str, Any]]:
    out = []
    for i, col in enumerate(template):
        col = dict(col)
        shifted = episode and i % 3 == 0
        if col.get("stattest_type") == "p_value":
            col["score"] = float(rng.uniform(0.0, 0.01) if shifted else rng.uniform(0.02, 1.0))
            col["drifted"] = col["score"] < (col.get("threshold") or 0.05)
        else:
            thr = col.get("threshold") or 0.1
            col["score"] = float(thr * (rng.uniform(1.2, 3.0) if shifted else rng.uniform(0.0, 1.1)))
            col["drifted"] = col["score"] >= thr
        out.append(col)
    return out


def _record(tpl: dict[str, Any], rng: np.random.Generator, night: int, state: dict[str, Any], extras: bool) -> dict[str, Any]:
    rec = copy.deepcopy(tpl)
    sha = "".join(rng.choice(list("0123456789abcdef"), 64))
    started = state["started"] + timedelta(days=night + 1, seconds=float(rng.uniform(0, 60)))
    when = state["data_end"] + timedelta(days=night + 1)
    rec["run_id"] = started.strftime("%Y%m%dT%H%M%S%fZ") + f"-{sha[:8]}"
    rec["batch"] = {**rec.get("batch", {}), "source": f"batches/{(when - timedelta(days=1)):%Y-%m-%d}.csv", "sha256": sha,
                    "rows": int(rng.integers(80, 3000)), "time_min": (when - timedelta(days=1)).isoformat(),
                    "time_max": (when - timedelta(hours=2)).isoformat()}
    state["metric"] = max(0.2, state["metric"] * float(rng.normal(1.0, 0.03)) + (0.6 if night % 53 == 40 else 0.0))
    metric, level = state["metric"], state["base"] * 1.2
    action, rule = _decide(rng, night, metric, level, night - state["retrained"])
    drift = rec.setdefault("drift", {})
    drift["columns"] = _columns(drift.get("columns") or [], rng, episode=40 <= night % 53 <= 48)
    n_drifted = sum(c["drifted"] for c in drift["columns"])
    drift.update(n_drifted=n_drifted, drift_share=n_drifted / max(1, len(drift["columns"])))
    drift["dataset_drift"] = drift["drift_share"] >= (drift.get("drift_share_threshold") or 0.5)
    signals = {**rec.get("decision", {}).get("signals", {}), "metric": metric,
               "drop_since_retrain": metric / state["base"] - 1, "drift_share": drift["drift_share"]}
    conditions = [{"rule": "drop-since-retrain", "signal": "sustained_drop_since_retrain", "op": ">=", "value": 0.2,
                   "actual": signals["drop_since_retrain"], "held": action == "retrain", "missing": False}]
    rec["decision"] = {**rec.get("decision", {}), "action": action, "rule": rule, "requested": action, "guards": [],
                       "signals": signals, "conditions": conditions}
    rec["decision_text"] = f"{action} — rule {rule!r} " + ("fired" if rule != "fallback" else "(no rule fired)")
    rec["champion_metric"] = {"metric": state["name"], "value": metric, "baseline": state["base"], "rows": rec["batch"]["rows"]}
    _act(rec, rng, action, night, state)
    rec["warnings"] = [f"column 'x3': {rng.integers(5, 40)}% missing values (reference 0%)"] if rng.random() < 0.05 else []
    rec["timings"] = {"monitor_cpu_s": float(rng.uniform(0.05, 0.4)), "total_s": float(rng.uniform(1, 30))}
    rec["html"] = None
    if extras:
        rec["estimated_metric"] = {"metric": state["name"], "value": metric * float(rng.normal(1.0, 0.05))}
        state["allowance"] += 0.2 * 40.0  # a budget of 20% of a 40 s retrain a night
        spent = float(sum(state["cpu"]))
        rec["costs"] = {"budget": 0.2, "allowance_s": state["allowance"], "spent_s": spent, "budget_spent": spent / state["allowance"]}
    return rec


def _act(rec: dict[str, Any], rng: np.random.Generator, action: str, night: int, state: dict[str, Any]) -> None:
    """Training, gate, registry and attention fields for ``action`` (updates ``state``)."""
    rec.update(registered=None, promoted=None, gate=None, training=None, needs_attention=[], exit_code=0)
    cpu = 0.0
    if action in ("warm_start", "retrain"):
        cpu = float(rng.uniform(20, 45) if action == "retrain" else rng.uniform(0.5, 3))
        rec["training"] = {"action": action, "rows": int(rng.integers(500, 90000)), "cpu_s": cpu}
        if rec["batch"]["rows"] < 100:
            rec["training"] = {"action": action, "skipped": f"{rec['batch']['rows']} labelled rows; an update needs at least 100"}
        else:
            passed = rng.random() > 0.12 and night % 97 not in (30, 31)  # two refusals in a row: a person is needed
            state["version"] += 1
            rec["registered"] = state["version"]
            rec["gate"] = {"passed": passed, "explanation": f"gate {'passed' if passed else 'refused'}: candidate vs champion"}
            if passed:
                rec["promoted"] = state["serving"] = state["version"]
                state["refusals"] = 0
                if action == "retrain":
                    state["retrained"], state["base"] = night, state["metric"] * 0.8
                    state["metric"] = state["base"]
            else:
                state["refusals"] += 1
    elif action == "rollback":
        state["serving"] = max(1, state["serving"] - 1)
    if state["refusals"] >= 2:
        rec["needs_attention"], rec["exit_code"] = ["the gate refused 2 candidates in a row"], 1
    state["cpu"].append(cpu)
    rec["serving"] = state["serving"]


def add_nights(root: str | Path, n: int, *, seed: int = 0, extras: bool = False) -> list[Path]:
    """Write ``n`` synthetic nights under ``root`` (it needs one real record); return their files.

    The nights follow the newest record, one a day, in run time and in data time.
    ``extras`` adds what a policy with a compute budget and a label-free estimate add to records
    (``costs`` with a budget, ``estimated_metric``).
    """

    records = load_records(root)
    if not records:
        raise SystemExit(f"{root}: no run record to clone; run one real night first")
    tpl = records[-1][1]
    rng = np.random.default_rng(seed)
    champ = tpl.get("champion_metric") or {}
    metric = float(champ.get("value") or 1.0)
    state = {"name": champ.get("metric") or "rmse", "metric": metric, "base": metric, "retrained": 0,
             "version": int(tpl.get("registered") or tpl.get("serving") or 1), "serving": int(tpl.get("serving") or 1),
             "refusals": 0, "cpu": [], "allowance": 0.0}
    started = datetime.strptime(str(tpl["run_id"]).split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
    state["started"] = started
    data_end = (tpl.get("batch") or {}).get("time_max")
    state["data_end"] = datetime.fromisoformat(data_end) if data_end else started
    paths = []
    for night in range(n):
        rec = _record(tpl, rng, night, state, extras)
        path = Path(root) / "runs" / rec["run_id"] / "record.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec, indent=2), encoding="utf-8")
        paths.append(path)
    return paths


def table(n: int, seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    df["cat"] = rng.choice(["a", "b", "c"], size=n)
    df["date"] = (pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, 7, n)), unit="D")).strftime("%Y-%m-%d %H:%M")
    df["y"] = 3 * df.x1 - 2 * df.x2 + df.x3 * df.x4 + (df.cat == "a") + rng.normal(scale=0.5, size=n)
    return df


def real_root(root: Path) -> None:
    import lightgbm as lgb

    from driftkeeper import Keeper

    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1)
    keeper = Keeper.init(root, model, table(600, 0, "2024-01-01"), target="y", time_column="date")
    keeper.step(table(150, 1, "2024-01-08"), html=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--root", type=Path, help="Keep the root here (default: a temp folder).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "root"
        real_root(root)
        add_nights(root, args.nights - 1, seed=0)
        t = time.perf_counter()
        from driftkeeper.dashboard.page import build_dashboard

        out = build_dashboard(root)
        first = time.perf_counter() - t
        again = []
        for _ in range(3):
            t = time.perf_counter()
            build_dashboard(root)
            again.append(time.perf_counter() - t)
        print(f"{args.nights} nights: page {out.stat().st_size / 1e6:.1f} MB; "
              f"first build {first:.2f} s (imports included), then {statistics.median(again):.2f} s (median of 3)")


if __name__ == "__main__":
    main()
