"""The shared helpers of driftkeeper._util: did-you-mean hints, UTC times, atomic writes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from driftkeeper._util.suggest import closest, suggest
from driftkeeper._util.timeutil import aware, iso, utc
from driftkeeper.exceptions import ConfigError


@pytest.mark.parametrize(
    "word, choices, expected",
    [
        ("treshold", ["threshold", "method"], " (did you mean 'threshold'?)"),
        ("x2", ["X2", "x10"], " (did you mean 'X2'?)"),  # case differs only
        ("x3", ["x_3", "x4"], " (did you mean 'x_3'?)"),  # an underscore differs only
        ("zzz", ["price", "rooms"], ""),
        (7, [7.5, "7"], " (did you mean '7'?)"),  # compared as text
    ],
)
def test_suggest_has_one_shape(word, choices, expected):
    assert suggest(word, choices) == expected


def test_closest_prefers_a_case_or_separator_variant_over_a_nearer_spelling():
    assert closest("price-usd", ["price_usd", "price_usb"]) == "price_usd"
    assert closest("nothing", []) is None


# --------------------------------------------------------------------------- times


def test_utc_takes_a_naive_time_as_utc_and_converts_an_aware_one():
    import numpy as np
    import pandas as pd

    noon = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert utc(None) is None
    assert utc("2024-05-01 12:00") == noon
    assert utc(np.datetime64("2024-05-01T12:00")) == noon
    assert utc(pd.Timestamp("2024-05-01T14:00", tz="Europe/Berlin")) == noon
    assert utc(pd.Timestamp("2024-05-01T14:00", tz="Europe/Berlin")).utcoffset() == timedelta(0)
    assert iso("2024-05-01T14:00:00+02:00") == "2024-05-01T12:00:00+00:00"
    assert iso(None) is None


def test_aware_keeps_the_offset_and_refuses_what_has_none():
    assert aware(" 2024-05-01T14:00:00+02:00", "time").utcoffset() == timedelta(hours=2)
    with pytest.raises(ConfigError, match=r"^time '2024-05-01T12:00:00' has no timezone; give an aware datetime"):
        aware(datetime(2024, 5, 1, 12), "time")
    with pytest.raises(ConfigError, match=r"^context batch_time 'soon' is not ISO-8601; expected e\.g\. '2024-05-01T12:00:00Z'$"):
        aware("soon", "context batch_time")
    with pytest.raises(ConfigError, match=r"^time must be an aware datetime or an ISO-8601 string, got int$"):
        aware(20240501, "time")
