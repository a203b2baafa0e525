"""The shared helpers of driftkeeper._util: did-you-mean hints, UTC times, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from driftkeeper._util.io import atomic_writer, write_bytes_atomic, write_json_atomic, write_text_atomic
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


# --------------------------------------------------------------------------- atomic writes


@pytest.fixture
def fsynced(monkeypatch):
    """Records each os.fsync as ("dir" | "file", inode of the fd)."""
    calls = []
    real = os.fsync

    def spy(fd):
        st = os.fstat(fd)
        calls.append(("dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


@pytest.mark.parametrize("write", [
    lambda p: write_json_atomic(p, {"a": 1}),
    lambda p: write_text_atomic(p, "a\n"),
    lambda p: write_bytes_atomic(p, b"a"),
])
def test_an_atomic_write_fsyncs_the_file_then_its_folder(tmp_path, fsynced, write):
    target = tmp_path / "sub" / "state.json"
    write(target)
    # the temp file (renamed to the target: same inode), then the folder that holds it
    assert fsynced == [("file", target.stat().st_ino), ("dir", target.parent.stat().st_ino)]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["state.json"]


def test_atomic_writes_return_and_write_the_exact_content(tmp_path):
    assert write_bytes_atomic(tmp_path / "b", b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert (tmp_path / "b").read_bytes() == b"abc"
    write_json_atomic(tmp_path / "j", {"when": datetime(2024, 5, 1), "n": 2})
    assert (tmp_path / "j").read_text() == '{\n  "when": "2024-05-01 00:00:00",\n  "n": 2\n}\n'


class _Unprintable:
    def __str__(self):
        raise ValueError("cannot print me")


def test_a_failing_serializer_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "state.json"
    write_json_atomic(target, {"night": 1})
    with pytest.raises(ValueError, match="cannot print me"):
        write_json_atomic(target, {"night": 2, "bad": _Unprintable()})
    assert json.loads(target.read_text()) == {"night": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_before_replace_sees_the_synced_temp_file_and_can_abort(tmp_path):
    seen = []

    def refuse(tmp):
        seen.append((tmp.name, tmp.read_bytes()))
        raise RuntimeError("killed here")

    with pytest.raises(RuntimeError, match="killed here"):
        with atomic_writer(tmp_path / "m.bin", before_replace=refuse) as fh:
            fh.write(b"model")
    assert seen == [(f".m.bin.tmp-{os.getpid()}", b"model")]
    assert list(tmp_path.iterdir()) == []
