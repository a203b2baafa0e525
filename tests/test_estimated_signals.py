"""The default policy acts on the estimated metric while a batch's labels are late, switches back
to realised values when they arrive, and the late labels refit the estimator (never on training
rows), settle the estimated debt and put the realised value into the old batch's record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_runner import init_keeper

from driftkeeper.exceptions import PolicyError
from driftkeeper.keeper import late_labels
from driftkeeper.keeper.costs import Ledger
from driftkeeper.keeper.records import RunRecord
from driftkeeper.keeper.store import LABELLED, LABELLED_AT, POS, SEQ
from driftkeeper.metrics import evaluate, get_metric
from driftkeeper.monitor.estimation import check_disjoint
from driftkeeper.policy import Context, decide, load_policy
from driftkeeper.policy.policy import Policy

DEFAULT = Path(load_policy("default").source)
DELAY = 2
SHIFT_AT = 4  # batches 4.. draw x1 around 1.8: mostly where the noise is ten times larger


def _draw(rng, n: int, shifted: bool, first_id: int, week: int) -> pd.DataFrame:
    """``y = 2 x1 + x2 - x3 + noise``, the noise 3.0 where ``x1 > 1`` and 0.3 elsewhere: moving
    ``x1`` moves the error, ``P(y | x)`` stays (a covariate-driven drop an estimator can see)."""
    x1 = rng.normal(1.8 if shifted else 0.0, 1.0, n)
    x2, x3 = rng.normal(size=(2, n))
    y = 2 * x1 + x2 - x3 + rng.normal(size=n) * np.where(x1 > 1.0, 3.0, 0.3)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * week + np.sort(rng.uniform(0, 7, n)), unit="D")
    return pd.DataFrame({"row_id": np.arange(first_id, first_id + n), "date": t.strftime("%Y-%m-%d %H:%M"),
                         "x1": x1, "x2": x2, "x3": x3, "y": y})


def stream(n: int = 6, initial: int = 3000, rows: int = 150, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = [_draw(rng, initial, False, 1, 0)]
    for b in range(1, n + 1):
        out.append(_draw(rng, rows, b >= SHIFT_AT, 1 + initial + (b - 1) * rows, b))
    return out


def run_delayed(tmp: Path, policy: Path, batches: list[pd.DataFrame], nights: int, labelled_last: bool = False):
    """Nights 1..``nights``: batch i comes without labels, batch i - DELAY's labels with it (the
    last night's batch with its own labels when ``labelled_last``)."""
    keeper = init_keeper(tmp, policy, batches)
    records = []
    for i in range(1, nights + 1):
        own = labelled_last and i == nights
        labels = batches[i - DELAY][["row_id", "y"]] if i - DELAY >= 1 else None
        records.append(keeper.step(batches[i] if own else batches[i].drop(columns=["y"]), labels=labels, html=False))
    return keeper, records


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    """The shipped default (estimates: auto), labels two batches late; night 6's batch brings its
    own labels. Every estimator fit is recorded with the serving model's training night."""
    fits = []
    real_fit = late_labels.fit_estimator

    def spy(spec, adapter, rows, metric):
        fits.append(rows.copy())
        return real_fit(spec, adapter, rows, metric)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(late_labels, "fit_estimator", spy)
        keeper, records = run_delayed(tmp_path_factory.mktemp("auto"), DEFAULT, stream(), 6, labelled_last=True)
    return keeper, records, fits


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("off")
    policy = tmp / "default-off.yaml"
    policy.write_text(DEFAULT.read_text() + "\nestimates: off\n")
    return run_delayed(tmp, policy, stream(), 5)


def test_under_a_label_delay_the_default_retrains_on_the_estimated_drop(auto):
    _, records, _ = auto
    assert [r.action for r in records[:5]] == ["none", "none", "warm_start", "warm_start", "retrain"]
    night5 = records[4]
    sig = night5.decision["signals"]
    assert night5.decision["rule"] == "drop-since-retrain"
    assert sig["estimated_metric"] == night5.estimated_metric["value"]
    # the rules read the estimate's optimistic end: z = 1.2816 standard errors toward "better"
    est = night5.estimated_metric
    se, te, fit = est["std_error"], est["tracking"]["track_error"], est["fit_error"]
    assert se > 0 and te > 0  # the sampling error of 150 rows, and the earlier estimates' error
    # the track has scored fewer than 6 batches: its error counts only where larger than the fit error
    assert est["tracking"]["scored"] < 6 and fit > te
    assert sig["metric"] == pytest.approx(sig["estimated_metric"] - 1.2816 * (se**2 + fit**2) ** 0.5, rel=1e-12)
    assert sig["sustained_drop_since_retrain"] >= 0.2  # batches 4 and 5, estimated: clear of the error
    assert night5.decision["signals_from"]["sustained_drop_since_retrain"] == "estimate"
    assert night5.decision["signals_from"]["debt"] == "estimate"  # batch 3..5's excess is estimated so far
    assert night5.decision_text.endswith("; estimated (this batch's labels are not in yet): sustained_drop_since_retrain")


def test_estimates_off_keeps_deciding_on_the_late_labels(off):
    _, records = off
    assert [r.action for r in records] == ["none", "none", "warm_start", "warm_start", "warm_start"]
    night5 = records[4]
    assert night5.decision["rule"] == "moderate-drop-or-drift" and "signals_from" not in night5.decision
    # the metric is batch 3's, whose labels came tonight: the shift of batch 4 is not in it yet
    assert night5.decision["signals"]["metric"] == night5.champion_metric["value"] == pytest.approx(1.3692, abs=1e-4)
    assert records[0].decision["signals"]["metric"] is None  # no labels at all yet
    assert "estimated" not in night5.decision_text


def test_a_batch_with_its_own_labels_reads_realised_values_again(auto):
    _, records, _ = auto
    night6 = records[5]
    assert night6.batch["labelled"] is True
    assert "metric" not in night6.decision.get("signals_from", {})
    assert night6.decision["signals"]["metric"] == night6.champion_metric["value"]
    assert night6.decision["signals"]["metric"] != night6.estimated_metric["value"]


def test_the_record_of_a_batch_gains_its_realised_value_when_its_labels_arrive(auto):
    keeper, records, _ = auto
    first = json.loads((keeper.root / "runs" / records[0].run_id / "record.json").read_text())
    realised = first["estimated_metric"]["realised"]
    batch1 = stream()[1]
    v1 = keeper.registry.load(1)  # the version that served batch 1 and was estimated on it
    expected = evaluate(get_metric("rmse", "regression"), v1.adapter, v1.spec.features_frame(batch1), batch1["y"])
    assert realised["value"] == pytest.approx(expected, rel=1e-12)
    assert realised["rows"] == 150 and realised["night"] == 3 and realised["run_id"] == records[2].run_id
    assert realised["agrees"] is True
    text = RunRecord(**{k: v for k, v in first.items() if k != "exit_code"}).summary()
    assert f"rmse estimated {first['estimated_metric']['value']:.4g}, realised {expected:.4g} on 150 rows" in text
    last = json.loads((keeper.root / "runs" / records[-1].run_id / "record.json").read_text())
    assert "realised" not in last["estimated_metric"]  # its labels came with it: nothing arrives later


def test_late_labels_refit_the_estimator_never_on_rows_the_model_trained_on(auto):
    keeper, records, fits = auto
    assert [r.estimated_metric["fitted_on"] for r in records[:3]] == ["holdout", "holdout", "late labels"]
    assert records[2].estimated_metric["fit_night"] == 3 and records[2].estimated_metric["fit_rows"] == 150
    assert len(fits) >= 3
    index = keeper.store.index(keeper.spec)
    stored = keeper.store.load(target="y")
    for rows, record in zip(fits, records[2:]):
        trained = keeper.registry.get(record.estimated_metric["version"])  # the version estimated that night
        trained_seq = int((trained.decision or {}).get("seq") or 0)
        keys = rows[[SEQ, POS]].merge(index, on=[SEQ, POS])
        assert len(keys) == len(rows) and (keys[LABELLED_AT] > trained_seq).all()
        learned = stored.merge(index[index[LABELLED_AT] <= trained_seq][[SEQ, POS]], on=[SEQ, POS])
        check_disjoint(learned[["x1", "x2", "x3", "y"]], rows[["x1", "x2", "x3", "y"]])  # raises on a shared row


