"""Cross-fitted early stopping for LightGBM updates (``update(crossfit=True)``).

The held-out rows both pick an update's round count and judge it, without any row grading a
choice its own label made: the rows form two alternating folds, each fold picks its best round
count when its own patience runs out, and each row is scored by the model cut at the count the
*other* fold picked. The served model keeps the count best on both folds together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from driftkeeper.adapters.lightgbm import LightGBMAdapter

__all__ = ["Eval", "FoldCurves", "fold_stopper"]


class Eval:
    """The held-out rows an update stops on: one validation Dataset, or with ``crossfit`` two
    alternating folds (rows 0, 2, 4, ... and 1, 3, 5, ...), each a Dataset binned like the
    training rows. ``init``: the rows' raw scores before the update (a correction's base), or
    None when the booster continues from ``init_model``."""

    def __init__(self, model: "LightGBMAdapter", params: dict[str, Any], train_set: Any, matrix: np.ndarray,
                 y: np.ndarray, init: np.ndarray | None, crossfit: bool):
        n = len(matrix)
        self.matrix, self.init, self.crossfit = matrix, init, crossfit
        self.folds = [np.arange(0, n, 2), np.arange(1, n, 2)] if crossfit else [np.arange(n)]
        self.names = [f"fold{i}" for i in range(len(self.folds))] if crossfit else ["valid"]
        y = np.asarray(y)
        self.sets = [model._dataset(matrix[idx], y[idx], params, reference=train_set,
                                    init_score=None if init is None else init[idx]) for idx in self.folds]

    def crossfit_output(self, model: "LightGBMAdapter", booster: Any, folds: "FoldCurves", start: int) -> int:
        """Set ``model.last_eval_output_`` (each row predicted at the round count the other fold
        picked) and return the booster's iteration to keep: the round count best on both folds."""
        pick = np.argmax if folds.higher else np.argmin
        curves = [np.asarray(folds.history[name], dtype=float) for name in self.names]
        # a fold that never ran out of patience picks on every round trained: their number is
        # `rounds`, or set by the other fold's patience, which never reads this fold's labels
        picked = [folds.picked.get(name) or int(pick(c)) + 1 for name, c in zip(self.names, curves)]
        sizes = np.array([len(idx) for idx in self.folds], dtype=float)
        pooled = sum(w * c for w, c in zip(sizes / sizes.sum(), curves))
        out: np.ndarray | None = None
        for fold, other in ((0, 1), (1, 0)):
            idx = self.folds[fold]
            if self.init is None:  # continued booster: its own transformed output
                part = booster.predict(self.matrix[idx], num_iteration=start + picked[other], **model._predict_params())
            else:
                raw = self.init[idx] + booster.predict(self.matrix[idx], raw_score=True, num_iteration=picked[other],
                                                       **model._predict_params())
                part = model._link()(raw)
            if out is None:
                out = np.empty((len(self.matrix),) + part.shape[1:], dtype=float)
            out[idx] = part
        model.last_eval_output_ = out if model.task == "regression" else model._to_proba(out)
        return start + int(pick(pooled)) + 1


class FoldCurves:
    """What :func:`fold_stopper` saw: each fold's first metric per round (``history``), whether
    higher is better, and the round count (1-based) each fold picked when its patience ran out."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.higher = False
        self.picked: dict[str, int] = {}


def fold_stopper(stop: int, names: list[str], folds: FoldCurves):
    """A LightGBM callback: record each fold's first metric per round and stop once no fold has
    improved for ``stop`` rounds. A fold's pick is frozen when its own patience runs out (its best
    round so far), so the rounds trained after it — there because the other fold still improved
    — cannot change it: no fold's pick depends on the other fold's labels, and the gate scores
    each fold at the other's pick."""
    import lightgbm as lgb

    best: dict[str, tuple[float, int]] = {}

    def callback(env: Any) -> None:
        seen: set[str] = set()
        i = env.iteration - env.begin_iteration
        for item in env.evaluation_result_list:
            name, value, higher = item[0], float(item[2]), bool(item[3])
            if name not in names or name in seen:
                continue  # the first metric of each fold only
            seen.add(name)
            folds.history.setdefault(name, []).append(value)
            folds.higher = higher
            if name in folds.picked:
                continue
            score, _ = best.get(name, (None, -1))
            if score is None or (value > score if higher else value < score):
                best[name] = (value, i)
            elif i - best[name][1] >= stop:
                folds.picked[name] = best[name][1] + 1
        if len(folds.picked) == len(names):
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 30  # type: ignore[attr-defined]  # after the evaluation, as lgb.early_stopping
    return callback
