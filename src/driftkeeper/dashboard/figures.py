"""The dashboard's plot: six panels over one shared time axis (zoom one, all follow).

1. the champion's metric per night (realised; estimated where records have it), the baseline
   it is compared with and the level at which a retrain rule fires;
2. every decision in four lanes (update / retrain / rollback / none), refused candidates and
   skipped training marked, and a lane of data-quality warnings; the rule and the decision's
   text on hover;
3. the version serving after each night;
4. the share of drifted feature columns (dataset drift in red);
5. the most drifted columns, column x night, scored relative to their thresholds, drifted
   verdicts marked;
6. training and monitoring CPU per night, and the share of the compute budget spent so far
   when the policy sets one.

The figure is built as plain dicts in plotly's JSON schema and drawn by the plotly.js the page
inlines: plotly's Python figure objects validate every property on every assignment, which took
seconds for a year of nights.
"""

from __future__ import annotations

import html
import math
import textwrap
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from .runs import Night, _num

__all__ = ["COLORS", "METRIC_COLOR", "build_figure", "column_matrix"]

COLORS = {"update": "#2c7fb8", "retrain": "#f28e2b", "rollback": "#9c3ec1", "none": "#a0a4aa"}
METRIC_COLOR, BASELINE_COLOR, LEVEL_COLOR, WARN_COLOR, DRIFT_COLOR = "#1b3a5c", "#7f8c8d", "#d62728", "#e8a200", "#d62728"
LANES = ["none", "update", "retrain", "rollback", "warnings"]
#: panel title, relative height
PANELS = [
    ("Champion's metric per night", 0.24),
    ("Decisions", 0.13),
    ("Version serving", 0.10),
    ("Share of drifted columns", 0.11),
    ("Most drifted columns: score relative to its threshold (× drifted)", 0.24),
    ("CPU per night", 0.13),
]
MAX_COLUMNS = 15  # heatmap rows: a laptop screen shows this many legibly
_STRENGTH_CAP = 3.0


def _size(nights: Sequence[Night], big: float) -> float:
    """Marker size: smaller when a year of nights shares the width."""
    return big if len(nights) <= 120 else big * 0.6


def _ts(when: datetime) -> str:
    """A time as plotly.js reads it (UTC, no offset: plotly.js does not apply offsets)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class _Figure:
    """A plotly figure as plain dicts: ``rows`` panels stacked over one shared time axis."""

    def __init__(self, panels: Sequence[tuple[str, float]], spacing: float = 0.035) -> None:
        total = sum(h for _, h in panels)
        free = 1.0 - spacing * (len(panels) - 1)
        self.data: list[dict[str, Any]] = []
        self.layout: dict[str, Any] = {"annotations": [], "shapes": []}
        self.domains: list[tuple[float, float]] = []
        top = 1.0
        for row, (title, height) in enumerate(panels, start=1):
            bottom = max(0.0, top - free * height / total)
            self.domains.append((bottom, top))
            self.layout[self.axis("x", row)] = {"anchor": self.ref("y", row), "showticklabels": row == len(panels), **_XAXIS}
            if row > 1:
                self.layout[self.axis("x", row)]["matches"] = "x"  # zoom one panel, all follow
            self.layout[self.axis("y", row)] = {"domain": [bottom, top], "anchor": self.ref("x", row), **_YAXIS}
            self.layout["annotations"].append({"text": title, "xref": "paper", "yref": "paper", "x": 0, "y": top,
                                               "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}})
            top = bottom - spacing

    @staticmethod
    def ref(letter: str, row: int) -> str:
        return letter if row == 1 else f"{letter}{row}"

    def axis(self, letter: str, row: int) -> str:
        return f"{letter}axis" if row == 1 else f"{letter}axis{row}"

    def add(self, row: int, trace: dict[str, Any]) -> None:
        self.data.append({**trace, "xaxis": self.ref("x", row), "yaxis": self.ref("y", row)})

    def yaxis(self, row: int, **props: Any) -> None:
        self.layout[self.axis("y", row)].update(props)

    def overlay(self, row: int, **props: Any) -> str:
        """A second y axis on the right of ``row``'s panel; returns its reference (``y7``...)."""
        n = sum(1 for k in self.layout if k.startswith("yaxis")) + 1
        self.layout[f"yaxis{n}"] = {"overlaying": self.ref("y", row), "side": "right", "anchor": self.ref("x", row),
                                    "zeroline": False, "automargin": True, **props}
        return f"y{n}"

    def hline(self, row: int, y: float, color: str, text: str) -> None:
        x = f"{self.ref('x', row)} domain"
        self.layout["shapes"].append({"type": "line", "xref": x, "x0": 0, "x1": 1, "yref": self.ref("y", row), "y0": y, "y1": y,
                                      "line": {"color": color, "width": 1, "dash": "dot"}})
        self.layout["annotations"].append({"text": text, "xref": x, "x": 0, "yref": self.ref("y", row), "y": y, "xanchor": "left",
                                           "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": color},
                                           "bgcolor": "rgba(255,255,255,0.8)"})


