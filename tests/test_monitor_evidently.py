"""The monitor's scores against Evidently's own: every stattest, the default rule, the Report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftkeeper.monitor import _evidently as ev
from driftkeeper.monitor import stattests as st
from driftkeeper.exceptions import ConfigError
from driftkeeper.monitor import Monitor

TOL = 1e-9


def test_method_table_matches_evidentlys_registry():
    registered = ev.registered_methods()
    assert set(registered) == set(st.METHODS)
    for name, (kinds, default_threshold) in registered.items():
        assert st.METHODS[name].kinds == kinds, name
        assert st.METHODS[name].default_threshold == default_threshold, name


def _samples():
    rng = np.random.default_rng(11)
    return {
        "numerical": [
            (rng.normal(0, 1, 300), rng.normal(0.2, 1.1, 200)),  # many values: sturges bins
            (rng.integers(0, 15, 300).astype(float), rng.integers(0, 16, 200).astype(float)),  # <= 20 values
            (rng.normal(0, 1, 150), rng.normal(0, 1, 150)),  # equal sizes, no drift
        ],
        "categorical": [
            (rng.choice(list("abcd"), 300), rng.choice(list("abcde"), 200)),  # an unseen category
            (rng.choice(["y", "n"], 200), rng.choice(["y", "n"], 200, p=[0.7, 0.3])),  # binary
            (rng.choice(list("abc"), 150), rng.choice(list("abc"), 150)),
        ],
    }


PAIRS = [(m, k) for m, info in st.METHODS.items() for k in sorted(info.kinds)]


@pytest.mark.parametrize(("method", "kind"), PAIRS, ids=[f"{m}-{k}" for m, k in PAIRS])
def test_every_pair_scores_like_evidentlys_stattest(method, kind):
    checked = 0
    samples = _samples()[kind]
    if method == "TVD":  # 1000 permutations in pure Python: one sample is enough
        samples = samples[-1:]
    for ref, cur in samples:
        prof = st.make_profile(ref, kind)
        threshold = st.METHODS[method].default_threshold
        np.random.seed(5)  # empirical_mmd permutes with numpy's global generator
        try:
            expected, drifted, _ = ev.evidently_score(method, ref, cur, kind)
        except ValueError:
            continue  # Evidently refuses this sample (fisher_exact/g_test need equal sizes)
        np.random.seed(5)
        if method in st.FAST_METHODS:
            got = st.score_fast(method, prof, cur)
        else:
            got = ev.evidently_score(method, prof.values, cur, kind)[0]
        assert abs(got - expected) <= TOL, (method, kind, got, expected)
        assert st.METHODS[method].drifted(got, threshold) == drifted
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("n_ref", [300, 1000, 1001, 4000])
def test_default_rule_matches_evidentlys_get_stattest(n_ref):
    rng = np.random.default_rng(n_ref)
    cases = {
        "numerical": [rng.normal(size=n_ref), rng.integers(0, 5, n_ref).astype(float), rng.integers(0, 2, n_ref).astype(float)],
        "categorical": [rng.choice(list("abc"), n_ref), rng.choice(["a", "b"], n_ref)],
    }
    for kind, refs in cases.items():
        for ref in refs:
            cur = ref[:200] if kind == "categorical" else ref[:200] + 0.0
            prof = st.make_profile(ref, kind)
            assert st.default_method(prof, cur) == ev.evidently_default_method(ref, cur, kind)
    # the current batch counts too: a third value turns z into chisquare, a sixth ks into chisquare's neighbour
    ref = rng.choice(["a", "b"], n_ref)
    cur = np.r_[ref[:100], ["c"]]
    assert st.default_method(st.make_profile(ref, "categorical"), cur) == ev.evidently_default_method(ref, cur, "categorical")


def _drift_frames(n_ref: int, seed: int):
    rng = np.random.default_rng(seed)

    def frame(n, shift):
        return pd.DataFrame({
            "num_a": rng.normal(1.0 if shift else 0.0, 1, n),
            "num_b": rng.exponential(1.0, n),
            "num_int": rng.integers(0, 200, n),
            "few": rng.integers(0, 4, n).astype(float),
            "cat": rng.choice(["x", "y", "z", "w"] if shift else ["x", "y", "z"], n),
            "binary": rng.choice(["yes", "no"], n, p=[0.6, 0.4] if shift else [0.5, 0.5]),
            "small_int": rng.integers(0, 5, n),
        })

    ref = frame(n_ref, False)
    ref.loc[::17, "num_b"] = np.nan
    cur = frame(300, True)
    cur.loc[::23, "cat"] = None
    return ref, cur


CONFIGS = {
    "auto-small": (600, {}, None),
    "auto-large": (2500, {}, None),
    "explicit-large": (
        2500,
        {"num_a": "psi", "num_b": "ks", "num_int": "kl_div", "cat": "psi", "binary": "jensenshannon", "small_int": "hellinger"},
        {"num_a": 0.2, "cat": 0.15},
    ),
    # g_test needs as many current as reference values (Evidently does not rescale it)
    "explicit-small": (300, {"num_a": "anderson", "num_b": "t_test", "binary": "g_test", "cat": "TVD"}, 0.07),
}


@pytest.fixture(scope="module")
def evidently_runs():
    """One Evidently Report per configuration, next to the monitor on the same frames."""
    out = {}
    for name, (n_ref, method, threshold) in CONFIGS.items():
        ref, cur = _drift_frames(n_ref, seed=n_ref)
        mon = Monitor(method=method or "auto", threshold=threshold, numerical=["few"]).fit(ref)
        report = mon.check(cur)
        _, results = mon.evidently_report(cur)
        out[name] = (mon, report, results)
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_report_table_agrees_with_evidentlys_report_on_every_column(evidently_runs, name):
    mon, report, results = evidently_runs[name]
    assert set(results) == set(mon.kinds_)
    for col in report.columns:
        e = results[col.name]
        assert col.method == e.method, col.name
        assert col.threshold == e.threshold, col.name
        assert abs(col.score - e.score) <= TOL, (col.name, col.score, e.score)
        assert col.drifted == e.drifted, col.name


def test_the_runs_cover_both_reference_sizes_and_all_default_methods(evidently_runs):
    methods = {c.method for name in ("auto-small", "auto-large") for c in evidently_runs[name][1].columns}
    assert {"ks", "chisquare", "z", "wasserstein", "jensenshannon"} <= methods
    assert evidently_runs["auto-small"][1].column("few").method == "chisquare"  # numerical with few values
    assert evidently_runs["auto-large"][1].column("num_a").drifted


def test_html_page_is_written_with_the_same_methods(tmp_path):
    ref, cur = _drift_frames(600, seed=3)
    mon = Monitor(columns=["num_a", "cat"], method={"cat": "psi"}).fit(ref)
    path = tmp_path / "out" / "drift.html"
    report = mon.html(cur, path)
    html = path.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "num_a" in html and "cat" in html
    assert report.column("cat").method == "psi" and report.column("num_a").method == "ks"


def test_html_from_an_existing_report_runs_no_second_check(tmp_path, monkeypatch):
    ref, cur = _drift_frames(600, seed=3)
    mon = Monitor(columns=["num_a", "cat"], method={"cat": "psi"}).fit(ref)
    scored = []
    real = Monitor._score
    monkeypatch.setattr(Monitor, "_score", lambda self, name, *a: scored.append(name) or real(self, name, *a))
    report = mon.check(cur)
    assert scored == ["num_a", "cat"]
    returned = mon.html(cur, tmp_path / "drift.html", report=report)
    assert scored == ["num_a", "cat"]  # the page reused the report: no column was scored again
    assert returned is report and "num_a" in (tmp_path / "drift.html").read_text(encoding="utf-8")
    mon.html(cur, tmp_path / "again.html")  # without a report, html checks once
    assert scored == ["num_a", "cat"] * 2


def test_html_refuses_a_report_of_another_batch(tmp_path):
    ref, cur = _drift_frames(600, seed=3)
    mon = Monitor(columns=["num_a"]).fit(ref)
    other = mon.check(cur.iloc[:100])
    with pytest.raises(ConfigError, match=r"^report= describes a batch of 100 rows, not this one \(\d+ rows\); "
                                          r"pass the report check\(\) returned for this batch$"):
        mon.html(cur, tmp_path / "drift.html", report=other)
    assert not (tmp_path / "drift.html").exists()
