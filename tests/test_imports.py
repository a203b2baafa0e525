"""Every module imports on its own (catches import cycles early), and the cheap entry points
stay cheap: importing driftkeeper or its CLI never imports Evidently, LightGBM, River or Dask."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import driftkeeper

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(driftkeeper.__path__, prefix="driftkeeper.") if not m.name.endswith("__main__")
)


def test_every_module_imports_on_its_own():
    def run(name):
        p = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return name, p.returncode, p.stderr.strip().splitlines()[-1:] if p.stderr else []

    with ThreadPoolExecutor(4) as pool:
        failures = [r for r in pool.map(run, MODULES) if r[1] != 0]
    assert failures == []
    assert len(MODULES) >= 20


@pytest.mark.parametrize("entry", ["import driftkeeper", "import driftkeeper.cli", "from driftkeeper.cli import app; app"])
def test_entry_points_do_not_import_heavy_libraries(entry):
    code = f"{entry}\nimport sys\nprint(sorted(m for m in ('evidently', 'lightgbm', 'river', 'sklearn', 'dask', 'distributed') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"


def test_public_api_resolves():
    for name in driftkeeper.__all__:
        assert getattr(driftkeeper, name) is not None
