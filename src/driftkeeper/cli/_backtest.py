"""`driftkeeper backtest`: replay history under several policies and compare error × compute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ._app import DASK_SCHEDULER_HELP, app, dask_client
from ._run import MODEL_HELP, build_model, read_labelled
from ..exceptions import ConfigError


def _set_threads(model, threads: int):
    """Fix LightGBM's thread count so CPU seconds compare work, not parallelism."""
    if type(model).__module__.split(".", 1)[0] == "lightgbm":
        model.set_params(n_jobs=threads)
    return model


@app.command("backtest")
def backtest_cmd(
    data: Path = typer.Argument(..., help="Labelled history (CSV, CSV.gz or parquet), one row per example."),
    target: str = typer.Option(..., "--target", help="Target column."),
    every: str = typer.Option(
        ..., "--every",
        help="Batch size: D, W or M (calendar periods of --time-column) or <N>rows (e.g. 500rows: N rows per batch, "
        "in time order with --time-column, else in file order; without --time-column the runner gets no time column, "
        "so a policy's {days: N} retrain window refuses and day-based cooldowns never fire).",
    ),
    policy: str = typer.Option("default", "--policy", help="Policy file or shipped name; always compared."),
    compare: Optional[str] = typer.Option(
        "never,always-retrain", "--compare", help="Comma-separated policies (shipped names or paths) to compare with; '' for none."
    ),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="Time column (never a feature); rows are sorted by it."),
    model: str = typer.Option("lightgbm", "--model", help=MODEL_HELP),
    threads: int = typer.Option(1, "--threads", min=1, help="LightGBM threads (fixed so CPU seconds are comparable)."),
    initial: Optional[str] = typer.Option(
        None, "--initial", help="Rows (N) or time span (90D, 12W) that train version 1; default: the first 20% of the rows "
        "(to the end of that period with D/W/M)."
    ),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Row id column (never a feature)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Column that is neither feature nor target (repeatable)."),
    task: Optional[str] = typer.Option(None, "--task", help="regression or classification (inferred by default)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Comparison metric (default: the --policy one's metric)."),
    also_metric: Optional[List[str]] = typer.Option(
        None, "--also-metric", help="Another metric scored on the same predictions and shown next to the comparison "
        "metric (repeatable), e.g. --metric error_rate --also-metric log_loss."
    ),
    label_delay: str = typer.Option(
        "0", "--label-delay", help="How late labels reach the runner: N batches (batch i's labels come with batch i+N, "
        "through the same late-labels path as 'driftkeeper run --labels') or a time span like 90D with --time-column "
        "(with the first later batch that ends at least that long after batch i). Each batch is still scored on its "
        "true labels; labels still due at the end are never delivered. Without --id-column the rows are numbered.",
    ),
    html: Optional[Path] = typer.Option(None, "--html", help="Write plots: a self-contained .html page, or a .png picture."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON to this file ('-' for stdout)."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help=DASK_SCHEDULER_HELP),
) -> None:
    """Replay DATA batch by batch: the serving model is scored on each batch before the runner
    (the same code as 'driftkeeper run') learns from it, under each policy. Prints error and
    training/monitoring CPU per policy; lower error is better whatever the metric. A policy the
    runner refuses is reported as failed and the others run on (exit 0; exit 2 when all fail)."""
    import dataclasses

    from rich.console import Console

    from ..table import infer_task
    from ..backtest.replay import parse_every, parse_label_delay, run_backtest

    parse_every(every)  # a bad --every or --label-delay fails before the data is read
    parse_label_delay(label_delay, time_column=time_column)
    if html is not None and html.suffix.lower() not in (".html", ".htm", ".png"):
        raise ConfigError(f"--html {str(html)!r}: expected a path ending in .html or .png")
    df = read_labelled(data, target)
    the_task = task or infer_task(df[target])
    n_classes = df[target].nunique() if the_task == "classification" else None  # as 'init' builds it
    model_obj = _set_threads(build_model(model, the_task, n_classes), threads)
    policies = [policy] + [p.strip() for p in (compare or "").split(",") if p.strip()]
    with dask_client(dask_scheduler) as client:
        result = run_backtest(
            df, target=target, policies=policies, model=model_obj, every=every, time_column=time_column,
            initial=int(initial) if initial is not None and initial.strip().isdigit() else initial,
            id_column=id_column, exclude=tuple(exclude or ()), task=task, metric=metric, also_metrics=tuple(also_metric or ()),
            dataset=data.name, label_delay=label_delay, dask_client=client,
        )
    out = Console(width=160)
    if str(as_json) != "-":
        out.print(result.table())
    if as_json is not None:
        text = json.dumps(result.to_dict(), indent=2, default=str)
        if str(as_json) == "-":
            typer.echo(text)
        else:
            as_json.write_text(text)
    if str(as_json) == "-":  # no table to carry the notes: failures still reach the person
        for name, err in result.failures.items():
            typer.echo(f"warning: policy {name!r} failed: {err}", err=True)
    if html is not None:
        from ..backtest.plots import write_plots

        write_plots(dataclasses.replace(result, policies=result.completed), html)
        if str(as_json) != "-":
            typer.echo(f"plots: {html}")
