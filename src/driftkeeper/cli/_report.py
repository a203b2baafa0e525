"""``driftkeeper report``: drift of a current table against a reference table.

Heavy imports (pandas, the monitor, rich, Evidently for ``--html``) happen inside the command,
so ``driftkeeper --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app

__all__ = ["report"]


def _split_pairs(values: list[str], option: str, convert=str) -> tuple[object | None, dict[str, object]]:
    """``["psi", "a=ks"]`` -> (global value, {column: value}); a repeated global is an error."""
    from ..exceptions import ConfigError

    default: object | None = None
    per_column: dict[str, object] = {}
    for raw in values:
        if "=" in raw:
            col, _, val = raw.partition("=")
            col, val = col.strip(), val.strip()
            if not col or not val:
                raise ConfigError(f"{option} {raw!r} is malformed; expected VALUE or COLUMN=VALUE")
            per_column[col] = _convert(convert, val, option, raw)
        else:
            if default is not None:
                raise ConfigError(f"{option} given twice without a column ({default!r} and {raw!r}); expected one VALUE")
            default = _convert(convert, raw.strip(), option, raw)
    return default, per_column


def _convert(convert, val: str, option: str, raw: str):
    from ..exceptions import ConfigError

    try:
        return convert(val)
    except ValueError as exc:
        raise ConfigError(f"{option} {raw!r} is not a number; expected a float such as 0.1") from exc


@app.command("report")
def report(
    reference: Path = typer.Argument(..., help="Reference table (CSV, CSV.gz or parquet)."),
    current: Path = typer.Argument(..., help="Current table (CSV, CSV.gz or parquet)."),
    target: Optional[str] = typer.Option(None, "--target", help="Target (label) column."),
    prediction: Optional[str] = typer.Option(None, "--prediction", help="Prediction column."),
    columns: list[str] = typer.Option([], "--columns", help="Feature columns, comma separated (repeatable)."),
    method: list[str] = typer.Option(
        [], "--method", help="Drift method for all columns (M) or one column (COL=M); repeatable. Default: auto."
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="Threshold for all columns (X) or one column (COL=X); repeatable."
    ),
    drift_share: float = typer.Option(0.5, "--drift-share", help="Share of drifted columns that means dataset drift."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write Evidently's HTML report here."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the drift report as JSON here."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the dataset drifted."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Check a seeded sample of N current rows."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample."),
    engine: str = typer.Option(
        "pandas", "--engine", help="pandas (tables in memory) or dask (parquet directories, needs driftkeeper[dask])."
    ),
    dask_scheduler: Optional[str] = typer.Option(
        None, "--dask-scheduler", help="Address of a Dask scheduler (tcp://host:8786); default: threads in this process."
    ),
) -> None:
    """Check drift of CURRENT against REFERENCE and print a table (drifted columns first).

    Exit codes: 0 done; 1 dataset drift with --fail-on-drift; 2 bad input or option.
    """
    drifted = _run(reference, current, target, prediction, columns, method, threshold, drift_share,
                   html, json_path, sample, seed, engine, dask_scheduler)  # errors: one line + exit code (cli/__init__)
    if fail_on_drift and drifted:
        raise typer.Exit(1)


def _engine(engine: str, dask_scheduler: str | None, html, sample):
    """The table reader and the scheduler block of ``--engine``; refuses the options it cannot take."""
    import contextlib

    from ..exceptions import ConfigError

    if engine == "pandas":
        if dask_scheduler is not None:
            raise ConfigError("--dask-scheduler needs --engine dask")
        from .._util.io import read_table

        return read_table, contextlib.nullcontext()
    if engine != "dask":
        raise ConfigError(f"--engine {engine!r} is not known; expected pandas or dask")
    for given, option in ((html, "--html"), (sample, "--sample")):
        if given is not None:
            raise ConfigError(f"{option} needs --engine pandas (it works on a table in memory)")
    try:
        from ..monitor import _dask
    except ImportError as exc:
        raise ConfigError(f"--engine dask needs Dask ({exc.name} is not installed); pip install 'driftkeeper[dask]'") from exc
    return _dask.read_table, _dask.connect(dask_scheduler)


def _run(reference, current, target, prediction, columns, method, threshold, drift_share, html, json_path,
         sample, seed, engine="pandas", dask_scheduler=None) -> bool:
    read_table, scheduler = _engine(engine, dask_scheduler, html, sample)
    with scheduler:
        return _check(read_table, reference, current, target, prediction, columns, method, threshold, drift_share,
                      html, json_path, sample, seed)


def _check(read_table, reference, current, target, prediction, columns, method, threshold, drift_share, html,
           json_path, sample, seed) -> bool:
    from .._util.io import write_json_atomic
    from ..monitor.monitor import Monitor

    m_default, m_cols = _split_pairs(method, "--method")
    t_default, t_cols = _split_pairs(threshold, "--threshold", float)
    if m_cols:
        method_arg = {**({} if m_default is None else {"__all__": m_default}), **m_cols}
    else:
        method_arg = m_default or "auto"
    cols = [c.strip() for item in columns for c in item.split(",") if c.strip()] or None

    ref_df = read_table(reference, what="reference")
    cur_df = read_table(current, what="current")
    if isinstance(method_arg, dict):
        # a global method plus per-column overrides: expand the global one over the columns
        base = method_arg.pop("__all__", "auto")
        feature_cols = cols or [c for c in ref_df.columns if c not in (target, prediction)]
        method_arg = {**{c: base for c in feature_cols}, **method_arg}
    threshold_arg = {**{c: t_default for c in (cols or list(ref_df.columns)) if t_default is not None}, **t_cols} if t_cols else t_default

    monitor = Monitor(
        columns=cols, method=method_arg, threshold=threshold_arg, drift_share=drift_share, sample=sample, seed=seed
    )
    monitor.fit(ref_df, target=target, prediction=prediction)
    cur_target = target if target is not None and target in cur_df.columns else None
    cur_pred = prediction if prediction is not None and prediction in cur_df.columns else None
    if html is not None:
        result = monitor.html(cur_df, html, target=cur_target, prediction=cur_pred)
    else:
        result = monitor.check(cur_df, target=cur_target, prediction=cur_pred)
    if json_path is not None:
        write_json_atomic(json_path, result.to_dict())
    _print(result)
    if html is not None:
        typer.echo(f"HTML report written to {html}")
    if json_path is not None:
        typer.echo(f"JSON report written to {json_path}")
    return result.dataset_drift


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120, highlight=False)
    table = Table(title="Drift by column", title_justify="left")
    for name, kw in (
        ("column", {}), ("kind", {}), ("method", {}), ("score", {"justify": "right"}),
        ("threshold", {"justify": "right"}), ("drifted", {}), ("missing", {"justify": "right"}),
        ("unseen", {"justify": "right"}),
    ):
        table.add_column(name, **kw)
    approximate = any(not c.exact for c in result.columns)
    if approximate:  # where a score is bounded rather than exact, the interval that holds the exact one
        table.add_column("exact within", justify="right")
    rows = list(result.sorted_columns())
    for label, extra in (("target", result.target), ("prediction", result.prediction)):
        if extra is not None:
            rows.append(extra)
    for c in rows:
        name = c.name
        if c is result.target:
            name += " (target)"
        elif c is result.prediction:
            name += " (prediction)"
        cells = [
            name, c.kind, c.method, _fmt(c.score), _fmt(c.threshold), "DRIFT" if c.drifted else "ok",
            f"{c.missing_share:.1%}", "-" if c.unseen_share is None else f"{c.unseen_share:.1%}",
        ]
        if approximate:
            lo, hi = c.score_bounds or (None, None)
            cells.append("exact" if c.exact else f"[{_fmt(lo)}, {_fmt(hi)}]")
        table.add_row(*cells)
    console.print(table)
    for w in result.warnings:
        console.print(f"warning: {w}")
    n = result.quality_issues
    console.print(f"data quality: {n} finding{'' if n == 1 else 's'}" + (" (the warnings above)" if n else ""))
    if result.performance:
        perf = result.performance
        metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in perf["metrics"].items())
        console.print(f"performance ({perf['task']}, {perf['rows']} rows): {metrics}")
    if result.sample:
        console.print(f"checked a sample of {result.sample['rows']} rows (seed {result.sample['seed']})")
    verdict = "DATASET DRIFT" if result.dataset_drift else "no dataset drift"
    console.print(
        f"{verdict}: {result.n_drifted} of {result.n_columns} columns drifted "
        f"({result.drift_share:.1%}; threshold {result.drift_share_threshold:.0%}); "
        f"reference {result.reference_rows} rows, current {result.current_rows} rows"
    )
