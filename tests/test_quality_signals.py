"""Data-quality policy signals: ``missing_share:<col>``, ``new_categories:<col>`` and
``quality_issues``, read from the night's drift report, checked against the table's columns,
shown in the run record and in ``driftkeeper report``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftkeeper import Monitor
from driftkeeper.cli import app
from driftkeeper.exceptions import PolicyError
from driftkeeper.policy import Context, Policy, decide

KINDS = {"x": "numerical", "cat": "categorical", "Pool QC": "categorical"}


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame({"x": np.arange(100.0), "cat": ["a", "b"] * 50, "z": np.linspace(0, 1, 100)})
    cur = pd.DataFrame({"x": np.arange(40.0), "cat": ["zz"] * 10 + [None] * 10 + ["a"] * 20, "z": np.nan})
    cur.loc[:9, "x"] = np.nan
    return ref, cur


QUALITY = Policy.from_yaml("""
rules:
  - name: gappy
    when: missing_share:x >= 0.5
    action: retrain
  - name: new-codes
    when: new_categories:cat >= 0.25
    action: update
fallback: none
""")


def test_the_signals_read_the_share_of_tonights_rows_and_count_the_findings():
    ref, cur = frames()
    report = Monitor().fit(ref).check(cur)
    d = decide(report, QUALITY, Context(update_style="warm_start"))
    # 10 of 40 rows miss x; 10 of 40 rows hold 'zz' (a third of the 30 non-missing values)
    assert d.signals["missing_share:x"] == 0.25
    assert report.column("cat").unseen_share == pytest.approx(1 / 3)
    assert d.signals["new_categories:cat"] == 0.25
    # z entirely missing (drift not computed) + cat's unseen categories: one warning each
    assert d.signals["quality_issues"] == report.quality_issues == 2 == len(report.warnings)
    assert (d.action, d.rule) == ("warm_start", "new-codes")
    assert str(d) == "warm_start (rounds: 100, replay_fraction: 0, mode: continue, relearn_batches: 0) — rule 'new-codes' fired: new_categories:cat 0.25 >= 0.25"


def test_an_entirely_missing_categorical_has_no_new_category_and_a_numerical_none():
    ref, cur = frames()
    report = Monitor().fit(ref).check(cur.assign(cat=None))
    assert report.column("cat").new_categories == 0.0 and report.column("cat").missing_share == 1.0
    assert report.column("x").new_categories is None
    assert report.quality_issues == 2  # cat and z not computed
    assert decide(None, QUALITY, Context()).signals["quality_issues"] is None  # no report: unknown, not 0


def test_a_categorical_never_filled_in_the_reference_counts_every_value_as_new():
    ref, cur = frames()
    report = Monitor(categorical=["cat"]).fit(ref.assign(cat=None)).check(cur)
    c = report.column("cat")
    assert (c.score, c.missing_share, c.new_categories) == (None, 0.25, 0.75)
    assert report.warnings[0] == "cat: entirely missing in the reference, 75.0% present in the current batch; drift not computed"
    assert report.quality_issues == 2  # cat and z not computed


def test_a_misspelt_column_is_refused_with_the_line_and_a_did_you_mean():
    pol = Policy.from_yaml("rules:\n  - name: r\n    when:\n      any:\n        - rows > 10\n        - missing_share:ct >= 0.5\n"
                           "    action: retrain\nfallback: none\n", source="p.yaml")
    with pytest.raises(PolicyError, match=(
            r"^p\.yaml:6: rules\[0\]\.when\.any\[1\]: missing_share:ct: column 'ct' is not a feature column of the table "
            r"\(did you mean 'cat'\?\); feature columns: 'x', 'cat', 'Pool QC'$")):
        pol.check_columns(KINDS)
    numeric = Policy.from_yaml("rules:\n  - {name: r, when: new_categories:x > 0.1, action: retrain}\nfallback: none\n", source="q.yaml")
    with pytest.raises(PolicyError, match=(
            r"^q\.yaml:2: rules\[0\]\.when\.all\[0\]: new_categories:x: new_categories needs a categorical column, "
            r"and 'x' is numerical; use missing_share:x or column_score:x$")):
        numeric.check_columns(KINDS)
    spaced = Policy.from_yaml('rules:\n  - {name: r, when: \'new_categories:"Pool QC" > 0.1\', action: retrain}\nfallback: none\n')
    spaced.check_columns(KINDS)  # a quoted name with a space is a column like any other
    assert spaced.rules[0].when.text() == "new_categories:Pool QC > 0.1"


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def report_files(tmp_path):
    ref, cur = frames()
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path


def test_driftkeeper_report_counts_the_findings_and_writes_them_to_json(report_files):
    t = report_files
    r = CliRunner().invoke(app, ["report", str(t / "ref.csv"), str(t / "cur.csv"), "--json", str(t / "r.json")])
    assert r.exit_code == 0, r.output
    assert "data quality: 2 findings (the warnings above)" in r.output
    assert json.loads((t / "r.json").read_text())["quality_issues"] == 2


def test_policy_explain_shows_the_signals_and_refuses_a_misspelt_column(report_files):
    t = report_files
    CliRunner().invoke(app, ["report", str(t / "ref.csv"), str(t / "cur.csv"), "--json", str(t / "r.json")])
    (t / "p.yaml").write_text(QUALITY.text)
    r = CliRunner().invoke(app, ["policy", "explain", str(t / "p.yaml"), "--report", str(t / "r.json")])
    assert r.exit_code == 0, r.output
    assert "rule 'new-codes' fired: new_categories:cat 0.25 >= 0.25" in r.output
    lines = r.output.splitlines()
    assert f"  {'missing_share:x':<28} 0.25" in lines and f"  {'quality_issues':<28} 2" in lines
    (t / "p.yaml").write_text(QUALITY.text.replace("missing_share:x", "missing_share:X"))
    r = CliRunner().invoke(app, ["policy", "explain", str(t / "p.yaml"), "--report", str(t / "r.json")])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "missing_share:X: column 'X' is not a feature column of the drift report" in r.output and "(did you mean 'x'?)" in r.output
    r = CliRunner().invoke(app, ["policy", "check", str(t / "p.yaml")])  # no table to check columns against
    assert r.exit_code == 0 and "1. gappy: if missing_share:X >= 0.5 → retrain" in r.output
