"""Replay history through the real runner under several policies (``run_backtest``): error ×
training CPU per policy, per batch, with pictures."""

from .replay import BacktestResult, BatchResult, PolicyResult, parse_every, run_backtest, split_batches

__all__ = ["BacktestResult", "BatchResult", "PolicyResult", "parse_every", "run_backtest", "split_batches"]