_GRID = "#e9edf2"
_XAXIS = {"type": "date", "showgrid": True, "gridcolor": _GRID, "showline": True, "linecolor": "#ccc", "zeroline": False,
          "showspikes": True, "spikemode": "across", "spikethickness": 1, "spikecolor": "#bbb", "spikedash": "solid"}
_YAXIS = {"showgrid": True, "gridcolor": _GRID, "zeroline": False, "automargin": True}


def _gaps(nights: Sequence[Night]) -> list[timedelta]:
    """Time between consecutive nights (a day when there is one night only)."""
    gaps = [b.time - a.time for a, b in zip(nights, nights[1:]) if b.time > a.time]
    return gaps or [timedelta(days=1)]


def _bar_width_ms(nights: Sequence[Night]) -> float:
    """Bars 80% of the shortest gap wide (plotly would make a lone night's bar span the axis)."""
    return 0.8 * min(_gaps(nights)).total_seconds() * 1000


def _edges(nights: Sequence[Night]) -> list[datetime]:
    """Heatmap cell edges: half-way between nights, the outer cells as wide as their neighbour's half."""
    times = [n.time for n in nights]
    gaps = _gaps(nights)
    mids = [a + (b - a) / 2 for a, b in zip(times, times[1:])]
    return [times[0] - gaps[0] / 2, *mids, times[-1] + gaps[-1] / 2]


def _wrap(text: Any, width: int = 90) -> str:
    """Hover text: escaped (plotly renders a few tags) and wrapped with <br>."""
    return "<br>".join(textwrap.wrap(html.escape(str(text)), width)) if text else ""


def _strength(col: dict[str, Any]) -> float | None:
    """A column's drift score on one scale: 1 at its threshold, above 1 drifted, 0 no drift.

    p-values shrink as drift grows, so they are compared on a log scale (p = threshold gives
    1, p = threshold^2 gives 2); distances grow with drift and are divided by the threshold.
    """
    score, thr = _num(col.get("score")), _num(col.get("threshold"))
    if score is None or thr is None or thr <= 0:
        return None
    if col.get("stattest_type") == "p_value":
        if thr >= 1:
            return None
        s = _STRENGTH_CAP if score <= 0 else math.log(min(score, 1.0)) / math.log(thr)
    else:
        s = score / thr
    return min(max(s, 0.0), _STRENGTH_CAP)


def column_matrix(nights: Sequence[Night], limit: int = MAX_COLUMNS) -> tuple[list[str], list[list[float | None]], list[list[Any]]]:
    """``(columns, strength[column][night], hover[column][night])`` for the ``limit`` columns that
    drifted on most nights (then by mean strength), most drifted first."""
    per_night = [
        {str(c.get("name")): c for c in (n.record.get("drift") or {}).get("columns") or () if isinstance(c, dict)}
        for n in nights
    ]
    names: dict[str, list[float]] = {}
    drifted: dict[str, int] = {}
    for cols in per_night:
        for name, col in cols.items():
            s = _strength(col)
            names.setdefault(name, []).append(0.0 if s is None else s)
            drifted[name] = drifted.get(name, 0) + bool(col.get("drifted"))
    ranked = sorted(names, key=lambda c: (-drifted[c], -sum(names[c]) / len(names[c]), c))[:limit]
    z, hover = [], []
    for name in ranked:
        z.append([_strength(cols[name]) if name in cols else None for cols in per_night])
        hover.append([f"{_ts(n.time)[:10]}: {_cell_text(cols.get(name))}" for n, cols in zip(nights, per_night)])
    return ranked, z, hover


