"""The architecture contract: the import-linter contracts of pyproject.toml hold, and no two
modules of driftkeeper import each other, directly or through others (imports inside functions
count; imports under ``if TYPE_CHECKING:`` do not)."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def import_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every import cycle between modules of ``graph``, each once, as the modules in import
    order starting from its alphabetically first one; sorted."""
    cycles: set[tuple[str, ...]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported == importer or not graph.chain_exists(importer=imported, imported=importer, as_packages=False):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer, as_packages=False)
            cycle = (importer, *back[:-1])
            start = cycle.index(min(cycle))
            cycles.add(cycle[start:] + cycle[:start])
    return sorted(cycles)


def describe_cycle(graph: grimp.ImportGraph, cycle: tuple[str, ...]) -> str:
    """``a (l.12) -> b (l.3) -> a``: each step with the line of the import that makes it."""
    parts = []
    for importer, imported in zip(cycle, cycle[1:] + cycle[:1]):
        lines = sorted(d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported))
        parts.append(f"{importer} (l.{lines[0]})" if lines else importer)
    return " -> ".join(parts + [cycle[0]])


def test_import_linter_contracts_hold(capsys):
    """``lint-imports``: the layers of pyproject.toml's ``[tool.importlinter]``, no cycles
    between the siblings of any package, and the Dask fence (only ``monitor._dask`` imports
    ``dask`` or ``distributed``)."""
    from importlinter.cli import lint_imports

    if not PYPROJECT.is_file():
        pytest.skip("needs the source tree's pyproject.toml")
    code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, f"an import breaks the architecture contract:\n{report}"
    assert "Contracts: 3 kept, 0 broken." in report


def test_no_import_cycles_between_modules():
    """A module may not import, at any depth, a module that imports it (a package's
    ``__init__`` counts as a module: ``cli/__init__`` importing ``cli/_run`` and ``cli/_run``
    importing ``from . import app`` is a cycle)."""
    graph = grimp.build_graph("driftkeeper", exclude_type_checking_imports=True, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe_cycle(graph, c) for c in cycles)
    assert len(graph.modules) >= 40  # the graph covers the package, not an empty stub


def test_cycle_finder_reports_each_cycle_once_with_lines():
    graph = grimp.ImportGraph()
    graph.add_import(importer="p.b", imported="p.c", line_number=4, line_contents="from . import c")
    graph.add_import(importer="p.c", imported="p.a", line_number=9, line_contents="    from . import a")
    graph.add_import(importer="p.a", imported="p.b", line_number=2, line_contents="from . import b")
    graph.add_import(importer="p.a", imported="p.d", line_number=3, line_contents="from . import d")
    graph.add_import(importer="p.d", imported="p.e", line_number=1, line_contents="from . import e")
    graph.add_import(importer="p.e", imported="p.d", line_number=7, line_contents="    from . import d")
    assert import_cycles(graph) == [("p.a", "p.b", "p.c"), ("p.d", "p.e")]
    assert describe_cycle(graph, ("p.a", "p.b", "p.c")) == "p.a (l.2) -> p.b (l.4) -> p.c (l.9) -> p.a"
    graph.remove_import(importer="p.c", imported="p.a")
    graph.remove_import(importer="p.e", imported="p.d")
    assert import_cycles(graph) == []
