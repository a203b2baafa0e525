"""Drift checks on Dask DataFrames, on a real two-process ``distributed.LocalCluster``: every
method the monitor supports scores like the pandas path (exact methods to 1e-9, approximate ones
inside their ``score_bounds``, verdicts equal), the report marks approximate columns,
``driftkeeper report --engine dask`` reads parquet directories, and a worker killed mid-check
means a retried task or a clean error, never a different report."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from typer.testing import CliRunner  # noqa: E402

from driftkeeper.cli import app  # noqa: E402
from driftkeeper.exceptions import ConfigError, DataQualityError, DriftkeeperError  # noqa: E402
from driftkeeper.monitor import Monitor  # noqa: E402
from driftkeeper.monitor import partials as pt  # noqa: E402
from driftkeeper.monitor import stattests as st  # noqa: E402

# one worker of the test run takes every test here: one cluster, not one per worker (make test
# runs pytest with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("dask")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  memory_limit="1GiB") as cluster, distributed.Client(cluster) as c:
        yield c


def _frames(n_ref: int, n_cur: int, shift: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n, s, p):
        x = rng.normal(s, 1.0, n)
        x[rng.random(n) < 0.05] = np.nan  # missing values are dropped on both paths
        return pd.DataFrame({
            "x": x,
            "u": rng.uniform(0.2 + s / 4, 0.8, n),  # stays inside the reference's range [0, 1]
            "c": rng.choice(["a", "b", "c", "d"], n, p=p),
            "k": rng.integers(0, 4 + (s > 0), n),  # an int column with few values: categorical
            "b": rng.choice(["yes", "no"], n, p=p[:2] / p[:2].sum()),
        })

    ref = frame(n_ref, 0.0, np.array([0.4, 0.3, 0.2, 0.1]))
    ref.loc[:1, "u"] = [0.0, 1.0]
    return ref, frame(n_cur, shift, np.array([0.3, 0.3, 0.2, 0.2]))


REF, CUR = _frames(30_000, 20_000, 0.08)
COLUMNS_BY_METHOD = {
    "chisquare": ["c", "b", "k"], "z": ["c", "b", "k"], "g_test": ["c", "b", "k"], "psi": ["c", "k", "u", "x"],
    "jensenshannon": ["c", "k", "u", "x"], "kl_div": ["c", "k", "u", "x"], "hellinger": ["c", "b", "k"],
    "t_test": ["x", "u"], "ks": ["x", "u"], "wasserstein": ["x", "u"],
}


def _pair(method: str, columns: list[str], ref: pd.DataFrame, cur: pd.DataFrame, **kw):
    monitor = dict(columns=columns, method=method, categorical=[c for c in columns if c in ("k",)], **kw)
    exact = Monitor(**monitor).fit(ref).check(cur)
    on_dask = Monitor(**monitor).fit(dd.from_pandas(ref, npartitions=4)).check(dd.from_pandas(cur, npartitions=3))
    return exact, on_dask


def _assert_agrees(exact, on_dask) -> None:
    for e, d in zip(exact.columns, on_dask.columns, strict=True):
        assert (d.name, d.method, d.rows) == (e.name, e.method, e.rows)
        assert d.missing_share == pytest.approx(e.missing_share, abs=1e-12)
        if d.exact:
            assert d.score == pytest.approx(e.score, abs=1e-9, rel=1e-9), d.name
        else:
            lo, hi = d.score_bounds
            assert lo <= e.score <= hi, (d.name, e.score, d.score_bounds)
        if d.verdict_certain:
            assert d.drifted == e.drifted, d.name


@pytest.mark.parametrize("method", sorted(COLUMNS_BY_METHOD))
def test_every_count_and_sketch_method_agrees_with_the_pandas_path(client, method):
    ref = REF.iloc[: len(CUR)] if method == "g_test" else REF  # Evidently's g_test needs samples of one size
    exact, on_dask = _pair(method, COLUMNS_BY_METHOD[method], ref, CUR)
    _assert_agrees(exact, on_dask)
    kinds = {c.name: c.exact for c in on_dask.columns}
    if method in ("ks", "wasserstein"):
        assert kinds == {"x": False, "u": False}  # sketches: bounded, never claimed exact
    elif method in ("psi", "jensenshannon", "kl_div"):
        # x leaves the reference's range (bounded), u stays inside it (frozen grid: exact)
        assert kinds == {"c": True, "k": True, "u": True, "x": False}
    else:
        assert all(kinds.values())


def test_the_stated_bounds_are_tight_where_they_are_stated():
    """KS: the statistic's interval is at most the largest share of either sample inside one
    sketch bin (about 1 / bins); checked on the merged sketch of four partitions."""
    ref, cur = REF["x"].dropna().to_numpy(), CUR["x"].dropna().to_numpy()
    m = Monitor(columns=["x"], method="ks", bins=500).fit(dd.from_pandas(REF[["x"]], npartitions=4))
    summary = m.profile_["x"].sketch
    d = pt.merge_stats(*(pt.part_stats(p, {"x": {"num": True, "edges": summary.sketch.edges}})
                         for p in (CUR[["x"]].iloc[:9000], CUR[["x"]].iloc[9000:])), {"x": {"num": True}})["x"]
    b = pt.sketch_binned(summary.sketch, d["sk"], d["lo"], d["hi"], d["n"])
    from driftkeeper.monitor import sketch as sk

    lo, hi = sk._ks_bounds(b)
    exact_d = st.ks_statistic_sorted(np.sort(ref), np.sort(cur))
    largest = max((summary.sketch.counts / ref.size).max(), (d["sk"]["cv"] / cur.size).max())
    assert lo <= exact_d <= hi
    assert hi - lo <= largest + 1e-12
    assert largest < 3 / 500  # near-quantile edges merged from the partitions


@pytest.mark.parametrize("method", sorted(pt.NEEDS_VALUES | {"fisher_exact", "hellinger"}))
def test_methods_that_need_every_value_run_exactly_on_small_columns(client, method):
    ref, cur = _frames(150, 150, 0.5, seed=1)  # permutation tests run 1000 rounds: keep them small
    columns = ["b"] if method in ("fisher_exact", "TVD") else ["x"]
    exact, on_dask = _pair(method, columns, ref, cur)
    _assert_agrees(exact, on_dask)
    assert on_dask.columns[0].exact and on_dask.columns[0].score is not None


def test_methods_that_need_every_value_are_refused_on_large_columns(client):
    with pytest.raises(ConfigError, match=r"column 'x': method 'anderson' needs every value .* choose ks or wasserstein"):
        Monitor(columns=["x"], method="anderson").fit(dd.from_pandas(REF, npartitions=2))
    monitor = Monitor(columns=["x"], method="mannw").fit(REF.iloc[:5000])  # small reference, large batch
    with pytest.raises(DataQualityError, match=r"column 'x': method 'mannw' cannot score this batch: it needs every"):
        monitor.check(dd.from_pandas(CUR, npartitions=2))


def test_auto_and_a_pandas_fitted_monitor_agree_and_report_approximate_columns(client):
    exact = Monitor().fit(REF).check(CUR)
    mixed = Monitor().fit(REF).check(dd.from_pandas(CUR, npartitions=3))  # exact profiles, batch on Dask
    on_dask = Monitor().fit(dd.from_pandas(REF, npartitions=3)).check(dd.from_pandas(CUR, npartitions=2))
    for report in (mixed, on_dask):
        _assert_agrees(exact, report)
        x = report.to_dict()["columns"][0]
        assert (x["name"], x["method"], x["approx"]) == ("x", "wasserstein", "binned")
        assert x["score_bounds"][0] <= exact.column("x").score <= x["score_bounds"][1]
        assert "approx" not in report.to_dict()["columns"][2]  # c: category counts, exact
    assert on_dask.dataset_drift == exact.dataset_drift and on_dask.drifted_columns == exact.drifted_columns


def test_a_monitor_fitted_on_dask_checks_pandas_frames_and_refuses_evidentlys_page(client, tmp_path):
    monitor = Monitor(columns=["c", "k"]).fit(dd.from_pandas(REF, npartitions=2))
    assert monitor.check(CUR).to_dict() == monitor.check(dd.from_pandas(CUR, npartitions=2)).to_dict()
    with pytest.raises(ConfigError, match="fitted on a Dask DataFrame"):
        monitor.html(CUR, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()
    with pytest.raises(ConfigError, match="sample= draws from a pandas DataFrame"):
        Monitor(sample=100).fit(REF).check(dd.from_pandas(CUR, npartitions=2))


def test_sturges_edges_are_numpys():
    rng = np.random.default_rng(4)
    for _ in range(200):
        a = rng.normal(rng.uniform(-1e3, 1e3), 10 ** rng.uniform(-6, 4), int(rng.integers(2, 5000)))
        assert np.array_equal(pt.sturges_edges(a.min(), a.max(), a.size), np.histogram_bin_edges(a, bins="sturges"))


def test_cli_report_engine_dask_reads_parquet_directories(client, tmp_path):
    ref_dir, cur_dir, out = tmp_path / "ref", tmp_path / "cur", tmp_path / "report.json"
    dd.from_pandas(REF, npartitions=3).to_parquet(ref_dir)
    dd.from_pandas(CUR, npartitions=2).to_parquet(cur_dir)
    args = ["report", str(ref_dir), str(cur_dir), "--engine", "dask", "--dask-scheduler", client.scheduler.address,
            "--json", str(out), "--method", "jensenshannon", "--method", "x=wasserstein", "--columns", "x,c,u"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "exact within" in result.output and "exact" in result.output
    got = json.loads(out.read_text())
    exact = Monitor(columns=["x", "c", "u"], method={"x": "wasserstein", "c": "jensenshannon", "u": "jensenshannon"})
    expected = exact.fit(REF).check(CUR)
    for col, e in zip(got["columns"], expected.columns):
        assert col["name"] == e.name and col["drifted"] == e.drifted
        if "approx" in col:
            assert col["score_bounds"][0] <= e.score <= col["score_bounds"][1]
        else:
            assert col["score"] == pytest.approx(e.score, abs=1e-9)
    bad = CliRunner().invoke(app, ["report", str(ref_dir), str(cur_dir), "--engine", "dask", "--html", "x.html"])
    assert bad.exit_code == 2 and "--html needs --engine pandas" in bad.output


def _slow(part: pd.DataFrame) -> pd.DataFrame:
    time.sleep(0.25)
    return part


def test_a_worker_killed_mid_check_is_retried_or_fails_cleanly_never_wrong(client):
    monitor = Monitor(columns=["x", "c"]).fit(REF)
    expected = monitor.check(dd.from_pandas(CUR, npartitions=8)).to_dict()
    slow = dd.from_pandas(CUR, npartitions=8).map_partitions(_slow, meta=CUR.iloc[:0])
    pids = client.run(os.getpid)
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = monitor.check(slow).to_dict()
        except DriftkeeperError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.6)  # the first partitions are running
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    thread.join(60)
    assert not thread.is_alive()
    if "error" in outcome:  # a clean, one-line error naming the cause
        assert "lost workers" in str(outcome["error"])
    else:  # the lost tasks ran again on the other worker: the same report
        assert outcome["report"] == expected
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker
