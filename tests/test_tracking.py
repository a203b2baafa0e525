"""The estimate track: a raw estimate corrected by the realised errors of earlier estimates,
chosen online from what was known on each night (monitor/tracking.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from driftkeeper.monitor.tracking import KEEP, MIN_SCORED, EstimateTrack


def run(raw, real, delay):
    """Batch i's estimate, batch i - delay's labels arriving first (as the runner and the benchmark do)."""
    track, out = EstimateTrack(metric="mae"), []
    for i, r in enumerate(raw):
        if i >= delay:
            track.realise(i - delay, real[i - delay])
        out.append(track.estimate(i, r))
    return track, out


def test_raw_until_enough_batches_are_scored():
    raw = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    real = [v + 10 for v in raw]
    _, out = run(raw, real, delay=1)
    # scorable batches need a naive and a residual of their own night: batch 2 is the first
    assert all(c.value == c.raw for c in out)
    assert all((c.correction, c.weight) == (0.0, 1.0) for c in out)


def test_a_constant_bias_is_corrected_exactly():
    rng = np.random.default_rng(0)
    truth = list(np.cumsum(rng.normal(size=40)) + 50)
    raw = [t - 3.0 for t in truth]  # the estimator follows every move, 3 too low
    _, out = run(raw, truth, delay=4)
    first = 2 * 4 + MIN_SCORED - 1  # entries from batch 4 on carry a naive value and a residual; batch 4's labels come at 8
    assert (out[first - 1].correction, out[first - 1].weight) == (0.0, 1.0)
    late = out[first:]
    assert all((c.correction, c.weight) == (1.0, 1.0) for c in late)
    assert [c.value for c in late] == pytest.approx(truth[first:], abs=1e-9)
    assert late[-1].error == pytest.approx(0.0, abs=1e-9)


def test_an_estimator_that_sees_nothing_gives_way_to_the_last_realised_value():
    truth = [10.0 + 0.01 * i for i in range(40)]  # a slow trend the labels show
    raw = [10.0 + (1.0 if i % 2 else -1.0) for i in range(40)]  # noise around the old level
    _, out = run(raw, truth, delay=2)
    assert out[-1].weight == 0.0
    assert out[-1].value == pytest.approx(truth[-3])
    errs = [abs(c.value - t) for c, t in zip(out[20:], truth[20:])]
    assert max(errs) < 0.05


def test_a_good_estimator_is_kept_when_the_labels_are_noisy():
    rng = np.random.default_rng(1)
    truth = list(5 + np.sin(np.arange(60) / 3.0))  # moves faster than a 4-batch-old value follows
    raw = [t + rng.normal(0, 0.01) for t in truth]
    _, out = run(raw, truth, delay=4)
    assert out[-1].weight == 1.0
    assert np.mean([abs(c.value - t) for c, t in zip(out[20:], truth[20:])]) < 0.02


def test_an_estimate_never_depends_on_its_own_or_later_labels():
    rng = np.random.default_rng(2)
    raw = list(rng.normal(size=30))
    real_a = list(rng.normal(size=30))
    real_b = real_a[:15] + list(rng.normal(size=15) + 100)  # other labels from batch 15 on
    _, a = run(raw, real_a, delay=3)
    _, b = run(raw, real_b, delay=3)
    # batch i's estimate sees labels up to i - 3: identical up to batch 17
    assert [c.value for c in a[:18]] == [c.value for c in b[:18]]
    assert [c.value for c in a[18:]] != [c.value for c in b[18:]]


def test_the_track_round_trips_json_and_stays_bounded():
    track, _ = run([float(i) for i in range(KEEP + 20)], [float(i) + 1 for i in range(KEEP + 20)], delay=2)
    assert len(track.entries) == KEEP
    assert track.entries[0]["seq"] == 20
    again = EstimateTrack.from_dict(json.loads(json.dumps(track.to_dict())))
    assert again == track
    assert again.estimate(999, 5.0) == track.estimate(999, 5.0)


def test_another_metric_or_another_line_of_models_starts_a_new_track():
    track, _ = run([1.0] * 12, [2.0] * 12, delay=1)
    track.lineage = 4
    assert track.for_metric("mae", 4) is track
    fresh = track.for_metric("rmse", 4)
    assert fresh.entries == [] and fresh.metric == "rmse"
    retrained = track.for_metric("mae", 9)  # a retrain on batch 9: the old model's errors do not carry over
    assert retrained.entries == [] and retrained.lineage == 9
    assert retrained.estimate(13, 1.0).value == 1.0


def test_a_rollback_clears_the_track():
    from driftkeeper.keeper.state import RunnerState

    state = RunnerState()
    state.track, _ = run([1.0] * 12, [2.0] * 12, delay=1)
    state.ledger.note_estimate(12, 4, 1.5)  # version 4's estimate of batch 12, which had no labels
    state.after_rollback(trained_seq=3)
    assert state.track.entries == [] and state.track.metric == "mae"
    # the version-free "since the last retrain" estimate was the other model's too
    assert state.ledger.previous_estimate(13) is None and state.ledger.previous_estimate(13, 4) is None
    assert RunnerState.from_dict(json.loads(json.dumps(state.to_dict()))).track == state.track


def test_a_missing_realised_value_is_not_scored():
    track = EstimateTrack()
    for i in range(12):
        track.estimate(i, 1.0)
        track.realise(i, float("nan") if i % 2 else 2.0)
    assert all(e["realised"] is None or math.isfinite(e["realised"]) for e in track.entries)
    c = track.estimate(12, 1.0)
    assert c.naive == 2.0 and math.isfinite(c.value)
