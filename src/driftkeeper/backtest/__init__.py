"""Replay history through the real runner under several policies (``run_backtest``): error ×
training CPU per policy, per batch, with pictures; and choose a policy on the earlier part of
the history, measured on the later part (``tune``)."""

from .replay import (BacktestResult, BatchResult, PolicyResult, label_schedule, parse_every, parse_label_delay, run_backtest,
                     split_batches)
from .tuning import TuneResult, tune

__all__ = ["BacktestResult", "BatchResult", "PolicyResult", "TuneResult", "label_schedule", "parse_every",
           "parse_label_delay", "run_backtest", "split_batches", "tune"]
