"""Real data does not stop the night: what only a person can fix is refused, what the model can
live with is reported (a mostly-missing column, a stream without a time column)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

import driftkeeper
from driftkeeper.cli import app


def test_version_prints_the_installed_version_and_exits_0():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output == f"driftkeeper {driftkeeper.__version__}\n"


def test_version_imports_no_heavy_library():
    code = ("import sys\nfrom driftkeeper.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('evidently', 'lightgbm', 'river', 'sklearn') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.splitlines() == [f"driftkeeper {driftkeeper.__version__}", "[]"]
