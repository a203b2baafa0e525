"""`driftkeeper init` and `driftkeeper run`: the nightly job."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ._app import DASK_SCHEDULER_HELP, app, dask_client
from ..exceptions import ConfigError

MODEL_HELP = ("lightgbm, river (a linear model; missing numbers imputed, categories one-hot encoded), or "
              "sklearn:<dotted.Class> (e.g. sklearn:sklearn.linear_model.SGDRegressor).")


def build_model(spec: str, task: str, n_classes: int | None = None):
    """A fresh model for ``--model``: LightGBM, a River linear pipeline, or any scikit-learn class.

    River: missing numbers imputed with their running mean and standardised, categories one-hot
    encoded, then a linear model (:mod:`driftkeeper.adapters.river_prep`); a classifier is a logistic
    regression with ``n_classes == 2``, else one per class (``None``: not known yet)."""
    if spec == "lightgbm":
        import lightgbm as lgb

        cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
        return cls(n_estimators=200, learning_rate=0.05, num_leaves=31, random_state=0, deterministic=True, verbose=-1, n_jobs=2)
    if spec == "river":
        from ..adapters.river_prep import default_river_model

        return default_river_model(task, n_classes)
    if spec.startswith("sklearn:"):
        import importlib

        dotted = spec.split(":", 1)[1]
        mod, _, name = dotted.rpartition(".")
        if not mod:
            raise ConfigError(f"--model {spec!r}: expected sklearn:<module>.<Class>, e.g. sklearn:sklearn.linear_model.SGDRegressor")
        try:
            cls = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"--model {spec!r}: cannot import {dotted} ({exc})") from exc
        return cls()
    from .._util.suggest import suggest

    raise ConfigError(f"unknown model kind {spec!r}{suggest(spec, ['lightgbm', 'river', 'sklearn:'])}; expected {MODEL_HELP}")


def read_labelled(data: Path, target: str):
    """Read ``--data`` and check that ``--target`` is one of its columns (one-line error if not)."""
    from .._util.io import read_table

    df = read_table(data, what="data")
    if target not in df.columns:
        from .._util.suggest import suggest

        raise ConfigError(f"--target {target!r} is not a column of {str(data)!r}{suggest(target, df.columns)}")
    return df


@app.command("init")
def init_cmd(
    root: Path = typer.Argument(..., help="Folder for the registry, data store and runs (missing or empty)."),
    data: Path = typer.Option(..., "--data", help="Initial labelled data (CSV, CSV.gz or parquet)."),
    target: str = typer.Option(..., "--target", help="Target column."),
    model: str = typer.Option("lightgbm", "--model", help=MODEL_HELP),
    policy: str = typer.Option("default", "--policy", help="Policy file or shipped name (default, never, always-retrain, always-update, periodic)."),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="Time column (never a feature)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Row id column, needed for --labels later (never a feature)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Column that is neither feature nor target (repeatable)."),
    task: Optional[str] = typer.Option(None, "--task", help="regression or classification (inferred from the target by default)."),
    keep_versions: Optional[int] = typer.Option(None, "--keep-versions", help="Keep the newest N model versions (default: all)."),
    keep_runs: Optional[int] = typer.Option(None, "--keep-runs", help="Keep the newest N run records (default: all)."),
    keep_rows: Optional[int] = typer.Option(None, "--keep-rows", help="Labelled rows kept for 'all' retrain windows (default: all)."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help=DASK_SCHEDULER_HELP),
) -> None:
    """Train version 1 on DATA, fit the drift reference, register and promote it."""
    from ..table import infer_task
    from ..keeper.runner import Keeper

    df = read_labelled(data, target)
    the_task = task or infer_task(df[target])
    model_obj = build_model(model, the_task, df[target].nunique() if the_task == "classification" else None)
    with dask_client(dask_scheduler) as client:
        keeper = Keeper.init(
            root, model_obj, df, target=target, policy=policy, time_column=time_column, id_column=id_column, exclude=tuple(exclude or ()), task=task,
            retention={"versions": keep_versions, "runs": keep_runs, "data_rows": keep_rows}, dask_client=client,
        )
    v = keeper.registry.get("champion")
    metric = keeper.config["metric"]
    value = v.metrics.get(metric)
    shown = f", holdout {metric} {value:.4g}" if isinstance(value, float) else ""
    typer.echo(f"initialised {root}: v{v.version:04d} trained on {v.metrics.get('train_rows')} rows{shown}; champion")


@app.command("run")
def run_cmd(
    root: Path = typer.Argument(..., help="A root created by 'driftkeeper init'."),
    batch: Path = typer.Option(..., "--batch", help="Tonight's batch (CSV, CSV.gz or parquet); labelled if it has the target column."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Late labels for earlier batches: id column + target."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the decision and the training plan (rows to train, held out, relearned); change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON."),
    no_html: bool = typer.Option(False, "--no-html", help="Skip the HTML drift report."),
    exclude: Optional[List[str]] = typer.Option(
        None, "--exclude", help="Take a column out of the features from tonight on (repeatable): a feature leaves through a "
        "retrain without it; remembered by the root. An id or a leak that arrived as a new column is never a feature."),
    metrics_file: Optional[Path] = typer.Option(
        None, "--metrics-file", help="Also write the run's Prometheus metrics here (a .prom file in node_exporter's textfile folder)."
    ),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help=DASK_SCHEDULER_HELP),
) -> None:
    """Run one night: check drift, decide, update/retrain, gate, version, report.

    Exit codes: 0 run completed (whatever the decision, including "already processed");
    1 completed but needs a person (the gate refused twice in a row, drift with no allowed
    action, or --metrics-file could not be written); 2 bad input or configuration (nothing
    changed); 3 another run holds the lock.
    """
    from ..keeper.runner import Keeper

    metrics = None
    if metrics_file is not None:  # checked before the night runs: a bad path changes nothing
        from ..dashboard.prom import MetricsFile

        metrics = MetricsFile(metrics_file, root)
    try:
        keeper = Keeper.open(root)
        with dask_client(dask_scheduler) as client:
            if sys.stderr.isatty():  # progress on a terminal; quiet under cron
                from rich.console import Console

                with Console(stderr=True).status("starting") as status:
                    record = keeper.step(batch, labels=labels, dry_run=dry_run, html=not no_html, progress=status.update,
                                         exclude=tuple(exclude or ()), dask_client=client)
            else:
                record = keeper.step(batch, labels=labels, dry_run=dry_run, html=not no_html, exclude=tuple(exclude or ()),
                                     dask_client=client)
    except Exception as exc:
        # the status and exit code this command is about to exit with
        if metrics is not None and (problem := metrics.write_failure(exc)):
            typer.echo(f"error: {problem}", err=True)
        raise
    problem = metrics.write_run(record.to_dict()) if metrics is not None else None
    if as_json:
        typer.echo(json.dumps(record.to_dict(), indent=2, default=str))
    else:
        typer.echo(record.summary())
        if record.html:
            typer.echo(f"drift report: {record.html}")
    if problem:  # the night ran; its metrics are stale, which a person should know
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(max(record.exit_code, 1))
    raise typer.Exit(record.exit_code)
