"""The dashboard in a real browser: headless Chromium opens the page from disk (no network), runs
its scripts, and the plot must have drawn — SVG nodes in the DOM, the plot's colours in the
screenshot, nothing on the console. Skipped where no Chromium is installed (CI installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_dashboard_data import make_root

from driftkeeper.dashboard import load_nights
from test_dashboard_data import add_nights
from driftkeeper.dashboard.figures import COLORS, METRIC_COLOR
from driftkeeper.dashboard.page import build_dashboard

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (apt-get install chromium; .ci/run installs it)"),
]
WIDTH, HEIGHT = 1400, 2000
PLOT_ROWS = slice(230, 1650)  # screenshot rows between the summary cards and the tables


@pytest.fixture(scope="module")
def one_night(tmp_path_factory) -> Path:
    return make_root(tmp_path_factory.mktemp("browser") / "one", nights=1)


def render(page: Path, tmp_path: Path) -> tuple[str, Path, list[str]]:
    """(DOM after the scripts ran, screenshot, console lines) of ``page`` in headless Chromium."""
    shot = tmp_path / "shot.png"
    p = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
         f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, shot, [line for line in p.stderr.splitlines() if ":CONSOLE" in line]


def colour_pixels(shot: Path, hex_colour: str, tolerance: int = 12) -> int:
    """Pixels of the plot's part of the screenshot (below the cards, above the tables) within
    ``tolerance`` per channel of ``hex_colour``."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)[PLOT_ROWS]
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img - target).max(axis=2) <= tolerance).sum())


def check_page(page: Path, tmp_path: Path, nights: int) -> None:
    dom, shot, console = render(page, tmp_path)
    assert console == []  # no script error, no warning
    assert dom.count('class="main-svg"') >= 2  # plotly drew its SVG layers
    assert len(re.findall(r'<g class="trace scatter', dom)) >= 4  # metric, baseline, decisions, serving...
    assert dom.count('class="hm"') == 1  # the column x night heatmap
    assert dom.count('class="point"') >= 2 * nights  # a decision marker and a serving point per night at least
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (WIDTH, HEIGHT)
    assert len(img.getcolors(maxcolors=1 << 24)) > 200  # not a blank or single-colour page
    # the metric's markers and the decision markers, in their colours, where the plot is
    assert colour_pixels(shot, METRIC_COLOR) > 30 * min(nights, 10)
    assert colour_pixels(shot, COLORS["update"]) > 30 * min(nights, 10)


def test_a_hundred_nights_draw_in_a_browser(one_night, tmp_path):
    root = Path(shutil.copytree(one_night, tmp_path / "root"))
    add_nights(root, 99, seed=4)
    assert len(load_nights(root)) == 100
    check_page(build_dashboard(root), tmp_path, 100)


def test_a_single_night_draws_in_a_browser(one_night, tmp_path):
    check_page(build_dashboard(one_night, tmp_path / "one.html"), tmp_path, 1)


def test_the_checks_catch_a_page_whose_plot_fails(one_night, tmp_path, monkeypatch):
    # the same page with a plotly.js that throws: the console and the DOM checks must see it
    import driftkeeper.dashboard.page as page

    monkeypatch.setattr(page, "_plotly_js", lambda: 'throw new Error("plotly.js broke");')
    dom, _, console = render(build_dashboard(one_night, tmp_path / "broken.html"), tmp_path)
    assert any("plotly.js broke" in line for line in console)
    assert 'class="main-svg"' not in dom
