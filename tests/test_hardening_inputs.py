"""The bad-input battery: every case is refused with one line naming the problem, exit code 2,
and ROOT byte-for-byte unchanged (refused runs are not logged)."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import lightgbm as lgb
import pandas as pd
import pytest
from conftest import make_stream, tree_snapshot
from typer.testing import CliRunner

from driftkeeper import Keeper
from driftkeeper.cli import app

POLICY = """
name: inputs-test
metric: rmse
rules: []
fallback: none
gate: {enabled: true, holdout: {fraction: 0.2}, margin: 0.0}
schema_change: refuse  # other columns are refused here; under retrain they retrain (tests/test_schema_change.py)
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    batches = make_stream(4, seed=41)
    pol = base / "policy.yaml"
    pol.write_text(POLICY)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, random_state=0, verbose=-1, n_jobs=1)
    keeper = Keeper.init(base / "root", model, batches[0], target="y", policy=pol, time_column="date", id_column="row_id")
    keeper.step(batches[2].drop(columns=["y"]), html=False)  # an unlabelled batch, for --labels cases
    return base, batches


@pytest.fixture
def env(template, tmp_path):
    base, batches = template
    root = tmp_path / "root"
    shutil.copytree(base / "root", root)
    return root, batches, tmp_path


def write_csv(tmp_path, name, df):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def _b(env):
    root, batches, tmp = env
    return batches[3].copy(), tmp


# Each case: a function (env) -> list of CLI args, and a regex the one-line error must match.
def case_empty_file(env):
    root, _, tmp = env
    (tmp / "empty.csv").write_text("")
    return ["run", root, "--batch", tmp / "empty.csv"], r"batch '.*empty.csv' is empty"


def case_header_only(env):
    b, tmp = _b(env)
    return ["run", env[0], "--batch", write_csv(tmp, "h.csv", b.iloc[:0])], r"has no rows \(header only or empty\)"


def case_missing_column(env):
    b, tmp = _b(env)
    return ["run", env[0], "--batch", write_csv(tmp, "m.csv", b.drop(columns=["x3"]))], r"missing column\(s\) \['x3'\]"


def case_extra_column(env):
    b, tmp = _b(env)
    return ["run", env[0], "--batch", write_csv(tmp, "e.csv", b.assign(bonus=1))], r"unexpected column\(s\) \['bonus'\]"


def case_renamed_column(env):
    b, tmp = _b(env)
    p = write_csv(tmp, "r.csv", b.rename(columns={"x2": "X2"}))
    return ["run", env[0], "--batch", p], r"missing column\(s\) \['x2'\] \(did you mean 'X2'\?\); unexpected column\(s\) \['X2'\]"


def case_numeric_as_text(env):
    b, tmp = _b(env)
    b["x1"] = b["x1"].astype(str)
    b.loc[5, "x1"] = "12,5"  # a decimal comma: text, not a number
    return ["run", env[0], "--batch", write_csv(tmp, "t.csv", b)], r"column 'x1' in batch .* should be numeric but arrived as object"


def case_plus_inf(env):
    b, tmp = _b(env)
    b.loc[3, "x2"] = float("inf")
    return ["run", env[0], "--batch", write_csv(tmp, "i.csv", b)], r"column 'x2' in batch .* contains 1 infinite value"


def case_minus_inf(env):
    b, tmp = _b(env)
    b.loc[[1, 2], "x3"] = float("-inf")
    return ["run", env[0], "--batch", write_csv(tmp, "i2.csv", b)], r"column 'x3' in batch .* contains 2 infinite value"


def case_nan_in_target(env):
    b, tmp = _b(env)
    b.loc[7, "y"] = None
    return ["run", env[0], "--batch", write_csv(tmp, "y.csv", b)], r"target 'y' in batch .* has 1 missing value"


def case_target_wrong_type(env):
    b, tmp = _b(env)
    b["y"] = "high"
    return ["run", env[0], "--batch", write_csv(tmp, "yt.csv", b)], r"target 'y' in batch .* should be numeric \(regression\) but arrived as object"


