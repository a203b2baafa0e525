"""The dashboard page (``driftkeeper.dashboard.page``, ``.figures``) and ``driftkeeper dashboard``."""

from __future__ import annotations

import json
import re

import pytest
from conftest import tree_snapshot
from test_dashboard_data import invoke, records

import driftkeeper.cli._dashboard  # noqa: F401  (registers the command on the app)
from driftkeeper.dashboard import load_nights
from test_dashboard_data import add_nights
from driftkeeper.dashboard.page import build_dashboard


def plotted(page: str) -> list[dict]:
    """The traces of the page's plot: the first argument after the div id of its Plotly.newPlot call."""
    at = page.index('Plotly.newPlot("dk-plot", ') + len('Plotly.newPlot("dk-plot", ')
    data, _ = json.JSONDecoder().raw_decode(page, at)
    return data


def test_page_is_self_contained_and_plots_every_night(root):
    recs = records(root)
    run_dir = root / "runs" / recs[-1]["run_id"]
    (run_dir / "drift.html").write_text("<html>report</html>")
    out = build_dashboard(root)
    assert out == root / "dashboard.html"
    page = out.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", page)  # nothing loaded from elsewhere
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inline
    traces = {t.get("name"): t for t in plotted(page)}
    assert traces["rmse (realised)"]["y"] == [r["champion_metric"]["value"] for r in recs]
    assert traces["serving"]["y"] == [r["serving"] for r in recs]
    lanes = [t for t in plotted(page) if t.get("legend") == "legend2" and t["x"] != [None]]
    assert sum(len(t["x"]) for t in lanes if t["name"] in ("none", "update", "retrain", "rollback")) == len(recs)
    heat = next(t for t in plotted(page) if t["type"] == "heatmap")
    assert len(heat["y"]) == len(recs[0]["drift"]["columns"]) and all(len(row) == len(recs) for row in heat["z"])
    drifted = sum(c["drifted"] for r in recs for c in r["drift"]["columns"])
    assert len(traces.get("drifted", {"x": []})["x"]) == drifted
    assert page.count('<tr class="') == len(recs)  # one table row per night
    assert f'href="runs/{recs[-1]["run_id"]}/drift.html"' in page
    assert out.stat().st_mode & 0o044 == 0o044  # readable like any file the user writes (umask 022)


def test_links_are_relative_to_the_page_written_elsewhere(root, tmp_path):
    run_id = records(root)[0]["run_id"]
    (root / "runs" / run_id / "drift.html").write_text("report")
    (tmp_path / "site").mkdir()
    page = build_dashboard(root, tmp_path / "site" / "dk.html").read_text()
    assert f'href="../root/runs/{run_id}/drift.html"' in page


def test_previous_release_root_gets_a_page_and_is_not_changed(v01, tmp_path):
    before = tree_snapshot(v01)
    page = build_dashboard(v01, tmp_path / "v01.html").read_text()
    assert tree_snapshot(v01) == before
    traces = {t.get("name"): t for t in plotted(page)}
    assert traces["retrain level"]["y"][0] == pytest.approx(1.8804, abs=1e-4)
    assert [t["name"] for t in plotted(page) if t.get("marker", {}).get("symbol") == "x"] == ["refused by the gate"]
    assert "v0004" in page and "champion" in page  # the registry's versions table


def test_keys_added_by_later_runners_are_plotted(root):
    add_nights(root, 40, seed=2, extras=True)
    nights = load_nights(root)
    traces = {t.get("name"): t for t in plotted(build_dashboard(root).read_text())}
    assert traces["rmse (estimated)"]["y"][-40:] == [n.estimated_metric for n in nights[-40:]]
    assert traces["budget spent"]["y"][-40:] == [n.budget["spent_s"] / n.budget["allowance_s"] for n in nights[-40:]]
    assert traces["budget spent"]["yaxis"] not in {t["yaxis"] for name, t in traces.items() if name != "budget spent"}
    assert len(traces["needs a person"]["x"]) == sum(bool(n.needs_attention) for n in nights) > 0


def test_a_root_without_nights_gets_a_page_saying_so(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keeper.json").write_text("{}")
    page = build_dashboard(tmp_path / "r").read_text()
    assert "No nights yet" in page and 'id="dk-plot"' not in page and len(page) < 20_000


def test_a_year_of_nights_stays_a_few_megabytes(root):
    add_nights(root, 362, seed=3)
    out = build_dashboard(root)
    assert len(load_nights(root)) == 365
    assert out.stat().st_size < 6_000_000


# --------------------------------------------------------------------------- command
def test_dashboard_command_writes_the_page_and_refuses_bad_input(root, tmp_path):
    r = invoke("dashboard", root)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"dashboard written to {root / 'dashboard.html'}"
    later = load_nights(root)[-1].time.date().isoformat()
    r = invoke("dashboard", root, "-o", tmp_path / "last.html", "--since", later)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "last.html").read_text().count('<tr class="') == 1
    for args, message in (
        (["-o", tmp_path / "no" / "x.html"], "does not exist; create it first"),
        (["--since", "yesterday"], "--since 'yesterday' is not a date"),
    ):
        r = invoke("dashboard", root, *args)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    r = invoke("dashboard", tmp_path)
    assert r.exit_code == 2 and "is not a driftkeeper root" in r.output
