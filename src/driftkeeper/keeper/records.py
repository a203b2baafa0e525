"""What one night did and why: :class:`RunRecord` (``ROOT/runs/<run-id>/record.json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .late_labels import errors

__all__ = ["RunRecord"]


@dataclass
class RunRecord:
    """Everything one run did and why. ``to_dict()`` is what ``driftkeeper run --json`` prints and
    what is stored as ``ROOT/runs/<run_id>/record.json``."""

    run_id: str
    status: str  # "completed" | "already_processed" | "dry_run"
    batch: dict[str, Any]
    decision: dict[str, Any] | None = None
    decision_text: str | None = None
    plan: dict[str, Any] | None = None  # the training plan (rows, holdout, relearned batches, parameters)
    drift: dict[str, Any] | None = None
    champion_metric: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    registered: int | None = None
    promoted: int | None = None
    serving: int | None = None
    needs_attention: list[str] = field(default_factory=list)
    labels: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    html: str | None = None
    costs: dict[str, Any] | None = None  # forecasts, the budget's ledger and the learning debt
    # the policy metric estimated without labels (CBPE / DLE); ``realised`` is added beside it when the
    # batch's labels arrive on a later night (``value``, ``rows``, ``night``, ``run_id``, ``agrees``)
    estimated_metric: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.needs_attention else 0

    @property
    def action(self) -> str:
        """The action the run carried out (or tried): the decided one, unless the runner had to
        switch — an update that would break a size cap becomes a retrain (see ``warnings``)."""
        trained = (self.training or {}).get("action")
        return trained or (self.decision or {}).get("action", "none")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d

    def summary(self) -> str:
        """A short human summary: the decision and why, what happened, the version now serving."""
        if self.status == "already_processed":
            return f"batch {self.batch.get('sha256', '')[:12]} was already processed by run {self.batch.get('processed_by')}; nothing to do (serving v{self.serving:04d})"
        lines = [self.decision_text or "no decision"]
        n_quality = (self.drift or {}).get("quality_issues") or 0
        if n_quality:
            found = list((self.drift or {}).get("warnings") or [])
            more = f"; ... {len(found) - 3} more" if len(found) > 3 else ""
            lines.append(f"data quality: {n_quality} finding{'s' if n_quality > 1 else ''}: {'; '.join(found[:3])}{more}")
        est = self.estimated_metric
        if est and est.get("value") is not None and not self.champion_metric:
            err = sum((e or 0.0) ** 2 for e in errors(est))
            lines.append(f"no labels yet: {est['metric']} estimated {est['value']:.4g} ± {2 * err ** 0.5:.2g} (95%)"
                         + (f"; doubtful: {est['outside_share']:.0%} of the rows lie outside what the estimator saw"
                            if est.get("doubtful") else ""))
        real = (est or {}).get("realised")
        if real and real.get("value") is not None:
            lines.append(f"{est['metric']} estimated {est['value']:.4g}, realised {real['value']:.4g} on {real['rows']} rows "
                         f"when the labels arrived (night {real['night']})"
                         + ("" if real.get("agrees", True) else "; more than 3 total errors apart: the estimate missed"))
        if self.status == "dry_run" and self.plan:
            lines.append(plan_text(self.plan))
        if self.training:
            t = self.training
            if t.get("skipped"):
                lines.append(f"training skipped: {t['skipped']}")
            else:
                lines.append(f"trained {t['action']} on {t['rows']} rows ({t['cpu_s']:.2f} s CPU)")
            if self.plan and t.get("action") != self.plan.get("action"):
                lines.append(f"planned {self.plan['action']}, trained {t['action']} instead (see warnings)")
        if self.gate:
            lines.append(self.gate["explanation"])
        if self.registered is not None:
            where = "promoted to champion" if self.promoted == self.registered else "kept as challenger"
            lines.append(f"registered v{self.registered:04d}, {where}")
        if self.status == "dry_run":
            lines.append("dry run: nothing was changed")
        if self.serving is not None:
            lines.append(f"serving v{self.serving:04d}")
        for n in self.needs_attention:
            lines.append(f"needs attention: {n}")
        return "\n".join(lines)


def _batches(seqs: list[int]) -> str:
    if not seqs:
        return "none"
    if seqs == list(range(seqs[0], seqs[-1] + 1)) and len(seqs) > 2:
        return f"{seqs[0]}–{seqs[-1]}"
    return ", ".join(map(str, seqs))


def plan_text(plan: dict[str, Any]) -> str:
    """A training plan in words (``driftkeeper run --dry-run``)."""
    if plan.get("skipped"):
        return f"plan: {plan['action']} would be skipped: {plan['skipped']}"
    lines = [f"plan: {plan['action']} on {plan['rows']} rows of batches {_batches(plan.get('batches', []))}, "
             f"{plan['holdout_rows']} held out for the gate (batches {_batches(plan.get('holdout_batches', []))})"
             + (f" and {plan['stop_rows']} for early stopping" if plan.get("stop_rows") else "")]
    if plan.get("relearned_batches"):
        lines.append(f"  relearning batches {_batches(plan['relearned_batches'])}"
                     + (f" (capped at {plan['relearned_rows_capped']} rows)" if plan.get("relearned_rows_capped") else ""))
    if plan.get("relearn_budget_rows") is not None:  # records of releases whose budget capped an update
        lines.append(f"  the budget pays for relearning at most {plan['relearn_budget_rows']} rows")
    shown = {k: v for k, v in (plan.get("params") or {}).items() if v is not None}
    if shown:
        lines.append("  with " + ", ".join(f"{k}: {v}" for k, v in shown.items()))
    if plan.get("ignored_params"):
        lines.append(f"  ignored (the model does not take them): {', '.join(plan['ignored_params'])}")
    for key in ("relearn_skipped", "early_stopping_skipped"):
        if plan.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {plan[key]}")
    if plan.get("fallback"):
        fb = plan["fallback"]
        lines.append(f"  if the update would break a size cap: retrain on {fb['rows']} rows (window {fb['window']})")
    lines.append("  " + plan["outcome"] if plan.get("outcome") else "  the candidate would be registered, and promoted if the gate passes")
    return "\n".join(lines)
