"""Times: data times as UTC, and user-given times that must carry their timezone.

Data times (a batch's time column, the times kept in a keeper's state) follow one rule: a
time without a timezone is UTC. Times a user passes to ask a question (``served_at``,
a policy context) must say their timezone, since guessing would answer about the wrong hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..exceptions import ConfigError

__all__ = ["aware", "iso", "utc"]


def utc(ts: Any) -> datetime | None:
    """``ts`` (a datetime, pandas Timestamp, numpy datetime64 or ISO text) as an aware UTC
    datetime; a time without a timezone is taken as UTC. ``None`` stays ``None``.

    >>> utc("2024-05-01 12:00"), utc("2024-05-01T14:00:00+02:00") == utc("2024-05-01T12:00:00Z")
    (datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc), True)
    """
    if ts is None:
        return None
    import pandas as pd

    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime()


def iso(ts: Any) -> str | None:
    """:func:`utc` of ``ts`` as ISO-8601 text (``2024-05-01T12:00:00+00:00``), or ``None``."""
    t = utc(ts)
    return t.isoformat() if t is not None else None


def aware(value: Any, what: str) -> datetime:
    """A datetime or ISO-8601 text that carries its timezone, as a datetime (offset kept).

    Raises :class:`~driftkeeper.exceptions.ConfigError` naming ``what`` for text that is not
    ISO-8601, for any other type, and for a time without a timezone.
    """
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ConfigError(f"{what} {value!r} is not ISO-8601; expected e.g. '2024-05-01T12:00:00Z'") from exc
    elif isinstance(value, datetime):
        dt = value
    else:
        raise ConfigError(f"{what} must be an aware datetime or an ISO-8601 string, got {type(value).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ConfigError(
            f"{what} {dt.isoformat()!r} has no timezone; give an aware datetime or an ISO-8601 string "
            "with an offset, e.g. '2024-05-01T12:00:00Z'"
        )
    return dt
