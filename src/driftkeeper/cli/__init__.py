"""The ``driftkeeper`` command line.

Each group of commands lives in its own module and is registered here. Commands import
their heavy dependencies (pandas, Evidently, LightGBM) inside the function body, so
``driftkeeper --help`` stays fast and never imports Evidently.

Exit codes (all commands): 0 done; 1 done, but something needs a person (drift with
``--fail-on-drift``, problems found by ``verify``, a gate refused twice in a row); 2 bad
input or configuration, nothing changed; 3 another run holds the lock.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from ..exceptions import DriftkeeperError

__all__ = ["ErrorGroup", "app", "main"]


class ErrorGroup(TyperGroup):
    """Turns driftkeeper errors into a one-line message and the error's exit code."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DriftkeeperError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    name="driftkeeper",
    cls=ErrorGroup,
    help=(
        "Keep tabular ML models accurate after deployment: check drift, decide between no action, "
        "an update and a retrain, act, and keep an auditable, reversible history.\n\n"
        "Exit codes: 0 done; 1 done but needs a person; 2 bad input or configuration (nothing changed); "
        "3 another run holds the lock."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# each module registers its commands on `app`
from . import _report, _run, _registry, _policy, _backtest  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="driftkeeper")
