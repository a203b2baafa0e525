"""Run records read into nights (``driftkeeper.dashboard.runs``), and the roots the dashboard,
``driftkeeper runs`` and the metrics-file tests share.

Roots come from the real runner (:func:`make_root`: a few LightGBM nights), from the 0.1 release
(``tests/data/root-v0.1``) and, for long histories, from synthetic nights cloned off a real
record (:func:`add_nights`, from ``benchmarks/dashboard_speed.py``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from conftest import make_stream
from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.dashboard import load_nights
from driftkeeper.dashboard.runs import parse_since

V01 = Path(__file__).parent / "data" / "root-v0.1"


def _benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


add_nights = _benchmark("dashboard_speed").add_nights


def make_root(path: Path, nights: int = 3, *, seed: int = 5) -> Path:
    """A real root: Keeper.init on a seeded stream and ``nights`` runs (x1, x2 shift from night 2).

    With 120 rows a batch (96 to learn, 24 held out) the default policy updates on night 1 and 3
    and retrains on night 2 (the data grew by half).
    """
    import lightgbm as lgb

    from driftkeeper import Keeper

    batches = make_stream(nights + 1, rows=120, seed=seed, shift_at=2)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, verbose=-1, n_jobs=1, deterministic=True)
    keeper = Keeper.init(path, model, batches[0], target="y", time_column="date", id_column="row_id")
    for b in batches[1:]:
        keeper.step(b, html=False)
    return path


def records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/record.json"))]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_nights_follow_the_records_of_a_real_root(real_root):
    recs = records(real_root)
    nights = load_nights(real_root)
    assert [n.run_id for n in nights] == [r["run_id"] for r in recs]
    assert [n.metric for n in nights] == [r["champion_metric"]["value"] for r in recs]
    assert [n.serving for n in nights] == [r["serving"] for r in recs]
    assert [n.action for n in nights] == [r["training"]["action"] if r.get("training") else r["decision"]["action"] for r in recs]
    assert [n.drift_share for n in nights] == [r["drift"]["drift_share"] for r in recs]
    assert [n.time.isoformat() for n in nights] == [r["batch"]["time_max"] for r in recs]
    assert nights[-1].drifted_columns == [c["name"] for c in recs[-1]["drift"]["columns"] if c["drifted"]]


def test_a_root_of_the_previous_release_reads_with_outcomes_and_retrain_levels(v01):
    nights = load_nights(v01)
    assert [n.action for n in nights] == ["warm_start", "retrain", "warm_start"]
    assert [n.outcome for n in nights] == ["promoted", "refused", "promoted"]
    assert [n.serving for n in nights] == [2, 2, 4]
    # rule drop-since-retrain retrains at 20% above the level since the last retrain: night 1's
    # rmse 1.5099 is 3.64% below that level, so the retrain fires at 1.5099 / (1 - 0.0364) * 1.2
    assert nights[0].retrain_level == pytest.approx(1.50993694555446 / (1 - 0.03643278590788218) * 1.2)
    assert nights[0].drifted_columns == ["cat"]
    assert all(n.html is None and n.estimated_metric is None for n in nights)


def test_records_with_missing_keys_still_read(root):
    run = root / "runs" / "20991231T000000000000Z-deadbeef"
    run.mkdir()
    (run / "record.json").write_text(json.dumps({"run_id": run.name, "status": "already_processed",
                                                 "batch": {"sha256": "ab", "rows": 3}, "serving": 2}))
    last = load_nights(root)[-1]
    assert (last.action, last.outcome, last.metric, last.drift_share, last.serving) == ("none", "already processed", None, None, 2)
    assert last.time.year == 2099  # no batch time: the run's start, from its id
    assert last.to_dict()["time"] == "2099-12-31T00:00:00+00:00"


def test_since_keeps_later_nights_and_bad_dates_are_refused(real_root):
    nights = load_nights(real_root)
    later = load_nights(real_root, since=nights[1].time)
    assert [n.run_id for n in later] == [n.run_id for n in nights[1:]]
    assert parse_since("2024-03-01").isoformat() == "2024-03-01T00:00:00+00:00"
    with pytest.raises(ValueError, match=r"--since 'March' is not a date; expected YYYY-MM-DD"):
        parse_since("March")


def test_a_folder_that_is_no_root_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a driftkeeper root"):
        load_nights(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_nights(tmp_path / "missing")


def test_a_broken_record_names_its_file(root):
    path = sorted((root / "runs").glob("*/record.json"))[0]
    path.write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_nights(root)