def _cell_text(col: dict[str, Any] | None) -> str:
    if not col:
        return "not checked"
    verdict = "DRIFTED" if col.get("drifted") else "ok"
    score, thr = _num(col.get("score")), _num(col.get("threshold"))
    s = "-" if score is None else f"{score:.3g}"
    t = "-" if thr is None else f"{thr:.3g}"
    return f"{verdict}: {html.escape(str(col.get('method') or 'score'))} {s} (threshold {t})"


def _metric_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    x = [_ts(n.time) for n in nights]
    name = next((n.metric_name for n in nights if n.metric_name), "metric")
    hover = [f"{n.run_id}<br>{n.outcome}, serving v{n.serving or 0:04d}" for n in nights]
    series = [
        ("baseline", [n.baseline for n in nights], dict(color=BASELINE_COLOR, width=1.5, shape="hv"), "lines"),
        ("retrain level", [n.retrain_level for n in nights], dict(color=LEVEL_COLOR, width=1.5, dash="dot", shape="hv"), "lines"),
        (f"{name} (realised)", [n.metric for n in nights], dict(color=METRIC_COLOR, width=2), "lines+markers"),
    ]
    if any(n.estimated_metric is not None for n in nights):
        series.append((f"{name} (estimated)", [n.estimated_metric for n in nights], dict(color="#6baed6", width=2, dash="dash"), "lines+markers"))
    marker = dict(size=8 if len(nights) <= 30 else _size(nights, 5), color=None)
    for label, y, line, mode in series:
        if all(v is None for v in y):
            continue
        if len(nights) == 1:  # a line needs two points: show the lone values as markers
            mode = "lines+markers"
        fig.add(row, dict(
            type="scatter", x=x, y=y, name=label, mode=mode, line=line, marker={**marker, "color": line["color"]},
            connectgaps=False, customdata=hover, legend="legend",
            hovertemplate=f"{label} %{{y:.4g}}<br>%{{customdata}}<extra></extra>",
        ))
    fig.yaxis(row, title={"text": name})


def _decision_hover(n: Night) -> str:
    parts = [f"<b>{html.escape(n.action)}</b> — {html.escape(n.outcome)} ({_ts(n.time)[:16]} UTC)", f"rule: {html.escape(n.rule or '-')}"]
    if n.decision_text:
        parts.append(_wrap(n.decision_text))
    for g in n.guards:
        parts.append("guard: " + _wrap(g))
    if n.training_skipped:
        parts.append("training skipped: " + _wrap(n.training_skipped))
    if n.gate:
        parts.append(_wrap(n.gate))
    return "<br>".join(parts)


