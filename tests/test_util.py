"""The shared helpers of driftkeeper._util: did-you-mean hints, UTC times, atomic writes."""

from __future__ import annotations

import pytest

from driftkeeper._util.suggest import closest, suggest


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
