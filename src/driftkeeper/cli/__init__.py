"""The ``driftkeeper`` command line.

Each group of commands lives in its own module and registers itself on the Typer ``app`` of
:mod:`driftkeeper.cli._app`; importing this package imports every command module. Commands import
their heavy dependencies (pandas, Evidently, LightGBM) inside the function body, so
``driftkeeper --help`` stays fast and never imports Evidently.

Exit codes (all commands): 0 done; 1 done, but something needs a person (drift with
``--fail-on-drift``, problems found by ``verify``, a gate refused twice in a row); 2 bad
input or configuration, nothing changed; 3 another run holds the lock.
"""

from __future__ import annotations

import sys

# each module registers its commands on `app`, in the order `driftkeeper --help` lists them
from . import _report, _run, _runs, _dashboard, _registry, _policy, _backtest, _tune  # noqa: F401
from ._app import ErrorGroup, app

__all__ = ["ErrorGroup", "app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="driftkeeper")