def _decision_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    for lane in LANES[:4]:
        these = [n for n in nights if n.group == lane]
        if not these:
            continue
        symbols = ["x" if n.outcome == "refused" else "circle-open" if n.outcome == "skipped" else "circle" for n in these]
        fig.add(row, dict(
            type="scatter", x=[_ts(n.time) for n in these], y=[lane] * len(these), mode="markers", name=lane, legend="legend2",
            marker=dict(color=COLORS[lane], size=_size(nights, 11), symbol=symbols, line=dict(width=1.5, color=COLORS[lane])),
            customdata=[_decision_hover(n) for n in these], hovertemplate="%{customdata}<extra></extra>",
        ))
    for label, symbol in (("refused by the gate", "x"), ("training skipped", "circle-open")):
        if any(n.outcome == label.split()[0] for n in nights):
            fig.add(row, dict(type="scatter", x=[None], y=[None], mode="markers", name=label, legend="legend2",
                              marker=dict(color="#444", size=10, symbol=symbol)))
    for label, color, these in (
        ("data-quality warnings", WARN_COLOR, [n for n in nights if n.warnings and not n.needs_attention]),
        ("needs a person", DRIFT_COLOR, [n for n in nights if n.needs_attention]),
    ):
        if these:
            fig.add(row, dict(
                type="scatter", x=[_ts(n.time) for n in these], y=["warnings"] * len(these), mode="markers", name=label,
                legend="legend2", marker=dict(color=color, size=_size(nights, 11), symbol="triangle-up"),
                customdata=["<br>".join(["needs attention: " + _wrap(a) for a in n.needs_attention] + [_wrap(w) for w in n.warnings])
                            for n in these],
                hovertemplate="%{customdata}<extra></extra>",
            ))
    fig.yaxis(row, type="category", categoryorder="array", categoryarray=LANES, range=[-0.6, len(LANES) - 0.4])


def _serving_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    pts = [n for n in nights if n.serving is not None]
    if not pts:
        return
    changed = [i == 0 or n.serving != pts[i - 1].serving for i, n in enumerate(pts)]
    labelled = sum(changed) <= 40  # beyond that the labels overlap: hover tells the version
    fig.add(row, dict(
        type="scatter", x=[_ts(n.time) for n in pts], y=[n.serving for n in pts], mode="lines+markers+text", name="serving",
        line=dict(color="#4a4a4a", width=2, shape="hv"), marker=dict(size=[_size(nights, 7) if c else 2 for c in changed], color="#4a4a4a"),
        text=[f"v{n.serving}" if c and labelled else "" for n, c in zip(pts, changed)], textposition="top center",
        textfont=dict(size=10), hovertemplate="v%{y:04d} serving after this night<extra></extra>", showlegend=False,
    ))
    fig.yaxis(row, title={"text": "version"}, range=[0, max(n.serving for n in pts) * 1.25 + 1])


def _drift_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    pts = [n for n in nights if n.drift_share is not None]
    if not pts:
        return
    fig.add(row, dict(
        type="bar", x=[_ts(n.time) for n in pts], y=[n.drift_share for n in pts], name="drift share", showlegend=False,
        width=_bar_width_ms(pts), marker=dict(color=[DRIFT_COLOR if n.dataset_drift else "#9ecae1" for n in pts]),
        customdata=[", ".join(n.drifted_columns[:8]) + (" …" if len(n.drifted_columns) > 8 else "") or "no column drifted" for n in pts],
        hovertemplate="%{y:.0%} of columns drifted<br>%{customdata}<extra></extra>",
    ))
    thr = next((_num((n.record.get("drift") or {}).get("drift_share_threshold")) for n in reversed(pts)), None)
    if thr is not None:
        fig.hline(row, thr, DRIFT_COLOR, "dataset drift")
    fig.yaxis(row, tickformat=".0%", range=[0, 1.05])


def _column_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    names, z, hover = column_matrix(nights)
    if not names:
        return
    bottom, top = fig.domains[row - 1]
    fig.add(row, dict(
        type="heatmap", x=[_ts(t) for t in _edges(nights)], y=names, z=z, customdata=hover, zmin=0, zmax=_STRENGTH_CAP,
        hoverongaps=False, showscale=True,
        colorscale=[[0, "#f8f9fb"], [0.8 / _STRENGTH_CAP, "#fee8c8"], [1 / _STRENGTH_CAP, "#fdbb84"], [0.6, "#ef6548"], [1, "#7f0000"]],
        colorbar=dict(title=dict(text="score / threshold", side="right"), y=(bottom + top) / 2, len=top - bottom,
                      thickness=12, tickvals=[0, 1, 2, 3], ticktext=["none", "threshold", "2x", "≥3x"]),
        hovertemplate="%{y}, %{customdata}<extra></extra>",
    ))
    x = [_ts(n.time) for n in nights]
    cells = [(x[j], names[i], z[i][j] or 0.0) for i in range(len(names)) for j in range(len(nights))
             if ": DRIFTED" in hover[i][j]]
    if cells:
        fig.add(row, dict(
            type="scatter", x=[c[0] for c in cells], y=[c[1] for c in cells], mode="markers", name="drifted", showlegend=False,
            # white on the darkest cells, where a dark mark would vanish
            marker=dict(symbol="x-thin", size=7, line=dict(width=1.5, color=["#fff" if c[2] > 2 else "#222" for c in cells])),
            hoverinfo="skip",
        ))
    fig.yaxis(row, type="category", autorange="reversed", showgrid=False)


