"""The picture of a :class:`~driftkeeper.backtest.TuneResult` (matplotlib, Agg backend).

Error against training CPU (as a share of always-retrain's) of every candidate on the earlier
batches: the Pareto front as a step line, the chosen candidate as a star, always-retrain as
the reference square, the budget as a dashed line, and a key of the candidates' edits below.
"""

from __future__ import annotations

import io
import math
from typing import Any

__all__ = ["figure_png"]


def _clusters(pts: list[tuple[int, float, float]], xspan: float, yspan: float) -> list[tuple[str, float, float]]:
    """Candidate numbers joined where points nearly coincide (within 4 % of the axis' x span and
    3 % of its y span), so their labels do not overprint."""
    dx, dy = 0.04 * xspan, 0.03 * yspan
    groups: list[list] = []
    for i, x, y in pts:
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        near = next((g for g in groups if abs(g[1] - x) <= dx and abs(g[2] - y) <= dy), None)
        if near is None:
            groups.append([[i], x, y])
        else:
            near[0].append(i)
    return [(",".join(map(str, g[0])), g[1], g[2]) for g in groups]


def figure_png(result: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    legend_in = 0.3 + 0.15 * len(result.candidates)  # inches below the axes for the key of the candidate numbers
    fig, ax = plt.subplots(figsize=(9, 4.8 + legend_in))
    pts = [(k.index, k.cpu_ratio if k.cpu_ratio is not None else math.nan, k.earlier.mean_error) for k in result.candidates]
    front = sorted((x, y) for k, (_, x, y) in zip(result.candidates, pts) if k.pareto and math.isfinite(x))
    if front:
        ax.step(*zip(*front), where="post", color="C0", lw=1.2, alpha=0.6, label="Pareto front")
    for k, (_, x, y) in zip(result.candidates, pts):
        style = dict(color="C0" if k.pareto else "0.55", s=46 if k.pareto else 30, zorder=3)
        if not k.within_budget:
            style.update(color="C3", marker="x")
        ax.scatter([x], [y], **style)
    c, ref = result.chosen, result.reference_earlier.name
    ax.scatter([c.cpu_ratio], [c.earlier.mean_error], s=260, marker="*", color="C1", edgecolor="k", zorder=4,
               label=f"chosen: #{c.index}")
    ax.scatter([1.0], [result.reference_earlier.mean_error], s=70, marker="s", color="k", zorder=3, label=ref)
    if result.budget is not None:
        over = " (x: over it)" if result.budget_mode == "filter" else " (each candidate's budget key)"
        ax.axvline(result.budget, color="C3", ls="--", lw=1, label=f"budget {result.budget}{over}")
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for text, x, y in _clusters(pts, x1 - x0, y1 - y0):
        chosen = str(c.index) in text.split(",")
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(9, 7) if chosen else (6, 4), fontsize=9)
    ax.set_xlabel(f"training CPU / {ref}'s (earlier batches)")
    ax.set_ylabel(f"mean {result.metric} (lower is better)")
    ax.set_title(f"{result.dataset}: {len(result.candidates)} candidates on batches 1-{result.earlier_batches}; "
                 f"chosen #{c.index}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    height = fig.get_figheight()
    fig.text(0.01, 0.1 / height, "\n".join(f"{k.index:>2}: {k.label()}" for k in result.candidates), fontsize=8,
             family="monospace", va="bottom")
    fig.tight_layout(rect=(0, (legend_in + 0.1) / height, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
