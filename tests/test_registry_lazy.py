"""Versions read from the catalog fill their fields on first access: they must not look any different.

The oracle below builds every ModelVersion eagerly from the catalog, the way the registry did before
fields became lazy, and every read path is compared with it field by field, as dicts, as reprs,
through pickle/copy and through ``driftkeeper history --json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.registry import ModelVersion, Registry

FIELDS = [f.name for f in dataclasses.fields(ModelVersion)]


def eager(reg: Registry) -> dict[int, ModelVersion]:
    """Every version built with all fields given, straight from the catalog's columns."""
    con = sqlite3.connect(reg.catalog_path)
    try:
        aliases: dict[int, list[str]] = {}
        for alias, v in con.execute("SELECT alias, version FROM aliases ORDER BY alias"):
            aliases.setdefault(v, []).append(alias)
        rows = con.execute(
            "SELECT version, created_at, action, parent, sha256, size_bytes, folder, libraries, doc FROM versions"
        ).fetchall()
    finally:
        con.close()
    out = {}
    for version, created_at, action, parent, sha, size, folder, libs, doc in rows:
        d = json.loads(doc)
        out[version] = ModelVersion(
            version=version,
            tag=f"v{version:04d}",
            created_at=datetime.fromisoformat(created_at),
            action=action,
            parent=parent,
            data=d.get("data"),
            metrics=d.get("metrics") or {},
            decision=d.get("decision"),
            model=d.get("model") or {},
            libraries=json.loads(libs),
            sha256=sha,
            size_bytes=size,
            tags=d.get("tags") or {},
            attachments=d.get("attachments") or {},
            path=reg.versions_dir / folder,
            aliases=tuple(aliases.get(version, ())),
        )
    return out


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "reg")
    reg.register({"a": 1}, action="initial", metrics={"mae": 1.5, "n": 3}, data={"rows": 10, "columns": ["x"]})
    reg.register(
        {"a": 2},
        action="retrain",
        parent=1,
        decision={"action": "retrain", "signals": {"drift_share": 0.6}},
        tags={"team": "pricing"},
        attachments={"drift.json": b'{"a": 1}', "drift.html": "<html></html>"},
    )
    reg.register({"a": 3}, action="online_update", parent="v2")
    reg.promote(1)
    reg.promote(2)
    reg.promote(3, alias="challenger")
    reg.promote(2, alias="shadow")
    con = sqlite3.connect(reg.catalog_path)
    with con:  # one version saved with other library versions, one whose document lacks fields
        con.execute("UPDATE versions SET libraries = ? WHERE version = 1", (json.dumps({"python": "3.0", "numpy": None}),))
        con.execute("""UPDATE versions SET doc = '{"metrics": null, "model": {"class": "builtins.dict"}}' WHERE version = 3""")
    con.close()
    return reg


def test_every_read_path_equals_the_eager_version(reg):
    want = eager(reg)
    hist = reg.history()
    assert [m.version for m in hist] == [3, 2, 1]
    for mv in hist:
        for got in (mv, reg.get(mv.version), reg.get(mv.tag), reg.history(limit=4 - mv.version)[-1]):
            assert got == want[mv.version] and want[mv.version] == got
            assert got.to_dict() == want[mv.version].to_dict()
            assert repr(got) == repr(want[mv.version])
            assert dataclasses.asdict(got) == dataclasses.asdict(want[mv.version])
    assert reg.get("champion") == want[2] and reg.get(2).aliases == ("champion", "shadow")
    assert reg.served_at(datetime.now().astimezone()) == want[2]
    assert reg.latest() == want[3] and reg.history()[0].aliases == ("challenger",)
    assert hist[2].libraries == {"python": "3.0", "numpy": None} and hist[0].libraries == want[3].libraries


