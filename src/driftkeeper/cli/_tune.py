"""`driftkeeper tune`: choose a policy on the earlier part of the history, report it on the later part."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ._app import app
from ._backtest import _set_threads
from ._run import MODEL_HELP, build_model, read_labelled
from ..exceptions import ConfigError


def _check_outputs(output: Path, plot: Optional[Path], as_json: Optional[Path]) -> None:
    """Refuse unwritable outputs before minutes of backtests, not after."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot {str(plot)!r}: expected a path ending in .png")
    for flag, path in (("-o", output), ("--plot", plot), ("--json", as_json)):
        if path is None or str(path) == "-":
            continue
        if path.is_dir():
            raise ConfigError(f"{flag} {str(path)!r} is a folder; give a file name")
        if not path.parent.is_dir():
            raise ConfigError(f"{flag} {str(path)!r}: folder {str(path.parent)!r} does not exist")


def _command(data: Path, **options) -> str:
    """The command line as the user would type it again (options left at their default omitted)."""
    parts = ["driftkeeper", "tune", str(data)]
    for flag, value in options.items():
        if value is None or value is False:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            parts += [flag, str(v)]
    return shlex.join(parts)


class _Bar:
    """A rich progress bar on stderr, one step per backtest run; nothing when stderr is not a terminal."""

    def __init__(self) -> None:
        self.progress = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.progress.add_task("tune", total=None)

    def __enter__(self) -> "_Bar":
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total, description=what)


@app.command("tune")
def tune_cmd(
    data: Path = typer.Argument(..., help="Labelled history (CSV, CSV.gz or parquet), one row per example."),
    target: str = typer.Option(..., "--target", help="Target column."),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="Time column (never a feature); rows are sorted by it."),
    every: Optional[str] = typer.Option(
        None, "--every", help="Batch size: D, W or M (periods of --time-column) or <N>rows; default: W with --time-column, "
        "otherwise row batches that make about 40."
    ),
    model: str = typer.Option("lightgbm", "--model", help=MODEL_HELP),
    threads: int = typer.Option(1, "--threads", min=1, help="LightGBM threads (fixed so CPU seconds are comparable)."),
    budget: Optional[float] = typer.Option(
        None, "--budget", help="Share of always-retrain's training CPU (0 < X <= 1), e.g. 0.2: set as every candidate's "
        "budget, and only candidates within it on the earlier part may be chosen."
    ),
    split: float = typer.Option(0.6, "--split", help="Share of the batches to choose on; the rest measure the chosen policy."),
    base: str = typer.Option("default", "--base", help="Policy (shipped name or file) whose edits are searched."),
    initial: Optional[str] = typer.Option(
        None, "--initial", help="Rows (N) or time span (90D, 12W) that train version 1; default: the first 20% of the rows."
    ),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Row id column (never a feature)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Column that is neither feature nor target (repeatable)."),
    task: Optional[str] = typer.Option(None, "--task", help="regression or classification (inferred by default)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to choose on (default: the base policy's)."),
    output: Path = typer.Option(Path("policy.tuned.yaml"), "-o", "--output", help="Where to write the chosen policy."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write error vs training CPU of the candidates as a .png."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON to this file ('-' for stdout)."),
) -> None:
    """Choose edits of a policy on the earlier batches of DATA and measure the chosen policy on the
    later ones: every candidate and always-retrain are replayed through the real runner on the
    earlier part, the lowest error within --budget wins, and only it and always-retrain run on the
    later part, whose numbers the choice never saw. Writes the chosen policy, its numbers in a
    header comment."""
    from rich.console import Console

    from ..backtest.replay import parse_every
    from ..backtest.tuning import tune
    from ..table import infer_task

    if every is not None:
        parse_every(every)  # a bad --every fails before the data is read
    _check_outputs(output, plot, as_json)
    df = read_labelled(data, target)
    model_obj = _set_threads(build_model(model, task or infer_task(df[target])), threads)
    command = _command(data, **{
        "--target": target, "--time-column": time_column, "--every": every, "--model": model if model != "lightgbm" else None,
        "--budget": budget, "--split": split if split != 0.6 else None, "--base": base if base != "default" else None,
        "--initial": initial, "--id-column": id_column, "--exclude": exclude, "--task": task, "--metric": metric,
    })
    with _Bar() as bar:
        result = tune(
            df, target=target, model=model_obj, every=every, time_column=time_column,
            initial=int(initial) if initial is not None and initial.strip().isdigit() else initial, id_column=id_column,
            exclude=tuple(exclude or ()), task=task, metric=metric, budget=budget, split=split, base=base,
            dataset=data.name, command=command, progress=bar,
        )
    result.write_policy(output)
    if plot is not None:
        result.write_plot(plot)
    if as_json is not None:
        text = json.dumps(result.to_dict(), indent=2, default=str)
        if str(as_json) == "-":
            typer.echo(text)
            return
        as_json.write_text(text)
    Console(width=160).print(result.table())
    ratios, c = result.later_ratios(), result.chosen
    typer.echo(f"chosen: #{c.index} ({c.label()}); on batches {result.earlier_batches + 1}-"
               f"{result.earlier_batches + result.later_batches}, never seen while choosing: mean {result.metric} "
               f"{result.later.mean_error:.4g} vs always-retrain {result.reference_later.mean_error:.4g} "
               f"(x{_fmt(ratios['error'], 3)}), training CPU x{_fmt(ratios['train_cpu'], 2)}")
    if not result.budget_met:
        typer.echo(f"warning: no candidate stayed within --budget {budget} on the earlier part; chose the cheapest", err=True)
    for what, path in (("policy", output), ("json", as_json), ("plot", plot)):
        if path is not None:
            typer.echo(f"{what}: {path}")


def _fmt(v: Optional[float], digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"
