"""``driftkeeper runs``: one line per night, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app

__all__ = ["runs_cmd"]

HEADER = ["TIME (UTC)", "BATCH", "DECISION", "RULE", "METRIC", "SERVING", "EXIT", "DURATION"]


def _fmt(x: float | None, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def _decision(n) -> str:
    """The action, with what became of it when that differs from a plain success."""
    text = n.action
    if n.requested and n.requested not in (n.action, "update"):
        text = f"{n.requested}→{n.action}"  # a guard changed the rule's action
    if n.outcome in ("refused", "skipped", "dry run", "already processed"):
        text += f" ({n.outcome})"
    return text


def _row(n) -> list[str]:
    batch = "-" if n.source is None else Path(str(n.source)).name
    if n.rows is not None:
        batch += f" ({n.rows} rows)"
    status = str(n.exit_code) if n.status == "completed" else f"{n.exit_code} {n.status}"
    return [
        n.time.strftime("%Y-%m-%d %H:%M") if n.time else "-",
        batch,
        _decision(n),
        n.rule or "-",
        _fmt(n.metric),
        "-" if n.serving is None else f"v{n.serving:04d}",
        status,
        "-" if n.duration_s is None else f"{n.duration_s:.1f} s",
    ]


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def _rich(console, header: list[str], rows: list[list[str]], nights) -> None:
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, justify="right" if i in (4, 7) else "left", no_wrap=i in (0, 4, 5, 6, 7))
    for row, n in zip(rows, nights):
        style = "red" if n.exit_code not in (0, None) else ("yellow" if n.outcome in ("refused", "skipped") else None)
        table.add_row(*row, style=style)
    console.print(table)


@app.command("runs")
def runs_cmd(
    root: Path = typer.Argument(..., help="A root created by 'driftkeeper init'."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of nights, newest first."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Show the newest N nights (N >= 1)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only nights from this date on (YYYY-MM-DD or ISO-8601, UTC)."),
) -> None:
    """List the nights under ROOT, newest first: time, batch, decision, rule, metric, serving version, exit code, duration.

    TIME is the newest row time of the batch when it has a time column, else when the run started.
    """
    from ..dashboard.runs import load_nights, parse_since
    from ..exceptions import ConfigError

    if limit is not None and limit <= 0:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    nights = load_nights(root, since=parse_since(since))[::-1][:limit]
    if as_json:
        import json

        typer.echo(json.dumps([n.to_dict() for n in nights], indent=2))
        return
    if not nights:
        typer.echo(f"no runs under {str(root)!r}" + (f" since {since}" if since else ""))
        return
    rows = [_row(n) for n in nights]
    metric = next((n.metric_name for n in nights if n.metric_name), None)
    header = [metric.upper() if metric and i == 4 else h for i, h in enumerate(HEADER)]
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        _rich(console, header, rows, nights)
    else:  # piped or in a log: plain columns that grep and cut can read
        typer.echo(_plain(header, rows))
