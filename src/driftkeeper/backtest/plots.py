"""Pictures of a :class:`~driftkeeper.backtest.BacktestResult` (matplotlib, Agg backend; private).

Two panels: the error of every batch over time per policy, with a marker where the policy
retrained (▲), updated (●) or rolled back (✕); and mean error against training CPU seconds.
``write_plots`` writes a ``.png`` or a self-contained ``.html`` page with the PNG embedded.
"""

from __future__ import annotations

import base64
import html as _html
import io
from pathlib import Path
from typing import Any

__all__ = ["figure_png", "write_plots"]

_MARKERS = {"retrain": "^", "warm_start": "o", "online_update": "o", "rollback": "x"}


def figure_png(result: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    for i, p in enumerate(result.policies):
        color = f"C{i % 10}"
        xs = [b.index for b in p.per_batch]
        ax1.plot(xs, [b.error for b in p.per_batch], color=color, lw=1.2, label=p.name)
        for kind, m in _MARKERS.items():
            pts = [(b.index, b.error) for b in p.per_batch if (b.trained or b.action) == kind and (kind == "rollback" or b.trained)]
            if pts:
                ax1.scatter(*zip(*pts), marker=m, color=color, s=22, zorder=3)
        ax2.scatter([p.train_cpu_s], [p.mean_error], color=color, s=50)
        ax2.annotate(p.name, (p.train_cpu_s, p.mean_error), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax1.set_xlabel("batch (▲ retrain, ● update, ✕ rollback)")
    ax1.set_ylabel(f"{result.metric} as error (lower is better)")
    ax1.set_title(f"{result.dataset}: error of the serving model per batch")
    ax1.legend(fontsize=8)
    ax2.set_xlabel("training CPU seconds")
    ax2.set_ylabel(f"mean {result.metric} error")
    ax2.set_title("error vs training compute")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_plots(result: Any, path: str | Path) -> Path:
    path = Path(path)
    png = figure_png(result)
    if path.suffix.lower() == ".png":
        path.write_bytes(png)
        return path
    rows = "".join(
        "<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in r) + "</tr>" for r in result.rows()
    )
    head = "".join(f"<th>{_html.escape(c)}</th>" for c in result.columns())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>driftkeeper backtest: {_html.escape(result.dataset)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>"
        f"<h1>Backtest: {_html.escape(result.dataset)}</h1>"
        f"<p>{result.batches} batches ({_html.escape(result.every)}) after {result.initial_rows} initial rows; "
        f"error = {_html.escape(result.metric)} (lower is better).</p>"
        f"<table><tr>{head}</tr>{rows}</table>"
        f"<p><img alt='error over time and error vs training CPU' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>"
        "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