def case_labels_without_id(env):
    b, tmp = _b(env)
    lab = write_csv(tmp, "lab.csv", env[1][2][["y"]])
    return ["run", env[0], "--batch", write_csv(tmp, "b.csv", b), "--labels", lab], r"labels file '.*lab.csv' is missing column\(s\) \['row_id'\]"


def case_duplicate_ids_batch(env):
    b, tmp = _b(env)
    b.loc[1, "row_id"] = b.loc[0, "row_id"]
    return ["run", env[0], "--batch", write_csv(tmp, "d.csv", b)], r"id column 'row_id' in batch .* has 1 duplicate id"


def case_duplicate_ids_labels(env):
    b, tmp = _b(env)
    lab = env[1][2][["row_id", "y"]].copy()
    lab.loc[1, "row_id"] = lab.loc[0, "row_id"]
    return ["run", env[0], "--batch", write_csv(tmp, "b.csv", b), "--labels", write_csv(tmp, "l.csv", lab)], r"labels file '.*l.csv' has 1 duplicate id"


def case_unknown_ids_labels(env):
    b, tmp = _b(env)
    lab = pd.DataFrame({"row_id": [10**9], "y": [1.0]})
    return ["run", env[0], "--batch", write_csv(tmp, "b.csv", b), "--labels", write_csv(tmp, "l.csv", lab)], r"has 1 id\(s\) never seen in a processed batch, e.g. 1000000000"


def case_nan_in_labels(env):
    b, tmp = _b(env)
    lab = env[1][2][["row_id", "y"]].copy()
    lab.loc[0, "y"] = None
    return ["run", env[0], "--batch", write_csv(tmp, "b.csv", b), "--labels", write_csv(tmp, "l.csv", lab)], r"target 'y' in labels file .* has 1 missing value"


def case_unreadable_directory(env):
    root, _, tmp = env
    (tmp / "adir.csv").mkdir()
    return ["run", root, "--batch", tmp / "adir.csv"], r"batch '.*adir.csv' is a directory, expected a CSV or parquet file"


def case_missing_file(env):
    root, _, tmp = env
    return ["run", root, "--batch", tmp / "nope.csv"], r"batch '.*nope.csv' does not exist"


def case_image_file(env):
    root, _, tmp = env
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    (tmp / "photo.csv").write_bytes(png)
    return ["run", root, "--batch", tmp / "photo.csv"], r"batch '.*photo.csv' is not a CSV or parquet file \(binary content\)"


def case_not_utf8(env):
    root, _, tmp = env
    (tmp / "latin.csv").write_bytes("x1,x2\n\xe9\xe8,1\n".encode("latin-1"))
    return ["run", root, "--batch", tmp / "latin.csv"], r"batch '.*latin.csv' is not UTF-8 text"


def case_truncated_gzip(env):
    b, tmp = _b(env)
    data = gzip.compress(b.to_csv(index=False).encode())
    (tmp / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    return ["run", env[0], "--batch", tmp / "cut.csv.gz"], r"batch '.*cut.csv.gz' is a truncated or corrupt gzip file"


def case_parquet_other_schema(env):
    root, _, tmp = env
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp / "other.parquet")
    return ["run", root, "--batch", tmp / "other.parquet"], r"missing column\(s\) \['x1', 'x2', 'x3', 'x4', 'cat', 'date', 'row_id'\]; unexpected column\(s\) \['a', 'b'\]"


def case_bad_time(env):
    b, tmp = _b(env)
    b["date"] = "someday"
    return ["run", env[0], "--batch", write_csv(tmp, "bt.csv", b)], r"time column 'date' in batch .* cannot be parsed as dates \(e.g. 'someday'\)"


def case_batch_in_the_past(env):
    b, tmp = env[1][1].copy(), env[2]
    return ["run", env[0], "--batch", write_csv(tmp, "old.csv", b)], r"ends at 2024-01-1.*, before the last processed batch .* batches must arrive in time order"


def case_unknown_model_kind(env):
    root, batches, tmp = env
    data = write_csv(tmp, "init.csv", batches[0])
    return ["init", tmp / "new", "--data", data, "--target", "y", "--model", "lightgmb"], r"unknown model kind 'lightgmb' \(did you mean 'lightgbm'\?\)"