@pytest.mark.parametrize("name", FIELDS)
def test_each_field_read_first_is_right(reg, name):
    want = eager(reg)
    for v in (1, 2, 3):
        fresh = reg.history()[3 - v]  # nothing read from it yet
        value = getattr(fresh, name)
        assert value == getattr(want[v], name) and type(value) is type(getattr(want[v], name))
        assert fresh == want[v]  # and the rest fills in correctly after it
    mv = reg.get(2)
    assert isinstance(mv.created_at, datetime) and mv.created_at.utcoffset() is not None
    assert isinstance(mv.path, Path) and mv.path == reg.root / "versions" / "v0002" and mv.path.is_dir()
    assert mv.attachments.keys() == {"decision.json", "drift.json", "drift.html"}
    assert mv.decision == {"action": "retrain", "signals": {"drift_share": 0.6}} and mv.tags == {"team": "pricing"}
    assert reg.get(1).data == {"rows": 10, "columns": ["x"]} and reg.get(3).data is None
    assert (reg.get(3).metrics, reg.get(3).tags, reg.get(3).attachments) == ({}, {}, {})


def test_versions_stay_immutable_and_independent(reg):
    hist = reg.history()
    for name in FIELDS:  # read or not yet read
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(hist[0], name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(hist[1], name)
    hist[0].libraries["numpy"] = "changed"
    hist[0].metrics["x"] = 1
    assert reg.history()[0].libraries == eager(reg)[3].libraries and "x" not in reg.get(3).metrics
    assert hist[1].libraries == eager(reg)[2].libraries  # parsed once per read, copied per version
    with pytest.raises(AttributeError, match="'ModelVersion' object has no attribute 'nope'"):
        hist[0].nope
    assert not hasattr(hist[0], "nope") and not hasattr(reg.get(1), "_repr_html_")
    for name in FIELDS[:-1]:  # as for any dataclass: only a field with a default is a class attribute
        assert not hasattr(ModelVersion, name)
    assert ModelVersion.aliases == ()
    with pytest.raises(TypeError, match="missing"):  # building one still takes every field
        ModelVersion(version=1, tag="v0001")


def test_pickle_copy_and_replace_carry_every_field(reg):
    want = eager(reg)
    for mv in reg.history():
        state = mv.__getstate__()
        assert list(state) == FIELDS  # the copy never depends on the catalog row
        for twin in (pickle.loads(pickle.dumps(mv)), copy.copy(mv), copy.deepcopy(mv)):
            assert twin == want[mv.version] and twin.to_dict() == want[mv.version].to_dict()
            assert sorted(vars(twin)) == sorted(FIELDS)
    changed = dataclasses.replace(reg.get(2), action="manual")
    assert changed.action == "manual" and changed.metrics == want[2].metrics and changed.path == want[2].path
    # an eagerly built version (as register returns) pickles as before
    assert pickle.loads(pickle.dumps(want[1])) == want[1]


def test_history_json_of_the_cli_is_unchanged(reg):
    res = CliRunner().invoke(app, ["history", str(reg.root), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    want = eager(reg)
    assert res.output == json.dumps([want[v].to_dict() for v in (3, 2, 1)], indent=2) + "\n"
    res = CliRunner().invoke(app, ["show", str(reg.root), "champion"], catch_exceptions=False)
    assert json.loads(res.output) == want[2].to_dict()


def test_library_sets_shared_or_not(reg):
    """history() leaves out ``libraries`` where a row shares the newest version's set; every set reads back."""
    sets = {1: {"python": "3.0", "numpy": None}, 2: {"python": "3.11.7", "numpy": "2.0"}, 3: {"python": "3.12.1"}}
    con = sqlite3.connect(reg.catalog_path)
    with con:
        for v, libs in sets.items():
            con.execute("UPDATE versions SET libraries = ? WHERE version = ?", (json.dumps(libs), v))
    con.close()
    want = eager(reg)
    assert [m.libraries for m in reg.history()] == [sets[3], sets[2], sets[1]]
    assert reg.history() == [want[3], want[2], want[1]] and reg.history(limit=2) == [want[3], want[2]]
    assert [reg.get(v).libraries for v in (1, 2, 3)] == [sets[1], sets[2], sets[3]]