def _cpu_traces(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    x = [_ts(n.time) for n in nights]
    for label, values, color in (("training", [n.train_cpu_s for n in nights], "#f28e2b"),
                                 ("monitoring", [n.monitor_cpu_s for n in nights], "#76b7b2")):
        if any(v is not None for v in values):
            fig.add(row, dict(type="bar", x=x, y=values, name=f"{label} CPU", marker=dict(color=color), legend="legend6",
                              width=_bar_width_ms(nights), hovertemplate=f"{label} %{{y:.3g}} s CPU<extra></extra>"))
    fig.yaxis(row, title={"text": "seconds"}, rangemode="tozero")
    if any(n.budget_spent is not None for n in nights):
        _budget_trace(fig, nights, row)


def _budget_trace(fig: _Figure, nights: Sequence[Night], row: int) -> None:
    """The budget's ledger on a right-hand axis: training CPU spent / allowance so far (1 = on budget)."""
    axis = fig.overlay(row, title={"text": "budget spent"}, tickformat=".0%", rangemode="tozero", showgrid=False)
    hover = [f"spent {_num((n.budget or {}).get('spent_s')) or 0:.3g} s of {_num((n.budget or {}).get('allowance_s')) or 0:.3g} s allowed"
             for n in nights]
    fig.data.append(dict(
        type="scatter", x=[_ts(n.time) for n in nights], y=[n.budget_spent for n in nights], name="budget spent",
        mode="lines", line=dict(color="#555", dash="dash", width=1.5), legend="legend6", customdata=hover,
        xaxis=fig.ref("x", row), yaxis=axis, hovertemplate="budget %{y:.0%} spent<br>%{customdata}<extra></extra>",
    ))


def build_figure(nights: Sequence[Night]) -> dict[str, Any]:
    """The six panels for ``nights`` (oldest first; nights without a time are left out) as a
    plotly figure dict: ``{"data": [...], "layout": {...}}``."""
    nights = [n for n in nights if n.time is not None]
    fig = _Figure(PANELS)
    _metric_traces(fig, nights, 1)
    _decision_traces(fig, nights, 2)
    _serving_traces(fig, nights, 3)
    _drift_traces(fig, nights, 4)
    _column_traces(fig, nights, 5)
    _cpu_traces(fig, nights, 6)
    edges = [_ts(t) for t in _edges(nights)]  # the heatmap cells' span, so no bar or cell is cut
    for row in range(1, len(PANELS) + 1):
        fig.layout[fig.axis("x", row)]["range"] = [edges[0], edges[-1]]
    budget_axis = any(n.budget_spent is not None for n in nights)
    for i in (1, 2, 6):  # a legend beside each panel that has one (past the budget's axis, if any)
        fig.layout["legend" if i == 1 else f"legend{i}"] = dict(
            y=fig.domains[i - 1][1], yanchor="top", x=1.08 if i == 6 and budget_axis else 1.01, xanchor="left",
            font=dict(size=11), bgcolor="rgba(255,255,255,0)", tracegroupgap=2)
    fig.layout.update(
        height=1500, margin=dict(l=70, r=190, t=40, b=40), barmode="stack", hovermode="closest",
        paper_bgcolor="#fff", plot_bgcolor="#fff", hoverlabel=dict(align="left"),
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#2a3f5f"),
    )
    return {"data": fig.data, "layout": fig.layout}
