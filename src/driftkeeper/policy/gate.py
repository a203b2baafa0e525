"""The gate: is a candidate at least as good as the champion on the same holdout rows? Pure.

A point comparison within ``margin``, or with ``confidence`` a one-sided paired t-test on the
per-row losses of both models (see :func:`gate_passes`)."""

from __future__ import annotations

import math
from typing import Any

from .vocabulary import METRICS
from .. import metrics as metric_registry
from .._util.suggest import suggest
from ..exceptions import ConfigError

_EPS = 1e-12


def higher_is_better(metric: str) -> bool:
    """Direction of a metric of the registry (``auto`` is rmse / log_loss: lower is better)."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}{suggest(metric, METRICS)}; metrics: {', '.join(METRICS)}")
    return metric_registry.higher_is_better(metric)


def gate_passes(
    champion_value: float | None,
    candidate_value: float | None,
    metric: str,
    margin: float = 0.0,
    *,
    confidence: float | None = None,
    champion_losses: Any = None,
    candidate_losses: Any = None,
) -> tuple[bool, str]:
    """Is the candidate at least as good as the champion, within ``margin``? Pure.

    Both values are the metric on the same holdout rows. With ``tol = margin * |champion|``:
    lower-is-better metrics pass when ``candidate <= champion + tol`` (for a positive error:
    ``candidate <= champion * (1 + margin)``); higher-is-better ones when
    ``candidate >= champion - tol``. ``margin`` 0 means "no worse"; a negative margin
    demands an improvement. A missing or NaN candidate fails; a missing champion passes.

    With ``confidence`` (e.g. 0.9) and both models' per-row losses on the holdout, the gate
    refuses only a candidate that is worse *with that confidence*: a one-sided paired t-test
    on ``d = candidate_loss - k * champion_loss`` (``k = (1 + margin) ** power``; power 2 for
    rmse, whose losses are squared errors) refuses when ``mean(d) / (sd(d) / sqrt(n))`` exceeds
    Student's t quantile. On a holdout of a few dozen rows the point comparison is mostly
    noise and refuses good candidates about as often as bad ones; the test keeps the gate
    for what it is for: stopping updates that are clearly harmful. Metrics without per-row
    losses (roc_auc) keep the point comparison.

    >>> gate_passes(10.0, 10.4, "rmse", 0.05)[0]
    True
    >>> gate_passes(0.80, 0.70, "r2", 0.05)[0]
    False
    >>> gate_passes(1.0, 1.2, "mae", 0.0, confidence=0.9,
    ...             champion_losses=[0.0, 2.0, 1.0, 1.0], candidate_losses=[0.4, 2.0, 1.4, 1.0])[0]
    True
    """
    hib = higher_is_better(metric)
    if candidate_value is None or not math.isfinite(candidate_value):
        return False, f"gate refused: candidate {metric} is {candidate_value!r}"
    if champion_value is None or not math.isfinite(champion_value):
        return True, f"gate passed: no champion {metric} to compare with (candidate {candidate_value:.4g})"
    if confidence is not None and champion_losses is not None and candidate_losses is not None:
        tested = _paired_test(champion_value, candidate_value, metric, margin, confidence, champion_losses, candidate_losses)
        if tested is not None:
            return tested
    tol = margin * abs(champion_value)
    if hib:
        limit, ok, cmp = champion_value - tol, candidate_value >= champion_value - tol, ">="
    else:
        limit, ok, cmp = champion_value + tol, candidate_value <= champion_value + tol, "<="
    verdict = "passed" if ok else "refused"
    direction = "higher" if hib else "lower"
    return ok, (
        f"gate {verdict}: candidate {metric} {candidate_value:.4g} {'' if ok else 'not '}{cmp} "
        f"{limit:.4g} (champion {champion_value:.4g}, margin {margin:g}, {direction} is better)"
    )


def _paired_test(champion_value, candidate_value, metric, margin, confidence, champion_losses, candidate_losses):
    import numpy as np

    a = np.asarray(champion_losses, dtype=float)
    b = np.asarray(candidate_losses, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"gate: champion and candidate losses must be 1-D and of equal length, got {a.shape} and {b.shape}")
    n = len(a)
    if n < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    m = metric_registry.METRICS.get(metric)  # None for an unresolved 'auto': plain losses
    k = (1.0 + margin) ** (m.loss_power if m is not None else 1)
    d = b - k * a
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        worse, stat = mean > 0, ("inf" if mean > 0 else "-inf" if mean < 0 else "0")
        crit = None
    else:
        from scipy.stats import t as student_t

        t = mean / (sd / math.sqrt(n))
        crit = float(student_t.ppf(confidence, n - 1))
        worse, stat = t > crit, f"{t:.2f}"
    verdict = "refused" if worse else "passed"
    change = (candidate_value - champion_value) / abs(champion_value) if champion_value else float("nan")
    against = f" {'>' if worse else '<='} {crit:.2f}" if crit is not None else ""
    return (not worse), (
        f"gate {verdict}: candidate {metric} {candidate_value:.4g} vs champion {champion_value:.4g} ({change:+.1%}, "
        f"margin {margin:g}); {'worse' if worse else 'not worse'} with {confidence:.0%} confidence "
        f"(paired t = {stat}{against}, {n} rows)"
    )
