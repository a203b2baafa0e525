"""The teaching notebooks in notebooks/ run top to bottom, and are committed without outputs.

Each notebook is executed with nbclient in a fresh kernel whose working directory is
notebooks/ (the notebooks find the bundled data as ``../examples/data``). The kernel is this
interpreter: a ``python3`` kernelspec pointing at ``sys.executable`` is installed into a
temporary folder that ``JUPYTER_PATH`` puts ahead of any user-level kernelspec, so a stale
``~/.local/share/jupyter/kernels/python3`` cannot send the notebooks to another Python.
``TMPDIR`` is a pytest temp folder, so whatever the notebooks leave in temp folders is
cleaned up by pytest.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01-quickstart", "02-update-or-retrain", "03-drift-report"]


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> Path:
    """A JUPYTER_PATH entry holding a ``python3`` kernelspec for this interpreter."""
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name="python3", prefix=str(prefix))  # argv[0] is sys.executable
    return prefix / "share" / "jupyter"


@pytest.fixture
def kernel_env(kernel_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def _execute(nb, timeout: int = 180):
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    return client.execute()


@pytest.mark.slow
def test_kernel_is_this_python(kernel_env):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os, sys; print(sys.executable); print(os.getcwd())")]
    _execute(nb, timeout=60)
    exe, cwd = nb.cells[0].outputs[0]["text"].split()
    assert Path(exe).resolve() == Path(sys.executable).resolve()
    assert Path(cwd).resolve() == NOTEBOOKS.resolve()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, kernel_env):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    t0 = time.perf_counter()
    try:
        _execute(nb)
    except CellExecutionError as exc:  # the message holds the failing cell and its traceback
        pytest.fail(f"{name}.ipynb failed:\n{exc}", pytrace=False)
    elapsed = time.perf_counter() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    print(f"{name}.ipynb ran in {elapsed:.1f} s")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name):
    """No stored outputs or execution counts, the standard kernelspec, data from the repository."""
    raw = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert code, "no code cells"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} has stored outputs; clear them before committing"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count; clear outputs before committing"
    source = "\n".join("".join(c["source"]) for c in raw["cells"])
    outside = "/".join(["..", "shared"])  # the benchmarks' datasets, absent from a user's clone
    assert outside not in source and "shared/data" not in source, "notebooks must only use data shipped in the repository"
