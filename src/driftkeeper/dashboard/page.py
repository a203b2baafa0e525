"""``driftkeeper dashboard``: one self-contained HTML page of every night under a root.

The page holds plotly.js inline (no CDN, no server: it opens from disk, offline), the plot of
:mod:`.figures`, summary cards, a table of every night (newest first, with relative links to
each night's Evidently page), the registry's versions with when each served, and the nights'
data-quality warnings. It is written through a temp file and a rename, so a browser or a web
server never sees half a page.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .runs import Night, load_nights

__all__ = ["build_dashboard", "render_page"]

_CSS = """
:root { --fg: #1d2733; --muted: #5f6b7a; --line: #e3e7ec; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1440px; margin: 0 auto; padding: 18px 24px 40px; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: var(--muted); margin-bottom: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 20px; font-weight: 600; margin-top: 2px; } .card .d { color: var(--muted); font-size: 12px; }
.card.bad { border-color: #e6a0a0; background: #fff5f5; } .card.bad .v { color: #b42318; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 6px; margin-top: 14px; }
.scroll { max-height: 560px; overflow: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { position: sticky; top: 0; background: #f0f3f6; font-weight: 600; z-index: 1; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.t { white-space: nowrap; } td.note { color: var(--muted); max-width: 420px; }
tr.attn td { background: #fff5f5; }
.chip { display: inline-block; padding: 0 7px; border-radius: 9px; color: #fff; font-size: 12px; white-space: nowrap; }
.muted { color: var(--muted); } footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
"""
_CHIP = {"update": "#2c7fb8", "retrain": "#f28e2b", "rollback": "#9c3ec1", "none": "#8b9097"}


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _t(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else "-"


def _f(x: float | None, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version:04d}"


def _table(header: Sequence[str], rows: Sequence[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _cards(nights: Sequence[Night], aliases: dict[str, int]) -> str:
    last = nights[-1] if nights else None
    counts = Counter(n.group for n in nights)
    outcomes = Counter(n.outcome for n in nights)
    attention = sum(1 for n in nights if n.exit_code)
    cpu = sum(n.train_cpu_s or 0.0 for n in nights) + sum(n.monitor_cpu_s or 0.0 for n in nights)
    serving = last.serving if last and last.serving is not None else aliases.get("champion")
    now = aliases.get("champion")
    if now is not None and now != serving:  # promoted or rolled back by hand since the last night
        detail = f"after the last night; the registry's champion is now {_v(now)}"
    else:
        detail = f"challenger {_v(aliases['challenger'])}" if "challenger" in aliases else "champion"
    cards = [
        ("serving", _v(serving), detail, False),
        ("last night", _t(last.time) if last else "-",
         f"{last.action} — {last.outcome}, exit {last.exit_code}" if last else "no runs yet", bool(last and last.exit_code)),
        (f"last {last.metric_name or 'metric'}" if last else "metric", _f(last.metric if last else None),
         f"baseline {_f(last.baseline)}" if last else "", False),
        ("decisions", f"{counts['update']} / {counts['retrain']} / {counts['rollback']}",
         f"updates / retrains / rollbacks; {outcomes['refused']} refused, {outcomes['skipped']} skipped", False),
        ("needs a person", str(attention), "nights that exited non-zero", attention > 0),
        ("CPU", f"{cpu:,.1f} s", "training + monitoring, all nights shown", False),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div><div class="d">{_e(d)}</div></div>'
        for k, v, d, bad in cards
    ) + "</div>"


def _notes(n: Night) -> str:
    notes = [f"needs attention: {a}" for a in n.needs_attention] + [f"guard: {g}" for g in n.guards]
    if n.training_skipped:
        notes.append(f"training skipped: {n.training_skipped}")
    notes += [f"warning: {w}" for w in n.warnings]
    return "<br>".join(_e(x) for x in notes)


def _night_rows(nights: Sequence[Night], out_dir: Path) -> list[str]:
    rows = []
    for n in reversed(nights):
        link = "-"
        if n.html is not None:
            rel = Path(os.path.relpath(n.html, out_dir)).as_posix()
            link = f'<a href="{_e(rel)}">drift report</a>'
        chip = f'<span class="chip" style="background:{_CHIP[n.group]}" title="{_e(n.decision_text)}">{_e(n.action)}</span>'
        rows.append(
            f'<tr class="{"attn" if n.exit_code else ""}"><td class="t">{_t(n.time)}</td><td>{chip}</td><td>{_e(n.rule or "-")}</td>'
            f'<td>{_e(n.outcome)}</td><td class="n">{_f(n.metric)}</td><td class="n">{_f(n.drift_share, ".0%")}</td>'
            f'<td class="n">{_v(n.serving)}</td><td class="n">{_f(n.train_cpu_s, ".2f")}</td><td class="n">{n.exit_code}</td>'
            f'<td class="t">{link}</td><td class="note">{_notes(n)}</td></tr>'
        )
    return rows


def _served(moves: Sequence[Any]) -> dict[int, list[str]]:
    """``{version: ["from – until", ...]}`` from the champion's alias moves (newest first)."""
    out: dict[int, list[str]] = {}
    until: datetime | None = None
    for m in moves:
        out.setdefault(m.to_version, []).append(f"{_t(m.at)} – {_t(until) if until else 'now'}")
        until = m.at
    return out


def _version_rows(versions: Sequence[Any], moves: Sequence[Any]) -> list[str]:
    served = _served(moves)
    rows = []
    for v in versions:
        metrics = ", ".join(f"{k} {val:.4g}" for k, val in list(v.metrics.items())[:3] if isinstance(val, float))
        rows.append(
            f"<tr><td>{_e(v.tag)}</td><td class='t'>{_t(v.created_at)}</td><td>{_e(v.action)}</td><td>{_v(v.parent)}</td>"
            f"<td>{_e(', '.join(v.aliases) or '-')}</td><td class='t'>{'<br>'.join(served.get(v.version, [])) or '-'}</td>"
            f"<td>{_e(metrics or '-')}</td></tr>"
        )
    return rows


def _warning_rows(nights: Sequence[Night]) -> list[str]:
    return [
        f"<tr><td class='t'>{_t(n.time)}</td><td>{_e(n.run_id)}</td><td>{_e(w)}</td></tr>"
        for n in reversed(nights) for w in n.warnings
    ]


def _registry(root: Path) -> tuple[list[Any], list[Any], dict[str, int]]:
    """Versions, champion moves and aliases; empty when the root has no readable registry."""
    from ..exceptions import DriftkeeperError
    from ..registry import Registry

    try:
        reg = Registry(root, create=False)
        return reg.history(), reg.alias_history("champion"), reg.aliases()
    except DriftkeeperError:
        return [], [], {}


def _plotly_js() -> str:
    """plotly.js as the plotly package ships it (read the way ``plotly.offline.get_plotlyjs`` does,
    without importing plotly.offline and the notebook machinery it brings)."""
    import pkgutil

    return pkgutil.get_data("plotly", "package_data/plotly.min.js").decode("utf-8")


def _plot(nights: Sequence[Night]) -> tuple[str, str]:
    """(the plot's div and its drawing script, the plotly.js script tag); a note when there is nothing to plot."""
    import json

    from .figures import build_figure

    if not nights:
        return '<p class="muted" style="padding:12px">No nights yet: run <code>driftkeeper run</code> and build this page again.</p>', ""
    fig = build_figure(nights)
    config = {"displaylogo": False, "responsive": True}
    # "</" inside a script element would end it: names and texts in the data are user text
    args = ", ".join(json.dumps(part, separators=(",", ":")).replace("</", "<\\/") for part in (fig["data"], fig["layout"], config))
    div = (f'<div id="dk-plot" style="height:{fig["layout"]["height"]}px;width:100%"></div>'
           f'<script type="text/javascript">Plotly.newPlot("dk-plot", {args});</script>')
    return div, f'<script type="text/javascript">{_plotly_js()}</script>'


def render_page(root: Path, nights: Sequence[Night], out_dir: Path, since: datetime | None = None) -> str:
    """The page's HTML for ``nights`` of ``root`` (links relative to ``out_dir``)."""
    versions, moves, aliases = _registry(root)
    plot, script = _plot([n for n in nights if n.time is not None])
    span = f"{_t(nights[0].time)} to {_t(nights[-1].time)}" if nights else "no nights"
    shown = f"{len(nights)} night{'s' if len(nights) != 1 else ''}, {span}" + (f" (since {since.date()})" if since else "")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    name = Path(root).resolve().name
    metric = next((n.metric_name for n in reversed(nights) if n.metric_name), "Metric")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>driftkeeper — {_e(name)}</title><style>{_CSS}</style>
{script}</head>
<body><main>
<h1>driftkeeper — {_e(name)}</h1><div class="sub">{_e(shown)}; built {now}</div>
{_cards(nights, aliases)}
<div class="panel">{plot}</div>
<h2>Nights</h2>
{_table(["Time (UTC)", "Decision", "Rule", "Outcome", metric, "Drift", "Serving", "Train CPU s", "Exit", "Report", "Notes"],
        _night_rows(nights, out_dir), "No nights yet.")}
<h2>Versions</h2>
{_table(["Version", "Created (UTC)", "Action", "Parent", "Aliases", "Champion (UTC)", "Metrics at registration"],
        _version_rows(versions, moves), "No registry found under the root.")}
<h2>Data-quality warnings</h2>
{_table(["Time (UTC)", "Run", "Warning"], _warning_rows(nights), "No warnings on the nights shown.")}
<footer>Times are the newest row of each batch when it has a time column, else when the run started.
Hover a point for the rule and the decision's reasons; drag to zoom, double-click to reset.</footer>
</main></body></html>
"""


def _write_atomic(path: Path, text: str) -> None:
    # open() (not mkstemp) so the page gets the umask's permissions, readable by a web server
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build_dashboard(root: str | Path, output: str | Path | None = None, since: datetime | None = None) -> Path:
    """Write the dashboard of ``root`` to ``output`` (default ``ROOT/dashboard.html``); return its path.

    ``since`` keeps the nights whose time is not earlier (see :class:`~.runs.Night`). Raises
    :class:`~driftkeeper.exceptions.ConfigError` when ``root`` is not a driftkeeper root or the
    output's folder does not exist.
    """
    from ..exceptions import ConfigError

    root = Path(root)
    nights = load_nights(root, since=since)
    out = Path(output) if output is not None else root / "dashboard.html"
    if not out.parent.is_dir():
        raise ConfigError(f"-o {str(out)!r}: folder {str(out.parent)!r} does not exist; create it first")
    if out.is_dir():
        raise ConfigError(f"-o {str(out)!r} is a folder; give a file name such as {str(out / 'dashboard.html')!r}")
    _write_atomic(out, render_page(root, nights, out.parent.resolve(), since))
    return out
