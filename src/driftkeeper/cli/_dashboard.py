"""``driftkeeper dashboard``: one HTML page of every night under a root (plotly imported inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app

__all__ = ["dashboard_cmd"]


@app.command("dashboard")
def dashboard_cmd(
    root: Path = typer.Argument(..., help="A root created by 'driftkeeper init'."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the page here (default: ROOT/dashboard.html)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only nights from this date on (YYYY-MM-DD or ISO-8601, UTC)."),
) -> None:
    """Write one self-contained HTML page of every night under ROOT: the metric, every decision,
    the version serving, drift by column, warnings and CPU over time, with links to each
    night's drift report. It opens from disk, with no network and no server."""
    from ..dashboard.page import build_dashboard
    from ..dashboard.runs import parse_since

    out = build_dashboard(root, output, since=parse_since(since))
    typer.echo(f"dashboard written to {out}")
