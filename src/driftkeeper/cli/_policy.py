"""`driftkeeper policy list | check | explain`: read, validate and try out policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from ._app import ErrorGroup, app


policy_app = typer.Typer(
    cls=ErrorGroup,
    help="Read, validate and try out update/retrain policies (YAML).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")


def _read_json(text_or_path: str, what: str) -> Any:
    from ..exceptions import InputError

    stripped = text_or_path.lstrip()
    if stripped.startswith("{"):
        source, text = "the given JSON", text_or_path
    else:
        p = Path(text_or_path)
        if not p.is_file():
            raise InputError(f"{what} {text_or_path!r} does not exist")
        source = repr(str(p))
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{what} {source}: cannot read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {source}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{what} {source}: expected a JSON object, got {type(data).__name__}")
    return data


@policy_app.command("list")
def list_policies() -> None:
    """List the policies shipped with driftkeeper."""
    from ..policy import load_policy, shipped_policies

    for name in shipped_policies():
        desc = " ".join(load_policy(name).description.split())
        typer.echo(f"{name:<16} {desc}")


@policy_app.command("check")
def check(policy: str = typer.Argument(..., help="A shipped policy name or a path to a YAML file.")) -> None:
    """Validate a policy and print its rules in words (exit 2 if invalid)."""
    from ..policy import load_policy

    typer.echo(load_policy(policy).describe())
    typer.echo("ok: policy is valid")


@policy_app.command("explain")
def explain(
    policy: str = typer.Argument(..., help="A shipped policy name or a path to a YAML file."),
    report: Optional[str] = typer.Option(None, "--report", "-r", help="A saved drift report (JSON from `driftkeeper report --json`)."),
    context: Optional[str] = typer.Option(
        None, "--context", "-c", help="History facts as JSON text or a JSON file (batch_time, metric, champion_metric, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Print the decision a policy takes for a saved drift report."""
    from ..exceptions import InputError
    from ..policy import Context, decide, load_policy
    from ..monitor.report import DriftReport

    pol = load_policy(policy)
    rep = None
    if report is not None:
        data = _read_json(report, "drift report")
        try:
            rep = DriftReport.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise InputError(f"drift report {report!r} is not a driftkeeper report: {exc}") from exc
        pol.check_columns({c.name: c.kind for c in rep.columns}, f"the drift report {report!r}")
    from ..policy.signals import estimate_sources, sources_text

    ctx = Context.from_dict(_read_json(context, "context")) if context is not None else Context()
    decision = decide(rep, pol, ctx)
    sources = estimate_sources(rep, pol, ctx)  # signals read from the estimate, as a night records them
    if as_json:
        out = decision.to_dict()
        if sources:
            out["signals_from"] = sources
        typer.echo(json.dumps(out, indent=2, sort_keys=False, default=str))
        return
    typer.echo(str(decision))
    for line in sources_text(decision, sources):  # as the run record's text says it
        typer.echo(line)
    from ..policy.describe import schema_change_text

    typer.echo(schema_change_text(pol.spec.schema_change))  # what a batch with other columns would do instead
    typer.echo("signals:")
    for k, v in decision.signals.items():
        typer.echo(f"  {k:<28} {'missing' if v is None else v}{f'  ({sources[k]})' if k in sources else ''}")
