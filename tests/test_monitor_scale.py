"""The monitor at scale: the exact fast paths (quantile-form Wasserstein, pandas' std without
pandas, strided columns read together, column groups on threads) score like scipy/pandas, and
the binned mode (``Monitor(approx="binned")``) keeps its documented promise: the exact score
lies within ``score_bounds``, and the verdict is the exact one unless the threshold does too."""

from __future__ import annotations

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from scipy.stats import ks_2samp, wasserstein_distance

from driftkeeper.exceptions import ConfigError
from driftkeeper.monitor import DriftReport, Monitor
from driftkeeper.monitor import sketch as sk
from driftkeeper.monitor import stattests as st
from driftkeeper.monitor.columns import float_values

# ----------------------------------------------------------------------------- exact fast paths


def _sample(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), n)
    if kind == "ties":
        return rng.integers(0, 9, n).astype(float)
    if kind == "heavy":
        return rng.lognormal(0, 2, n)
    if kind == "offset":  # large values, tiny spread: differences lose no digit, sums must not either
        return 1e6 + rng.normal(0, 1e-3, n)
    if kind == "zero-inflated":
        return np.where(rng.random(n) < 0.6, 0.0, rng.exponential(1.0, n))
    raise AssertionError(kind)


KINDS = ["normal", "ties", "heavy", "offset", "zero-inflated"]


