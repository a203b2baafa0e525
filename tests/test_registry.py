"""The model registry's API: register, get/load, aliases, rollback, served_at, verify, gc."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from driftkeeper.registry import registry as registry_mod
from driftkeeper.exceptions import ConfigError, IntegrityError, LockError, NotFoundError, RegistryError
from driftkeeper.registry import LibraryVersionWarning, ModelVersion, Registry, fingerprint


class Described:
    """A picklable model-like object with describe(), like the adapters."""

    def __init__(self, w: float) -> None:
        self.w = w

    def describe(self) -> dict:
        return {"kind": "toy", "w": self.w, "n": np.int64(3)}


def fitted_lr() -> LinearRegression:
    X = np.arange(20, dtype=float).reshape(10, 2)
    return LinearRegression().fit(X, X @ np.array([1.5, -2.0]) + 0.5)


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "reg")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with (size, mtime_ns), SQLite's -wal/-shm included."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


# ---------------------------------------------------------------------------- opening
def test_open_missing_folder_creates_empty_registry(tmp_path):
    root = tmp_path / "a" / "b"
    reg = Registry(root)
    assert (root / "catalog.sqlite").is_file() and (root / "versions").is_dir()
    assert len(reg) == 0 and reg.history() == [] and reg.latest() is None and reg.aliases() == {}
    con = sqlite3.connect(root / "catalog.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()[0] == "1"
    con.close()


def test_open_accepts_runner_companions_and_refuses_foreign_folder(tmp_path):
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    (shared / "runs").mkdir()
    (shared / "keeper.json").write_text("{}")
    (shared / "state.json").write_text("{}")
    (shared / "policy.yaml").write_text("name: x")
    (shared / ".run.lock").write_text("")
    Registry(shared)
    assert (shared / "catalog.sqlite").is_file()

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hi")
    with pytest.raises(RegistryError, match=r"^'.*other' is not a driftkeeper registry: it has no catalog.sqlite and holds notes.txt; expected an empty folder or an existing registry$"):
        Registry(other)
    assert sorted(os.listdir(other)) == ["notes.txt"]


def test_open_refuses_versions_without_catalog_and_newer_format(tmp_path, reg):
    reg.register({"a": 1}, action="initial")
    (reg.root / "catalog.sqlite").rename(tmp_path / "moved.sqlite")
    for side in ("-wal", "-shm"):
        (reg.root / f"catalog.sqlite{side}").unlink(missing_ok=True)
    with pytest.raises(RegistryError, match=r"has a versions/ folder but no catalog.sqlite \(catalog lost\?\)"):
        Registry(reg.root)
    (tmp_path / "moved.sqlite").rename(reg.root / "catalog.sqlite")
    con = sqlite3.connect(reg.root / "catalog.sqlite")
    con.execute("UPDATE meta SET value='2' WHERE key='format_version'")
    con.commit()
    con.close()
    with pytest.raises(RegistryError, match=r"catalog '.*catalog.sqlite' has format version 2; driftkeeper .* reads format 1 or older: upgrade driftkeeper"):
        Registry(reg.root)


def test_open_refuses_a_file_that_is_not_a_catalog(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(RegistryError, match=r"is not a driftkeeper catalog"):
        Registry(root)


def test_lock_timeout_is_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"^lock_timeout must be a number of seconds >= 0, got -1$"):
        Registry(tmp_path / "r", lock_timeout=-1)
    assert not (tmp_path / "r").exists()


def test_create_false_never_creates(tmp_path):
    root = tmp_path / "nope"
    with pytest.raises(RegistryError, match=r"^registry root '.*nope' does not exist$"):
        Registry(root, create=False)
    assert not root.exists()
    root.mkdir()
    reg = Registry(root, create=False)  # empty folder reads as an empty registry
    assert reg.history() == [] and len(reg) == 0 and reg.verify() == [] and reg.served_at("2024-01-01T00:00:00Z") is None
    assert os.listdir(root) == []


def test_read_operations_never_write(reg):
    a = reg.register(fitted_lr(), action="initial", attachments={"report.html": "<p>x</p>"})
    reg.register(fitted_lr(), action="retrain", parent=a.version)
    reg.promote(1)
    reg.promote(2, alias="challenger")
    before = snapshot(reg.root)
    time.sleep(0.01)
    r2 = Registry(reg.root)
    r2.get("champion"), r2.load(1), r2.history(), r2.history(limit=1), r2.aliases(), len(r2)
    r2.served_at(datetime.now(timezone.utc)), r2.alias_history(), r2.verify(), r2.latest()
    r2.gc(keep_last=0, dry_run=True)
    assert snapshot(reg.root) == before


# ---------------------------------------------------------------------------- register
def test_register_records_everything(reg):
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"]), "x": [1.0, 2.0, 3.0]})
    decision = {"action": "retrain", "rule": "drift_share>0.5", "signals": {"drift_share": np.float64(0.6)}}
    mv = reg.register(
        Described(2.0),
        action="initial",
        metrics={"mae": np.float32(0.5), "rows": np.int64(3)},
        data=df,
        decision=decision,
        tags={"team": "pricing"},
        attachments={"drift.json": b'{"a": 1}', "drift.html": "<html></html>"},
    )
    assert isinstance(mv, ModelVersion)
    assert (mv.version, mv.tag, mv.action, mv.parent) == (1, "v0001", "initial", None)
    assert mv.created_at.tzinfo is not None and mv.created_at.utcoffset() == timedelta(0)
    assert mv.metrics == {"mae": 0.5, "rows": 3}
    assert mv.model == {"kind": "toy", "w": 2.0, "n": 3, "class": "test_registry.Described"}
    assert mv.decision == {"action": "retrain", "rule": "drift_share>0.5", "signals": {"drift_share": 0.6}}
    assert mv.data == fingerprint(df) and mv.data["rows"] == 3 and mv.data["columns"] == ["t", "x"]
    assert set(mv.libraries) == {"python", "numpy", "pandas", "scikit-learn", "lightgbm", "river", "evidently", "driftkeeper"}
    assert mv.libraries["numpy"] == np.__version__ and mv.libraries["pandas"] == pd.__version__
    assert mv.tags == {"team": "pricing"}
    assert mv.path == reg.root / "versions" / "v0001"
    art = mv.path / "model.joblib"
    import hashlib

    assert mv.sha256 == hashlib.sha256(art.read_bytes()).hexdigest() and mv.size_bytes == art.stat().st_size
    assert (mv.path / "drift.json").read_bytes() == b'{"a": 1}'
    assert (mv.path / "drift.html").read_text() == "<html></html>"
    assert json.loads((mv.path / "decision.json").read_text()) == mv.decision
    assert sorted(mv.attachments) == ["decision.json", "drift.html", "drift.json"]
    meta = json.loads((mv.path / "meta.json").read_text())
    assert meta["version"] == 1 and meta["sha256"] == mv.sha256 and meta["data"] == mv.data and meta["registry_format"] == 1
    assert sorted(os.listdir(mv.path)) == ["decision.json", "drift.html", "drift.json", "meta.json", "model.joblib"]
    got = reg.get(1)
    assert got == mv and got.to_dict() == mv.to_dict()
    assert json.loads(json.dumps(got.to_dict()))["created_at"] == mv.created_at.isoformat()


def test_register_model_without_describe_and_parent_by_alias(reg):
    a = reg.register(fitted_lr(), action="initial")
    assert a.model == {"class": "sklearn.linear_model._base.LinearRegression"}
    reg.promote(a.version)
    b = reg.register(fitted_lr(), action="warm_start", parent="champion", data={"sha256": "x", "rows": 5})
    assert b.parent == 1 and b.data == {"sha256": "x", "rows": 5} and b.version == 2
    assert reg.latest() == reg.get(2) and len(reg) == 2


def test_register_validates_inputs(reg):
    with pytest.raises(ConfigError, match=r"^unknown action 'retrian' \(did you mean 'retrain'\?\); expected one of initial, warm_start, online_update, retrain, manual$"):
        reg.register({}, action="retrian")
    with pytest.raises(NotFoundError, match=r"^version 7 is not in registry '.*reg'; it holds no versions; aliases: none$"):
        reg.register({}, action="manual", parent=7)
    with pytest.raises(ConfigError, match=r"^metrics must be JSON-serialisable: .*object is not JSON serialisable$"):
        reg.register({}, action="manual", metrics={"a": object()})
    with pytest.raises(ConfigError, match=r"^attachment name 'meta.json' is reserved by the registry"):
        reg.register({}, action="manual", attachments={"meta.json": b""})
    with pytest.raises(ConfigError, match=r"^attachment name '../x' is invalid"):
        reg.register({}, action="manual", attachments={"../x": b""})
    with pytest.raises(ConfigError, match=r"^tags must be a dict of str -> str"):
        reg.register({}, action="manual", tags={"a": 1})
    with pytest.raises(RegistryError, match=r"^model of class builtins.function cannot be stored \(pickled\)"):
        reg.register(lambda x: x, action="manual")
    assert len(reg) == 0
    assert [p.kind for p in reg.verify()] == []  # the failed folder was cleaned up
    assert reg.register({}, action="manual").version == 2  # number 1 was burnt by the failed dump


def test_fingerprint_content_and_time_range():
    df = pd.DataFrame({"ts": pd.to_datetime(["2024-02-01", "2024-01-15"]), "x": [1, 2]})
    fp = fingerprint(df, time_column="ts")
    assert fp["rows"] == 2 and fp["columns"] == ["ts", "x"]
    assert (fp["time_column"], fp["time_min"], fp["time_max"]) == ("ts", "2024-01-15T00:00:00", "2024-02-01T00:00:00")
    assert fingerprint(df.copy())["sha256"] == fingerprint(df)["sha256"]
    changed = df.copy()
    changed.loc[0, "x"] = 3
    assert fingerprint(changed)["sha256"] != fp["sha256"]
    assert fingerprint(df.rename(columns={"x": "y"}))["sha256"] != fp["sha256"]
    assert fingerprint(df.astype({"x": "float64"}))["sha256"] != fp["sha256"]
    with pytest.raises(ConfigError, match=r"^time column 'when' is not in the data; columns are \['ts', 'x'\]$"):
        fingerprint(df, time_column="when")


# ---------------------------------------------------------------------------- get / load
def test_get_by_every_kind_of_ref(reg):
    for i in range(3):
        reg.register({"i": i}, action="manual")
    reg.promote(2)
    for ref in (2, "2", "v2", "v0002", "champion", " v2 "):
        assert reg.get(ref).version == 2, ref
    assert reg.get(2).aliases == ("champion",)
    with pytest.raises(NotFoundError, match=r"^version 'v9' is not in registry '.*'; it holds versions v0001..v0003 \(3 in all\); aliases: champion -> v0002$"):
        reg.get("v9")
    with pytest.raises(NotFoundError, match=r"^alias 'champ' is not set in registry '.*'; it holds versions v0001..v0003 \(3 in all\); aliases: champion -> v0002$"):
        reg.get("champ")
    with pytest.raises(ConfigError, match=r"^version reference True must be an int"):
        reg.get(True)


def test_load_round_trip(reg):
    model = fitted_lr()
    mv = reg.register(model, action="initial")
    loaded = reg.load(mv.tag)
    X = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_tampered_artifact_is_refused_before_unpickling(reg, monkeypatch):
    mv = reg.register(fitted_lr(), action="initial")
    art = mv.path / "model.joblib"
    blob = bytearray(art.read_bytes())
    blob[-5] ^= 0xFF
    art.write_bytes(bytes(blob))
    import hashlib

    actual = hashlib.sha256(bytes(blob)).hexdigest()
    import pickle

    import joblib

    def boom(*a, **k):
        raise AssertionError("nothing may unpickle a tampered artifact")

    monkeypatch.setattr(joblib, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    with pytest.raises(IntegrityError, match=rf"^version v0001: artifact '.*model.joblib' has sha256 {actual} but the catalog records {mv.sha256}; refusing to unpickle it$"):
        reg.load(1)
    problems = reg.verify()
    assert [(p.kind, p.version, p.removable) for p in problems] == [("altered-artifact", 1, False)]
    assert problems[0].message == f"v0001: artifact {str(art)!r} has sha256 {actual}, catalog records {mv.sha256}"
    art.unlink()
    with pytest.raises(IntegrityError, match=r"^version v0001: artifact '.*' is missing"):
        reg.load(1)


def test_library_version_mismatch_warns(reg, monkeypatch):
    reg.register({"a": 1}, action="initial")
    real = registry_mod.library_versions()
    fake = dict(real, numpy="0.0.1", lightgbm=None)
    monkeypatch.setattr(registry_mod, "library_versions", lambda: fake)
    recorded_lgb = real["lightgbm"]
    with pytest.warns(LibraryVersionWarning) as rec:
        assert reg.load(1) == {"a": 1}
    msg = str(rec[0].message)
    assert msg.startswith("version v0001 was saved with different library versions: ")
    assert f"numpy {real['numpy']} (now 0.0.1)" in msg
    assert f"lightgbm {recorded_lgb} (now not installed)" in msg
    monkeypatch.setattr(registry_mod, "library_versions", lambda: real)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.load(1)


# ---------------------------------------------------------------------------- aliases
def test_promote_alias_history_and_served_at(reg):
    for i in range(3):
        reg.register({"i": i}, action="manual")
    t0 = datetime.now(timezone.utc)
    assert reg.served_at(t0) is None
    time.sleep(0.002)
    assert reg.promote(1, reason="first").aliases == ("champion",)
    time.sleep(0.002)
    t1 = datetime.now(timezone.utc)
    time.sleep(0.002)
    reg.promote("v2", reason="better mae")
    reg.promote(3, alias="challenger")
    assert reg.promote(2).version == 2  # already champion: no move recorded
    assert reg.aliases() == {"challenger": 3, "champion": 2}
    moves = reg.alias_history("champion")
    assert [(m.from_version, m.to_version, m.reason, m.kind) for m in moves] == [(1, 2, "better mae", "promote"), (None, 1, "first", "promote")]
    assert [m.alias for m in reg.alias_history()] == ["challenger", "champion", "champion"]
    assert moves[0].to_dict() == {"alias": "champion", "from": 1, "to": 2, "at": moves[0].at.isoformat(), "reason": "better mae", "kind": "promote"}
    assert reg.served_at(t1).version == 1
    assert reg.served_at(t1.isoformat()).version == 1
    assert reg.served_at(moves[0].at).version == 2  # a move made exactly at `when` counts
    assert reg.served_at(moves[0].at - timedelta(microseconds=1)).version == 1
    assert reg.served_at(datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")).version == 2
    assert reg.served_at(t1.astimezone(timezone(timedelta(hours=5)))).version == 1
    assert reg.served_at(datetime.now(timezone.utc), alias="challenger").version == 3
    with pytest.raises(ConfigError, match=r"^time '2024-01-01T00:00:00' has no timezone; give an aware datetime or an ISO-8601 string with an offset"):
        reg.served_at("2024-01-01T00:00:00")
    with pytest.raises(ConfigError, match=r"has no timezone"):
        reg.served_at(datetime(2024, 1, 1))
    with pytest.raises(ConfigError, match=r"^time 'yesterday' is not ISO-8601"):
        reg.served_at("yesterday")


def test_alias_names_are_validated(reg):
    reg.register({}, action="manual")
    reg.promote(1, alias="shadow-eu_2")
    assert reg.get("shadow-eu_2").version == 1
    for bad in ("v3", "Champion", "1abc", "", "a b", "x" * 65):
        with pytest.raises(ConfigError, match=r"^alias name .* is invalid: expected lowercase letters"):
            reg.promote(1, alias=bad)
    with pytest.raises(NotFoundError, match=r"^version 5 is not in registry"):
        reg.promote(5)
    assert reg.aliases() == {"shadow-eu_2": 1}


def test_rollback_walks_back_without_ping_pong(reg):
    for i in range(4):
        reg.register({"i": i}, action="manual")
    with pytest.raises(RegistryError, match=r"^cannot roll back champion: no version has been promoted to champion yet$"):
        reg.rollback()
    assert reg.rollback_target() is None
    for v in (1, 2, 3):
        reg.promote(v)
    n = len(reg)
    assert reg.rollback_target().version == 2
    assert reg.rollback(reason="bad mae").version == 2
    assert reg.rollback_target().version == 1
    assert reg.rollback().version == 1
    assert reg.rollback_target() is None  # 3 alias moves, yet nothing earlier to go back to
    with pytest.raises(RegistryError, match=r"^cannot roll back champion: v0001 is the earliest champion left in its history, there is no earlier one \(promote a version instead\)$"):
        reg.rollback()
    assert reg.aliases()["champion"] == 1 and len(reg) == n  # alias moves, no new versions
    kinds = [(m.from_version, m.to_version, m.kind) for m in reg.alias_history("champion")]
    assert kinds[:2] == [(2, 1, "rollback"), (3, 2, "rollback")]
    assert reg.alias_history("champion")[1].reason == "bad mae"
    # promoting again after rollbacks: the history continues from the current stack
    reg.promote(4)
    assert reg.rollback().version == 1
    # explicit target
    reg.promote(3)
    reg.promote(4)
    assert reg.rollback(to="v1").version == 1  # walks back past 4 and 3
    with pytest.raises(RegistryError, match=r"^cannot roll back champion: v0001 is the earliest"):
        reg.rollback()
    with pytest.raises(RegistryError, match=r"^cannot roll back champion to v0001: it already holds champion$"):
        reg.rollback(to=1)
    assert reg.rollback(to=2).version == 2  # never below the top: pushed
    assert reg.rollback().version == 1
    with pytest.raises(NotFoundError, match=r"^version 9 is not in registry"):
        reg.rollback(to=9)


def test_rollback_served_at_after_rollback(reg):
    for i in range(2):
        reg.register({"i": i}, action="manual")
    reg.promote(1)
    reg.promote(2)
    reg.rollback()
    assert reg.served_at(datetime.now(timezone.utc)).version == 1
    assert reg.get("champion").version == 1


# ---------------------------------------------------------------------------- verify and gc
def test_verify_reports_each_kind_of_problem(reg):
    for i in range(4):
        reg.register({"i": i}, action="manual", attachments={"r.json": "{}"})
    assert reg.verify() == []
    v = reg.versions_dir
    (v / "v0001" / "meta.json").unlink()
    (v / "v0002" / "model.joblib").unlink()
    import shutil

    shutil.rmtree(v / "v0003")
    (v / "v0004" / "r.json").write_text("{ }")
    (v / "v0004" / ".model.joblib.tmp-123").write_bytes(b"partial")
    (v / "v0009").mkdir()
    (v / ".v.tmp-7").write_bytes(b"")
    (v / "README").write_text("mine")
    got = [(p.kind, p.version, p.removable) for p in reg.verify()]
    assert got == [
        ("missing-meta", 1, False),
        ("missing-artifact", 2, False),
        ("missing-folder", 3, False),
        ("altered-attachment", 4, False),
        ("temp-file", None, True),
        ("unknown-entry", None, False),
        ("temp-file", 4, True),
        ("orphan-folder", 9, True),
    ]
    msgs = [p.message for p in reg.verify()]
    assert msgs[2] == f"v0003: folder {str(v / 'v0003')!r} is missing"
    assert msgs[-1] == f"v0009: folder {str(v / 'v0009')!r} has no catalog row (left by an interrupted register)"
    res = reg.gc()
    assert res.removed_versions == () and sorted(p.name for p in res.removed_paths) == [".model.joblib.tmp-123", ".v.tmp-7", "v0009"]
    assert [p.kind for p in reg.verify()] == ["missing-meta", "missing-artifact", "missing-folder", "altered-attachment", "unknown-entry"]


def test_gc_keeps_alias_holders_and_never_reuses_numbers(reg):
    for i in range(6):
        reg.register({"i": i}, action="manual")
    reg.promote(2)
    reg.promote(3)  # 2 held champion once, 3 holds it now
    reg.promote(1, alias="challenger")
    dry = reg.gc(keep_last=2, dry_run=True)
    assert dry.dry_run and dry.removed_versions == (4,) and dry.protected == (1, 2, 3)
    assert len(reg) == 6 and (reg.versions_dir / "v0004").is_dir()
    res = reg.gc(keep_last=2)
    assert res.removed_versions == (4,) and res.removed_paths == (reg.versions_dir / "v0004",)
    assert [m.version for m in reg.history()] == [6, 5, 3, 2, 1]
    assert not (reg.versions_dir / "v0004").exists()
    forced = reg.gc(keep_last=0, force=True)
    assert forced.removed_versions == (2, 5, 6) and forced.protected == (1, 3)  # current holders always kept
    assert [m.version for m in reg.history()] == [3, 1]
    assert reg.register({}, action="manual").version == 7  # 4..6 never reused
    assert reg.verify() == []
    with pytest.raises(RegistryError, match=r"^version v0002 is not in registry .*removed by gc"):
        reg.served_at(reg.alias_history("champion")[-1].at)
    with pytest.raises(ConfigError, match=r"^keep_last must be an int >= 0 or None, got -1$"):
        reg.gc(keep_last=-1)


def test_history_order_and_limit(reg):
    for i in range(5):
        reg.register({"i": i}, action="manual")
    reg.promote(4)
    assert [m.version for m in reg.history()] == [5, 4, 3, 2, 1]
    hist = reg.history(limit=2)
    assert [m.version for m in hist] == [5, 4] and hist[1].aliases == ("champion",)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match=r"^limit must be a positive int or None"):
            reg.history(limit=bad)


# ---------------------------------------------------------------------------- lock and hooks
def test_second_writer_gets_lock_error(reg):
    from filelock import FileLock

    reg.register({}, action="manual")
    held = FileLock(str(reg.root / ".registry.lock"))
    held.acquire()
    try:
        other = Registry(reg.root, lock_timeout=0.2)
        t = time.monotonic()
        with pytest.raises(LockError, match=r"^registry '.*reg' is locked by another writer \(.registry.lock\); gave up after waiting 0.2s$") as ei:
            other.register({}, action="manual")
        assert time.monotonic() - t >= 0.2 and ei.value.exit_code == 3
        with pytest.raises(LockError):
            other.promote(1)
        assert other.get(1).version == 1 and other.history()  # readers are not blocked
    finally:
        held.release()
    assert other.register({}, action="manual").version == 2


def test_checkpoints_reached_in_order(reg, tmp_path, monkeypatch):
    hook = tmp_path / "hooks.txt"
    monkeypatch.setenv("DRIFTKEEPER_HOOK_FILE", str(hook))
    reg.register({}, action="manual")
    reg.register({}, action="manual")
    reg.promote(1)
    reg.promote(2)
    reg.rollback()
    reg.gc(keep_last=0, force=True)
    assert hook.read_text().splitlines() == [
        *[
            "registry:number-allocated",
            "registry:artifact-temp-written",
            "registry:artifact-written",
            "registry:attachments-written",
            "registry:meta-written",
            "registry:before-commit",
            "registry:after-commit",
        ]
        * 2,
        "registry:promote-before-commit",
        "registry:promote-after-commit",
        "registry:promote-before-commit",
        "registry:promote-after-commit",
        "registry:rollback-before-commit",
        "registry:gc-after-commit",
    ]


def test_importing_registry_is_light():
    code = (
        "import sys, driftkeeper.registry.registry\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'evidently', 'lightgbm', 'river', 'joblib') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_empty_catalog_file_left_by_a_crash_is_initialized(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(b"")  # a writer died right after SQLite created the file
    assert Registry(root, create=False).history() == []
    reg = Registry(root)
    assert reg.register({}, action="initial").version == 1


def test_an_artifact_is_a_plain_pickle_and_one_joblib_wrote_still_loads(reg):
    import pickle

    import joblib

    strings = pd.DataFrame({"state": ["CA", "NY", None] * 50, "y": np.arange(150.0)})
    mv = reg.register({"model": fitted_lr(), "rows": strings}, action="initial")
    art = mv.path / "model.joblib"
    blob = art.read_bytes()
    assert b"NumpyArrayWrapper" not in blob  # arrays of strings read by the C unpickler, not element by element
    for loaded in (pickle.loads(blob), joblib.load(art), reg.load(1)):  # what a user may read it with
        pd.testing.assert_frame_equal(loaded["rows"], strings)
    # a version an earlier release wrote with joblib.dump: same sha256 check, same contents
    joblib.dump({"model": fitted_lr(), "rows": strings}, art)
    con = sqlite3.connect(reg.root / "catalog.sqlite")
    with con:
        con.execute("UPDATE versions SET sha256 = ? WHERE version = 1", (hashlib.sha256(art.read_bytes()).hexdigest(),))
    con.close()
    assert b"NumpyArrayWrapper" in art.read_bytes()
    pd.testing.assert_frame_equal(reg.load(1)["rows"], strings)