def case_invalid_policy_file(env):
    root, batches, tmp = env
    (tmp / "bad.yaml").write_text("name: bad\nrules: []\nfallback: nothing\n")
    data = write_csv(tmp, "init.csv", batches[0])
    return ["init", tmp / "new", "--data", data, "--target", "y", "--policy", tmp / "bad.yaml"], r"bad.yaml:3: .*fallback.*nothing"


def case_edited_policy_invalid(env):
    root, _, tmp = env
    (root / "policy.yaml").write_text((root / "policy.yaml").read_text().replace("fallback: none", "fallbak: none"))
    b, _ = _b(env)
    return ["run", root, "--batch", write_csv(tmp, "b.csv", b)], r"policy.yaml:\d+: unknown key 'fallbak'.*did you mean 'fallback'"


def case_missing_policy_file(env):
    root, batches, tmp = env
    data = write_csv(tmp, "init.csv", batches[0])
    return ["init", tmp / "new", "--data", data, "--target", "y", "--policy", tmp / "nowhere.yaml"], r"nowhere.yaml"


def case_root_not_initialised(env):
    root, _, tmp = env
    (tmp / "empty-root").mkdir()
    b, _ = _b(env)
    return ["run", tmp / "empty-root", "--batch", write_csv(tmp, "b.csv", b)], r"is not an initialised driftkeeper root \(no keeper.json\)"


def case_root_newer_format(env):
    root, _, tmp = env
    cfg = json.loads((root / "keeper.json").read_text())
    cfg["format_version"] = 99
    (root / "keeper.json").write_text(json.dumps(cfg))
    b, _ = _b(env)
    return ["run", root, "--batch", write_csv(tmp, "b.csv", b)], r"was written by a newer driftkeeper \(format 99, this one reads 1\); upgrade driftkeeper"


def case_catalog_newer_format(env):
    import sqlite3

    root, _, tmp = env
    con = sqlite3.connect(root / "catalog.sqlite")
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    assert "meta" in tables
    con.execute("update meta set value='99' where key='format_version'")
    con.commit()
    con.close()
    return ["history", root], r"has format version 99; driftkeeper .* reads format 1 or older: upgrade driftkeeper"


def case_tampered_artifact(env):
    root, _, tmp = env
    art = next((root / "versions").glob("*/model.joblib"))
    data = bytearray(art.read_bytes())
    data[-10] ^= 0xFF
    art.write_bytes(bytes(data))
    b, _ = _b(env)
    return ["run", root, "--batch", write_csv(tmp, "b.csv", b)], r"v0001.*sha256"


def case_history_zero_limit(env):
    return ["history", env[0], "--limit", "0"], r"limit"


def case_history_negative_limit(env):
    return ["history", env[0], "--limit", "-3"], r"limit"


CASES = [v for k, v in sorted(globals().items()) if k.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input_is_refused_cleanly(env, case):
    args, pattern = case(env)
    root = env[0]
    before = tree_snapshot(root)
    r = CliRunner().invoke(app, [str(a) for a in args])
    out = r.output.strip()
    assert r.exit_code == 2, out
    assert "Traceback" not in out and "\n" not in out, out  # one line
    assert out.startswith("error: "), out
    assert re.search(pattern, out), out
    assert tree_snapshot(root) == before


def test_battery_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_a_column_missing_on_every_row_is_reported_not_refused(env):
    # LightGBM predicts through missing values: the night runs, the finding is in the record
    b, tmp = _b(env)
    r = CliRunner().invoke(app, ["run", str(env[0]), "--batch", str(write_csv(tmp, "n.csv", b.assign(x4=None))),
                                 "--json", "--no-html"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["status"] == "completed"
    assert [w for w in record["warnings"] if w.startswith("x4:")] == [
        "x4: entirely missing in the current batch (300 rows; 0.0% missing in the reference); drift not computed"]
    x4 = next(c for c in record["drift"]["columns"] if c["name"] == "x4")
    assert (x4["score"], x4["drifted"], x4["missing_share"]) == (None, False, 1.0)
    assert all(c["score"] is not None for c in record["drift"]["columns"] if c["name"] != "x4")