def test_a_night_killed_while_rewriting_an_old_record_leaves_it_whole_and_the_rerun_completes_it(tmp_path, monkeypatch):
    import driftkeeper._util.io as io_mod

    batches = stream(3, initial=1000, rows=100, seed=3)
    keeper, records = run_delayed(tmp_path, DEFAULT, batches, 2)
    path = keeper.root / "runs" / records[0].run_id / "record.json"
    before = path.read_text()
    real_replace = io_mod.os.replace

    def killed(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt("killed")  # what a kill at the rename leaves: the temp file, removed
        return real_replace(src, dst)

    monkeypatch.setattr(io_mod.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        keeper.step(batches[3].drop(columns=["y"]), labels=batches[1][["row_id", "y"]], html=False)
    assert path.read_text() == before and not list(path.parent.glob(".*.tmp-*"))
    monkeypatch.setattr(io_mod.os, "replace", real_replace)
    again = keeper.step(batches[3].drop(columns=["y"]), labels=batches[1][["row_id", "y"]], html=False)
    realised = json.loads(path.read_text())["estimated_metric"]["realised"]
    assert realised["night"] == 3 and realised["run_id"] == again.run_id and realised["rows"] == 100


def test_refit_rows_take_only_rows_labelled_after_the_training_night():
    index = pd.DataFrame({SEQ: [0, 0, 1, 1, 2, 2], POS: [0, 1, 0, 1, 0, 1],
                          LABELLED: [True, True, True, False, True, True], LABELLED_AT: [0, 4, 3, -1, 4, 5]})
    picked = late_labels.refit_rows(index, trained_seq=3)
    assert list(zip(picked[SEQ], picked[POS])) == [(0, 1), (2, 0), (2, 1)]  # by the night their labels came


def test_estimated_debt_is_replaced_by_the_realised_excess_when_the_labels_arrive():
    ledger = Ledger()
    ledger.accrue(0.5, 100, retrain_cost_s=2.0, level=1.0)  # realised: 0.5 past the level on 100 rows
    ledger.accrue_estimate(7, 0.25, 200, retrain_cost_s=2.0, level=1.0)  # batch 7 without labels
    assert ledger.debt == pytest.approx(100.0) and ledger.estimated_debt() == pytest.approx(50.0)
    assert ledger.settle({7: 120}) == pytest.approx(30.0)  # 120 of its rows got labels tonight ...
    ledger.accrue(0.4, 120, retrain_cost_s=2.0, level=1.0)  # ... and their realised excess counts instead
    assert ledger.debt == pytest.approx(50.0 + 20.0 + 48.0) and ledger.estimated == {"7": [0.25, 80.0]}
    ledger.settle({7: 80, 9: 10})  # the rest of batch 7; batch 9 had no estimate
    assert ledger.estimated == {} and ledger.debt == pytest.approx(98.0)
    ledger.accrue_estimate(8, 0.1, 10, retrain_cost_s=2.0, level=1.0)
    ledger.after_retrain()
    assert ledger.debt == 0.0 and ledger.estimated == {} and ledger.last_estimate is None


def _policy(extra: str = "") -> Policy:
    return Policy.from_yaml("metric: mae\nrules:\n  - {name: worse, when: performance_drop >= 0.2, action: retrain}\n"
                            "fallback: none\n" + extra)


def test_the_switch_is_a_policy_key_and_realised_values_win_when_the_batch_has_labels():
    est = dict(champion_metric=1.0, estimated_metric=1.5, estimated_metric_se=0.1)
    unlabelled = decide(None, _policy(), Context(batch_labelled=False, metric=1.05, **est))
    # the estimate's optimistic end: 1.5 - 1.2816 x 0.1
    assert unlabelled.action == "retrain" and unlabelled.signals["performance_drop"] == pytest.approx(0.37184)
    wide = decide(None, _policy(), Context(batch_labelled=False, metric=1.05, **est, estimated_metric_error=0.3))
    assert wide.action == "none"  # 1.5 - 1.2816 x sqrt(0.1² + 0.3²) = 1.095: within the estimate's error
    assert wide.signals["performance_drop"] == pytest.approx(0.5 - 1.2816 * (0.1**2 + 0.3**2) ** 0.5)
    from driftkeeper.policy.signals import acted_estimate
    assert acted_estimate(0.95, "accuracy", 0.05, None) == 1.0  # a higher-is-better metric: at most 1
    assert acted_estimate(0.02, "error_rate", 0.05, None) == 0.0  # a loss: at least 0
    assert acted_estimate(0.8, "accuracy", 0.1, None) == pytest.approx(0.8 + 0.12816)
    hidden = decide(None, _policy(), Context(batch_labelled=False, metric=1.3, **est, estimated_metric_error=0.3))
    assert hidden.signals["metric"] == 1.3 and hidden.action == "retrain"  # the late labels' value is worse: it stands
    from driftkeeper.policy.signals import estimate_sources
    # ... and the decision says so: the late labels decided tonight's value, an estimate neither batch's
    # (no previous batch's value: the sustained drops have none, and no source)
    assert estimate_sources(None, _policy(), Context(batch_labelled=False, metric=1.3, **est, estimated_metric_error=0.3)) == dict.fromkeys(
        ("metric", "performance_drop", "drop_since_retrain"), "late labels")
    # the previous batch's estimate (optimistic end 1.195) is worse than its late value 1.0: the sustained drops are estimated
    both = estimate_sources(None, _policy(), Context(batch_labelled=False, metric=1.3, previous_estimated_metric=1.6, previous_metric=1.0,
                                                      **est, estimated_metric_error=0.3))
    assert both["metric"] == "late labels" and both["sustained_performance_drop"] == "estimate"  # min(0.30, 0.195): the estimate's
    assert "sustained_drop_since_retrain" not in both  # no retrain level known
    # the sustained drop is the smaller of the two: here tonight's late labels' (0.30 < 0.495)
    worse_before = estimate_sources(None, _policy(), Context(batch_labelled=False, metric=1.3, previous_estimated_metric=1.9,
                                                            **est, estimated_metric_error=0.3))
    assert worse_before["sustained_performance_drop"] == "late labels"
    assert estimate_sources(None, _policy(), Context(batch_labelled=False, metric=1.05, **est))["metric"] == "estimate"
    labelled = decide(None, _policy(), Context(batch_labelled=True, metric=1.05, **est))
    assert labelled.action == "none" and labelled.signals["performance_drop"] == pytest.approx(0.05)
    switched_off = decide(None, _policy("estimates: off\n"), Context(batch_labelled=False, metric=1.05, **est))
    assert switched_off.action == "none" and switched_off.signals["metric"] == 1.05
    # unknown labelling (the API without the runner): an estimate serves only when no metric is known
    assert decide(None, _policy(), Context(**est)).action == "retrain"
    assert decide(None, _policy(), Context(metric=1.05, **est)).action == "none"


def test_the_estimates_key_is_validated_and_described():
    assert _policy("estimates: off\n").spec.estimates == "off"  # YAML's bare `off` is false: read as off
    with pytest.raises(PolicyError, match=r"<string>:5: estimates: expected 'auto' or 'off', got 'of' \(did you mean 'off'\?\)"):
        _policy("estimates: of\n")
    assert "estimates: auto — a batch that comes without its labels" in load_policy("default").describe()
    assert "(this policy's rules read performance_drop, sustained_drop_since_retrain)" in load_policy("default").describe()
    assert "estimates: off — " in _policy("estimates: off\n").describe()


def _noisier(rng, n: int, first_id: int, week: int) -> pd.DataFrame:
    """The relation's noise grows every week (a concept drift no estimator without labels sees)."""
    df = _draw(rng, n, False, first_id, week)
    df["y"] = df["y"] + rng.normal(size=n) * 0.4 * week
    return df


def test_the_estimate_is_corrected_by_the_errors_of_earlier_estimates_the_labels_revealed(tmp_path):
    from driftkeeper.monitor.tracking import MIN_SCORED

    rng = np.random.default_rng(5)
    batches = [_draw(rng, 3000, False, 1, 0)] + [_noisier(rng, 150, 3001 + 150 * (b - 1), b) for b in range(1, 19)]
    policy = tmp_path / "never.yaml"
    policy.write_text("metric: rmse\nrules: []\nfallback: none\n")
    keeper, records = run_delayed(tmp_path, policy, batches, 18)
    state = json.loads((keeper.root / "state.json").read_text())["track"]
    assert state["metric"] == "rmse" and [e["seq"] for e in state["entries"]] == list(range(1, 19))
    raw_err, tracked_err = [], []
    for night, rec in enumerate(records, start=1):
        est = rec.estimated_metric
        tr = est["tracking"]
        combined = tr["raw"] + tr["correction"] * (tr["residual"] or 0.0)
        if tr["weight"] != 1.0:
            combined = tr["weight"] * combined + (1 - tr["weight"]) * tr["naive"]
        assert est["value"] == pytest.approx(combined, rel=1e-12)
        # batch night - DELAY's realised value is the newest the track knew tonight
        entry = state["entries"][night - 1]
        assert entry["raw"] == tr["raw"] and entry["naive"] == tr["naive"]
        if night > DELAY:
            old = json.loads((keeper.root / "runs" / records[night - 1 - DELAY].run_id / "record.json").read_text())
            assert tr["naive"] == old["estimated_metric"]["realised"]["value"]
            assert state["entries"][night - 1 - DELAY]["realised"] == old["estimated_metric"]["realised"]["value"]
        else:
            assert tr["naive"] is None and (tr["correction"], tr["weight"]) == (0.0, 1.0)
        if tr["scored"] < MIN_SCORED:
            assert (tr["correction"], tr["weight"]) == (0.0, 1.0)
        if night > 10:
            realised = state["entries"][night - 1]["realised"]
            if realised is not None:
                raw_err.append(abs(tr["raw"] - realised))
                tracked_err.append(abs(est["value"] - realised))
    assert records[-1].estimated_metric["tracking"]["scored"] >= MIN_SCORED
    assert len(tracked_err) == 6 and np.mean(tracked_err) < 0.5 * np.mean(raw_err)  # 0.52 against 2.37


def test_the_decision_text_names_what_each_condition_read_while_the_labels_are_due():
    from types import SimpleNamespace

    from driftkeeper.keeper.late_labels import sources_note
    from driftkeeper.policy.signals import estimate_sources

    est = dict(champion_metric=1.0, estimated_metric=1.5, estimated_metric_se=0.1, estimated_metric_error=0.3)
    ctx = Context(batch_labelled=False, metric=1.3, **est)  # tonight's late labels (1.3) are worse than the estimate's end (1.095)
    decision = decide(None, _policy(), ctx)
    note = sources_note(decision, SimpleNamespace(signals_from=estimate_sources(None, _policy(), ctx)))
    assert note == "; from tonight's late labels (worse than this batch's estimate): performance_drop"
    ctx = Context(batch_labelled=False, metric=1.05, **dict(est, estimated_metric_error=None))
    note = sources_note(decide(None, _policy(), ctx), SimpleNamespace(signals_from=estimate_sources(None, _policy(), ctx)))
    assert note == "; estimated (this batch's labels are not in yet): performance_drop"


def test_an_estimate_s_error_band_is_the_track_s_once_labels_came_back_and_its_fit_error_before():
    from driftkeeper.keeper.late_labels import errors

    est = {"value": 1.5, "std_error": 0.1, "fit_error": 0.2}
    # the first nights after a training: no label has come back yet, the estimator's own fit error counts
    assert errors(est) == (0.1, 0.2)
    assert errors({**est, "tracking": {"track_error": None}}) == (0.1, 0.2)
    # once the track has scored enough batches, its measured error replaces it
    assert errors({**est, "tracking": {"track_error": 0.35, "scored": 6}}) == (0.1, 0.35)
    assert errors({**est, "tracking": {"track_error": 0.05, "scored": 6}}) == (0.1, 0.05)
    # ... before that, the larger: one lucky batch does not narrow the band
    assert errors({**est, "tracking": {"track_error": 0.01, "scored": 1}}) == (0.1, 0.2)
    assert errors({**est, "tracking": {"track_error": 0.35, "scored": 2}}) == (0.1, 0.35)
    assert errors({"value": 1.5, "std_error": 0.1, "fit_error": float("nan")}) == (0.1, None)
    assert errors(None) == (None, None)
    # the rules read the band's optimistic end: 1.5 - 1.2816 x sqrt(0.1² + 0.2²) on a night without a track
    ctx = Context(batch_labelled=False, champion_metric=1.0, estimated_metric=1.5, estimated_metric_se=0.1,
                  estimated_metric_error=errors(est)[1])
    assert decide(None, _policy(), ctx).signals["metric"] == pytest.approx(1.5 - 1.2816 * (0.1**2 + 0.2**2) ** 0.5)
