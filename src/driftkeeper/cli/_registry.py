"""Registry commands: history, show, promote, rollback, served-at, verify, gc.

Every command opens the registry with ``create=False``: a missing root is an error (exit 2) and
nothing is ever created by a read command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app

ROOT_HELP = "Registry folder (the one holding catalog.sqlite)."


def _open(root: Path):
    from ..registry.registry import Registry

    return Registry(root, create=False)


def _keeper(root: Path):
    """The Keeper of ``root`` when it is a keeper root (not a bare registry folder), else None."""
    from ..keeper.root import CONFIG_FILE
    from ..keeper.runner import Keeper

    return Keeper.open(root) if (root / CONFIG_FILE).exists() else None


def _row(mv) -> list[str]:
    metrics = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(mv.metrics.items())[:3]
    )
    return [
        mv.tag,
        mv.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        mv.action,
        "-" if mv.parent is None else f"v{mv.parent:04d}",
        ",".join(mv.aliases) or "-",
        mv.sha256[:12],
        metrics or "-",
    ]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


@app.command("history")
def history_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of versions, newest first."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Show at most N versions (N >= 1)."),
) -> None:
    """List versions, newest first."""
    from ..exceptions import ConfigError

    if limit is not None and limit <= 0:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    versions = _open(root).history(limit=limit)
    if as_json:
        import json

        typer.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    if not versions:
        typer.echo(f"registry {str(root)!r} has no versions")
        return
    typer.echo(_table([_row(v) for v in versions], ["VERSION", "CREATED (UTC)", "ACTION", "PARENT", "ALIASES", "SHA256", "METRICS"]))


@app.command("show")
def show_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    ref: str = typer.Argument(..., help="Version number, tag (v7) or alias (champion)."),
) -> None:
    """Print one version's full metadata as JSON."""
    import json

    typer.echo(json.dumps(_open(root).get(ref).to_dict(), indent=2))


@app.command("promote")
def promote_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    ref: str = typer.Argument(..., help="Version number, tag (v7) or alias to promote."),
    alias: str = typer.Option("champion", "--alias", help="Alias to point at REF."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (kept in the alias history)."),
) -> None:
    """Point an alias (champion by default) at a version.

    On a keeper root, a new champion goes through the runner (its lock and state): the next
    night measures the new champion against its own baseline and updates it on every batch it has
    not learned."""
    reg = _open(root)
    before = reg.aliases().get(alias)
    keeper = _keeper(root) if alias == "champion" else None
    mv = keeper.promote(ref, reason=reason) if keeper is not None else reg.promote(ref, alias=alias, reason=reason)
    if before == mv.version:
        typer.echo(f"{mv.tag} already holds {alias}; nothing changed")
    else:
        was = "none" if before is None else f"v{before:04d}"
        typer.echo(f"{alias}: {was} -> {mv.tag}")


@app.command("rollback")
def rollback_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    to: Optional[str] = typer.Option(None, "--to", help="Version to roll back to (default: the previous champion)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (kept in the alias history)."),
) -> None:
    """Move the champion back to the version that held it before (an alias move; nothing is deleted).

    On a keeper root this takes the run lock (exit 3 while a run holds it) and resets what the
    runner knows of the serving model: its baselines, and which batches it has learned."""
    reg = _open(root)
    before = reg.aliases().get("champion")
    keeper = _keeper(root)
    mv = keeper.rollback(to=to, reason=reason) if keeper is not None else reg.rollback(to=to, reason=reason)
    was = "none" if before is None else f"v{before:04d}"
    typer.echo(f"champion: {was} -> {mv.tag} (rollback)")


@app.command("served-at")
def served_at_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    when: str = typer.Argument(..., help="ISO-8601 time with an offset, e.g. 2024-05-01T12:00:00Z."),
    alias: str = typer.Option("champion", "--alias", help="Alias to look up."),
) -> None:
    """Print the version that held the alias at WHEN."""
    mv = _open(root).served_at(when, alias=alias)
    if mv is None:
        typer.echo(f"no version held {alias} at {when}")
    else:
        typer.echo(f"{mv.tag} held {alias} at {when}")


@app.command("verify")
def verify_cmd(root: Path = typer.Argument(..., help=ROOT_HELP)) -> None:
    """Check every artifact against its sha256; exit 1 and list problems if any."""
    reg = _open(root)
    problems = [(p.kind, p.message, p.removable) for p in reg.verify()]
    keeper = _keeper(root)
    if keeper is not None:  # a runner root: its temp files too
        problems += [("temp-file", f"{p} is a temp file left by a killed run", True) for p in keeper.leftovers()]
    if not problems:
        typer.echo(f"ok: {len(reg)} versions verified, no problems")
        return
    for kind, message, removable in problems:
        typer.echo(f"{kind}: {message}" + (" (removable: run gc)" if removable else ""))
    raise typer.Exit(1)


@app.command("gc")
def gc_cmd(
    root: Path = typer.Argument(..., help=ROOT_HELP),
    keep_last: Optional[int] = typer.Option(None, "--keep-last", help="Keep the newest N versions (N >= 0); default: only remove leftovers."),
    force: bool = typer.Option(False, "--force", help="Also remove old versions that once held an alias (never current holders)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be removed."),
) -> None:
    """Remove orphan folders, temp files and old versions beyond --keep-last."""
    import contextlib

    keeper = _keeper(root)
    # on a runner root, hold the run lock: never race a live run's temp files
    with keeper.locked() if keeper is not None else contextlib.nullcontext():
        res = _open(root).gc(keep_last=keep_last, force=force, dry_run=dry_run)
        extra = keeper.leftovers() if keeper is not None else []
        if keeper is not None and not dry_run:
            keeper.clean_leftovers()
    verb = "would remove" if dry_run else "removed"
    for p in extra:
        typer.echo(f"{verb} {p}")
    for p in res.removed_paths:
        typer.echo(f"{verb} {p}")
    vs = ", ".join(f"v{v:04d}" for v in res.removed_versions) or "none"
    kept = ", ".join(f"v{v:04d}" for v in res.protected)
    typer.echo(f"{verb} {len(res.removed_versions)} versions ({vs})" + (f"; kept (held an alias): {kept}" if kept else ""))
