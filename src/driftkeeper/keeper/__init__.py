"""The nightly runner (``Keeper``): read a batch, observe it, decide, apply the plan (train, gate,
register), commit the run record and state. The only layer that sequences side effects."""

from .runner import Keeper, ModelBundle, RunRecord

__all__ = ["Keeper", "ModelBundle", "RunRecord"]
