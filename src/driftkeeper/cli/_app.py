"""The ``driftkeeper`` Typer application every command module registers its commands on.

Command modules import ``app`` (and ``ErrorGroup`` for sub-groups) from here, and
:mod:`driftkeeper.cli` imports the command modules: imports run one way, package → commands → app.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import typer
from typer.core import TyperGroup

from ..exceptions import ConfigError, DriftkeeperError

__all__ = ["DASK_SCHEDULER_HELP", "ErrorGroup", "app", "dask_client"]


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


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"driftkeeper {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the installed version and exit."
    ),
) -> None:
    # the group's own options; the commands live in their modules
    pass


DASK_SCHEDULER_HELP = ("Address of a Dask scheduler (tcp://host:8786): LightGBM trains there through lightgbm.dask "
                       "(retrains read the root's data on the workers, which must see it at the same path); "
                       "needs driftkeeper[dask]. Default: everything in this process.")


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """The ``distributed.Client`` of ``--dask-scheduler`` for the block (None without one: Dask
    is then never imported); one-line errors for a missing extra or an unreachable address."""
    if address is None:
        yield None
        return
    try:
        from ..keeper import _dask
    except ImportError as exc:
        raise ConfigError(f"--dask-scheduler needs Dask ({exc.name} is not installed); pip install 'driftkeeper[dask]'") from exc
    with _dask.connect(address) as client:
        yield client