def test_series_std_is_bit_identical_to_numpy_std_of_a_series():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 8, 9, 127, 128, 129, 1000, 4097, 100_003):
        for kind in KINDS:
            x = _sample(rng, kind, n)
            assert st.series_std(x) == float(np.std(pd.Series(x))), (n, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_quantile_wasserstein_agrees_with_scipy(kind):
    """The quantile form sums other non-negative terms than scipy's CDF form: the two agree to
    rounding, 1e-12 relative (scipy's own rounding reaches 1e-13 on heavy tails, see below;
    Evidently's equality tests allow 1e-9 absolute)."""
    rng = np.random.default_rng(KINDS.index(kind))
    sizes = [(1, 1), (1, 5), (5, 1), (1000, 1000), (1000, 999), (997, 1009), (3000, 1500), (1500, 4500), (2048, 640)]
    sizes += [tuple(int(x) for x in rng.integers(1, 5000, 2)) for _ in range(20)]
    plans: dict = {}
    for n_u, n_v in sizes:
        u, v = _sample(rng, kind, n_u), _sample(rng, kind, n_v) * 1.1
        prof = st.make_profile(u, "numerical")
        expected = wasserstein_distance(u, v) / max(float(np.std(pd.Series(u))), 0.001)
        for cache in (None, plans):
            got = st.score_fast("wasserstein", prof, v, plans=cache)
            assert abs(got - expected) <= 1e-12 * max(abs(expected), 1e-300), (kind, n_u, n_v, got, expected)
    assert plans  # the cache was used


def test_quantile_wasserstein_is_within_rounding_of_the_exact_rational_value():
    """Against the distance in exact rational arithmetic: the quantile form is off by a few
    units in the last place (scipy's CDF form, by up to ~1e-13 relative on heavy tails)."""
    from fractions import Fraction

    rng = np.random.default_rng(3)
    for _ in range(8):
        n_u, n_v = (int(x) for x in rng.integers(50, 600, 2))
        u, v = np.sort(rng.lognormal(0, 2, n_u)), np.sort(rng.lognormal(0, 2, n_v) * 1.1)
        plan = st.QuantilePlan(n_u, n_v)
        if plan.equal:
            continue
        pairs = zip(plan.a.tolist(), plan.b.tolist(), plan.w.tolist())
        exact = sum(abs(Fraction(u[a]) - Fraction(v[b])) * int(w) for a, b, w in pairs) / int(plan.L)
        assert abs(plan.distance(u, v) - float(exact)) <= 1e-14 * float(exact)


def test_quantile_plan_pairs_every_share_of_both_samples():
    """The plan's lengths cover (0, 1] once and each interval faces the right quantiles."""
    for n_u, n_v in [(3, 2), (4, 6), (7, 7), (1, 9), (10, 4)]:
        plan = st.QuantilePlan(n_u, n_v)
        if plan.equal:
            continue
        assert plan.w.sum() == plan.L
        t = np.cumsum(plan.w) / plan.L  # right end of each interval
        assert np.array_equal(plan.a, np.ceil(t * n_u - 1e-9).astype(int) - 1)
        assert np.array_equal(plan.b, np.ceil(t * n_v - 1e-9).astype(int) - 1)


def test_row_major_frames_score_like_column_major_ones():
    """``pd.DataFrame(2-D array)`` holds strided columns (read together by float_values); the
    scores are the same as on a frame of contiguous columns, and fitting keeps its own copy."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 12))
    X[::7, 3] = np.nan
    Y = rng.normal(0.1, 1.2, size=(2500, 12))
    cols = [f"c{i}" for i in range(12)]
    ref_rows, cur_rows = pd.DataFrame(X.copy(), columns=cols), pd.DataFrame(Y, columns=cols)
    ref_cols = pd.DataFrame({c: X[:, i].copy() for i, c in enumerate(cols)})
    cur_cols = pd.DataFrame({c: Y[:, i].copy() for i, c in enumerate(cols)})
    assert ref_rows["c0"].to_numpy().strides[0] != 8 and ref_cols["c0"].to_numpy().strides[0] == 8
    mon = Monitor(n_jobs=1).fit(ref_rows)
    expected = Monitor(n_jobs=1).fit(ref_cols).check(cur_cols)
    assert mon.check(cur_rows) == expected
    ref_rows.iloc[:, :] = 0.0  # the caller's frame changes after fit: the monitor does not
    assert mon.check(cur_rows) == expected
    # check sorts and overwrites only its own copies, never the caller's columns (contiguous,
    # strided, with missing values)
    assert np.array_equal(cur_rows.to_numpy(), Y) and np.array_equal(cur_cols.to_numpy(), Y)
    gappy = cur_cols.copy()
    gappy.iloc[::5, 2] = np.nan
    before = gappy.copy()
    mon.check(gappy)
    pd.testing.assert_frame_equal(gappy, before)
    values, fresh = float_values([ref_cols["c1"], cur_rows["c1"], pd.Series([1, 2, 3])])
    assert fresh == [False, True, False] and values[2] is None
    assert np.array_equal(values[1], Y[:, 1]) and values[1].flags.c_contiguous


def test_threads_over_column_groups_never_change_a_score(monkeypatch):
    import driftkeeper.monitor.monitor as mod

    rng = np.random.default_rng(9)
    ref = pd.DataFrame(rng.normal(size=(3000, 19)), columns=[f"c{i}" for i in range(19)]).assign(
        k=rng.choice(list("abc"), 3000))
    cur = pd.DataFrame(rng.normal(0.05, 1.1, size=(2000, 19)), columns=[f"c{i}" for i in range(19)]).assign(
        k=rng.choice(list("abcd"), 2000))
    serial = Monitor(n_jobs=1).fit(ref).check(cur)
    monkeypatch.setattr(mod, "_PARALLEL_MIN_VALUES", 0)
    for n_jobs in (2, 3, 8):
        assert Monitor(n_jobs=n_jobs).fit(ref).check(cur) == serial


# ----------------------------------------------------------------------------- binned mode


def _frames(rng: np.random.Generator, n_ref: int, n_cur: int, shift: float, scale: float, kind: str):
    ref = pd.DataFrame({"x": _sample(rng, kind, n_ref)})
    cur = pd.DataFrame({"x": _sample(rng, kind, n_cur) * scale + shift})
    return ref, cur


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 2**32 - 1),
    kind=hst.sampled_from(KINDS),
    n_ref=hst.integers(10_001, 40_000),
    n_cur=hst.integers(200, 40_000),
    shift=hst.sampled_from([0.0, 0.0, 0.01, 0.03, 0.05, 0.1, 0.3]),
    scale=hst.sampled_from([1.0, 1.0, 1.05, 1.2]),
    method=hst.sampled_from(["auto", "ks"]),
    bins=hst.sampled_from([16, 100, 1000, 10_000]),
)
def test_binned_score_bounds_hold_the_exact_score_and_verdicts_agree_outside_them(
    seed, kind, n_ref, n_cur, shift, scale, method, bins
):
    rng = np.random.default_rng(seed)
    ref, cur = _frames(rng, n_ref, n_cur, shift * (1e-3 if kind == "offset" else 1.0), scale, kind)
    exact = Monitor(method=method).fit(ref).check(cur).column("x")
    report = Monitor(method=method, approx="binned", bins=bins).fit(ref).check(cur)
    binned = report.column("x")
    assert binned.approx == "binned" and exact.approx is None and exact.score_bounds is None
    assert binned.method == exact.method and binned.threshold == exact.threshold
    lo, hi = binned.score_bounds
    assert lo <= exact.score <= hi, (exact.score, binned.score_bounds)  # rounding margin included
    assert lo <= binned.score <= hi
    if binned.verdict_certain:
        assert binned.drifted == exact.drifted
        assert not any(w.startswith("x: binned") for w in report.warnings)
    else:
        assert any(w.startswith("x: binned") for w in report.warnings)


def test_binned_ks_statistic_error_is_at_most_the_largest_in_bin_share():
    """The documented KS bound: D_hi - D_lo <= the largest share of either sample strictly
    inside one bin (about 1 / bins for the reference)."""
    rng = np.random.default_rng(4)
    for bins in (10, 100, 1000):
        u, v = np.sort(rng.normal(size=50_000)), np.sort(rng.normal(0.02, 1, 30_000))
        sketch = sk.make_sketch(u, bins)
        b = sk._binned(sketch, v)
        d_lo, d_hi = sk._ks_bounds(b)
        d = ks_2samp(u, v).statistic
        assert d_lo <= d <= d_hi
        q_u = (sketch.counts - sketch.atoms) / sketch.n  # reference share strictly inside each bin
        q_v = b.g_at - b.lo  # current share strictly inside each bin
        assert d_hi - d_lo <= max(q_u.max(), q_v.max()) + 1e-12
        assert q_u.max() <= 1.0 / bins + 1.0 / sketch.n


def test_binned_wasserstein_is_exact_when_the_cdfs_cannot_cross_inside_a_bin():
    """Values beyond the reference's range, and a batch wholly above it: G keeps its sign in
    every bin, so the bounds collapse onto the exact score."""
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.uniform(0, 1, 20_000)})
    cur = pd.DataFrame({"x": rng.uniform(2, 3, 5_000)})
    exact = Monitor().fit(ref).check(cur).column("x")
    binned = Monitor(approx="binned", bins=50).fit(ref).check(cur).column("x")
    lo, hi = binned.score_bounds
    assert lo <= exact.score <= hi and hi - lo <= 1e-12 * exact.score
    assert binned.score == pytest.approx(exact.score, rel=1e-12)


def test_binned_mode_sketches_only_the_columns_it_can_score():
    rng = np.random.default_rng(6)
    n = 20_000
    ref = pd.DataFrame({
        "big": rng.normal(size=n),
        "psi": rng.normal(size=n),
        "few": rng.integers(0, 4, n).astype(float),  # <= 5 values: "auto" may pick jensenshannon
        "cat": rng.choice(list("abc"), n),
    })
    cur = ref.sample(5000, random_state=1).reset_index(drop=True)
    mon = Monitor(approx="binned", bins=500, method={"psi": "psi"}).fit(ref)
    assert mon.profile_["big"].sketch is not None and mon.profile_["big"].values is None
    assert all(mon.profile_[c].sketch is None for c in ("psi", "few", "cat"))
    report = mon.check(cur)
    assert report.column("big").approx == "binned" and report.column("big").method == "wasserstein"
    assert all(report.column(c).approx is None for c in ("psi", "few", "cat"))
    exact = Monitor(method={"psi": "psi"}).fit(ref).check(cur)
    for c in ("psi", "few", "cat"):
        assert report.column(c) == exact.column(c)
    # a small reference stays exact whatever the mode
    small = Monitor(approx="binned").fit(ref.iloc[:5000])
    assert small.profile_["big"].sketch is None
    assert small.check(cur) == Monitor().fit(ref.iloc[:5000]).check(cur)


def test_binned_report_round_trips_and_exact_reports_keep_their_keys():
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=20_000), "k": rng.choice(list("ab"), 20_000)})
    cur = pd.DataFrame({"x": rng.normal(0.2, 1, 3000), "k": rng.choice(list("ab"), 3000)})
    report = Monitor(approx="binned", bins=200).fit(ref).check(cur)
    d = report.to_dict()
    x, k = d["columns"]
    assert x["approx"] == "binned" and len(x["score_bounds"]) == 2 and "approx" not in k and "score_bounds" not in k
    assert DriftReport.from_dict(json.loads(json.dumps(d, allow_nan=False))) == report
    exact = Monitor().fit(ref).check(cur).to_dict()
    assert all("approx" not in c and "score_bounds" not in c for c in exact["columns"])


def test_binned_monitor_pickles_and_refuses_the_html_page(tmp_path):
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=20_000)})
    cur = pd.DataFrame({"x": rng.normal(size=3000)})
    mon = Monitor(approx="binned").fit(ref)
    joblib.dump(mon, tmp_path / "m.joblib")
    assert joblib.load(tmp_path / "m.joblib").check(cur) == mon.check(cur)
    assert "approx='binned'" in repr(mon)
    with pytest.raises(ConfigError, match=r"^column 'x' is summarised by a binned sketch \(approx='binned'\)"):
        mon.html(cur, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


def test_uncertain_binned_verdict_is_a_warning():
    """A threshold inside the bounds: the report says the verdict may differ from the exact one."""
    rng = np.random.default_rng(10)
    ref = pd.DataFrame({"x": rng.normal(size=20_000)})
    cur = pd.DataFrame({"x": rng.normal(0.1, 1, 20_000)})
    first = Monitor(approx="binned", bins=8).fit(ref).check(cur).column("x")
    lo, hi = first.score_bounds
    report = Monitor(approx="binned", bins=8, threshold=(lo + hi) / 2).fit(ref).check(cur)
    col = report.column("x")
    assert not col.verdict_certain
    assert any(w.startswith("x: binned wasserstein score ") and "the exact verdict may differ" in w
               for w in report.warnings)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"approx": "sketch"}, "The 'approx' parameter of Monitor must be None (exact scores) or 'binned'. Got 'sketch' instead."),
    ({"approx": "binned", "bins": 1}, "The 'bins' parameter of Monitor must be an int in the range [2, inf). Got 1 instead."),
    ({"bins": 2.5}, "The 'bins' parameter of Monitor must be an int in the range [2, inf). Got 2.5 instead."),
])
def test_binned_parameters_are_validated_at_fit(kwargs, message):
    mon = Monitor(**kwargs)
    with pytest.raises(ConfigError) as err:
        mon.fit(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    assert str(err.value) == message


def test_large_sample_ks_is_scipys_bit_for_bit():
    """Above 10,000 values scipy's ks_2samp uses its asymptotic p-value; the merge-based
    statistic and that p-value are scipy's own, ties included."""
    rng = np.random.default_rng(11)
    for kind in KINDS:
        for n_u, n_v in [(12_000, 11_000), (10_001, 300), (250, 20_000), (15_000, 15_000)]:
            u, v = _sample(rng, kind, n_u), _sample(rng, kind, n_v) * 1.02
            r = ks_2samp(u, v)
            assert st.ks_statistic_sorted(np.sort(u), np.sort(v)) == r.statistic, (kind, n_u, n_v)
            assert st.score_fast("ks", st.make_profile(u, "numerical"), v) == r.pvalue, (kind, n_u, n_v)
    assert math.isfinite(st.ks_asymptotic_pvalue(0.5, 20_000, 20_000))


def test_a_monitor_pickled_before_the_binned_mode_still_checks():
    """Registries hold monitors pickled by earlier releases: without ``approx``/``bins`` on the
    monitor and ``sketch`` on its profiles they still check, exactly."""
    import pickle

    rng = np.random.default_rng(12)
    ref, cur = pd.DataFrame({"x": rng.normal(size=2000)}), pd.DataFrame({"x": rng.normal(size=500)})
    mon = Monitor().fit(ref)
    expected = mon.check(cur)
    del mon.__dict__["approx"], mon.__dict__["bins"]
    for prof in mon.profile_.values():
        del prof.__dict__["sketch"]
    old = pickle.loads(pickle.dumps(mon))
    assert old.check(cur) == expected and "approx" not in repr(old)
