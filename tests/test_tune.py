"""`tune`: candidates chosen on the earlier batches only, measured on the later ones, on seeded streams."""

from __future__ import annotations

import json
import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_stream
from typer.testing import CliRunner

from driftkeeper.backtest import PolicyResult, run_backtest, tune
from driftkeeper.backtest.tuning import DEFAULT_SPACE, Candidate, apply_edits, pick
from driftkeeper.cli import app
from driftkeeper.exceptions import ConfigError, PolicyError, SchemaError
from driftkeeper.policy import Policy, load_policy

# the package exports the function `tune`, which hides the module of the same name from attribute access
from driftkeeper.backtest import tuning as tune_mod

ROWS, INIT = 150, 600  # make_stream: batch 0 is 4x larger and trains version 1
N_BATCHES = 9  # 8 weekly batches after the initial rows: 4 to choose on, 4 to report on
EARLIER_ROWS = INIT + 4 * ROWS
# three candidates with distinct earlier errors on this stream, so the choice does not hang on a CPU tie
SPACE = [{"data_growth": 1.0}, {"rounds": 3, "relearn_batches": 1}, {}]


def small_lgbm():
    return lgb.LGBMRegressor(n_estimators=10, num_leaves=7, learning_rate=0.3, random_state=0, deterministic=True,
                             verbose=-1, n_jobs=1)


def frame() -> pd.DataFrame:
    return pd.concat(make_stream(N_BATCHES, rows=ROWS, seed=3, change_at=3), ignore_index=True)


def run_tune(df, **kw):
    kw.setdefault("space", SPACE)
    return tune(df, target="y", model=small_lgbm(), every="W", time_column="date", id_column="row_id", initial=INIT,
                split=0.5, **kw)


@pytest.fixture(scope="module")
def clean():
    calls = []
    result = run_tune(frame(), progress=lambda *a: calls.append(a))
    return result, calls


@pytest.fixture(scope="module")
def poisoned():
    df = frame()
    later = df.index >= EARLIER_ROWS
    # garbage targets on the later batches: any read of them while choosing changes every earlier number
    df.loc[later, "y"] = np.random.default_rng(0).uniform(-1e4, 1e4, size=int(later.sum()))
    return run_tune(df)


# --------------------------------------------------------------------------- choosing honestly
def test_the_choice_never_reads_the_later_batches(clean, poisoned, tmp_path):
    res, _ = clean
    assert (res.earlier_batches, res.later_batches, res.initial_rows) == (4, 4, INIT)
    assert poisoned.chosen_index == res.chosen_index
    for a, b in zip(res.candidates, poisoned.candidates):
        assert [x.error for x in a.earlier.per_batch] == pytest.approx([x.error for x in b.earlier.per_batch], rel=1e-9)
    assert poisoned.reference_earlier.mean_error == pytest.approx(res.reference_earlier.mean_error, rel=1e-9)
    # the poison was there, and the report read it
    assert poisoned.later.mean_error > 100 * res.later.mean_error
    assert poisoned.reference_later.mean_error > 100 * res.reference_later.mean_error

    # the same numbers from a backtest given the earlier rows alone
    paths = []
    for k in res.candidates:
        paths.append(tmp_path / f"{k.name}.yaml")
        paths[-1].write_text(k.yaml)
    alone = run_backtest(frame().iloc[:EARLIER_ROWS], target="y", policies=paths, model=small_lgbm(), every="W",
                         time_column="date", id_column="row_id", initial=INIT)
    assert alone.batches == res.earlier_batches
    errors = [alone.get(k.name).mean_error for k in res.candidates]
    assert errors == pytest.approx([k.earlier.mean_error for k in res.candidates], rel=1e-9)
    assert int(np.argmin(errors)) + 1 == res.chosen_index


def test_candidates_differ_and_the_lowest_error_is_chosen(clean):
    res, _ = clean
    errors = [k.earlier.mean_error for k in res.candidates]
    assert len(set(errors)) == len(errors)  # the space really changes what the runner does
    assert res.chosen.earlier.mean_error == min(errors)
    assert res.budget is None and res.budget_met
    ref = res.reference_earlier
    assert ref.name == "always-retrain" and ref.retrains == res.earlier_batches
    for k in res.candidates:
        assert k.cpu_ratio == pytest.approx(k.earlier.train_cpu_s / ref.train_cpu_s)


def test_later_part_runs_the_chosen_policy_from_a_model_of_all_earlier_rows(clean):
    res, _ = clean
    assert res.later.name == "default-tuned" and res.reference_later.name == "always-retrain"
    assert [b.index for b in res.later.per_batch] == [1, 2, 3, 4]
    assert res.later.per_batch[0].time_min >= res.reference_earlier.per_batch[-1].time_max
    ratios = res.later_ratios()
    assert ratios["error"] == pytest.approx(res.later.mean_error / res.reference_later.mean_error)
    assert ratios["train_cpu"] == pytest.approx(res.later.train_cpu_s / res.reference_later.train_cpu_s)


def test_progress_is_one_step_per_run(clean):
    res, calls = clean
    total = len(res.candidates) + 3  # the candidates and always-retrain on the earlier part, two runs on the later
    assert [c[0] for c in calls] == list(range(total + 1))
    assert {c[1] for c in calls} == {total}
    assert calls[-1][2] == "done" and "always-retrain" in calls[0][2]


def _cand(i, error, cpu):
    k = Candidate(index=i, name=f"c{i}", edits={}, yaml="")
    k.earlier = PolicyResult(name=k.name, source="", metric="rmse", mean_error=error, train_cpu_s=cpu, init_train_cpu_s=0.0,
                             monitor_cpu_s=0.0, wall_s=0.0, retrains=0, updates=0, rollbacks=0, gate_refusals=0,
                             promotions=0, model_bytes=None, model_trees=None, final_version=None)
    k.cpu_ratio = cpu
    return k


def test_pick_takes_the_lowest_error_within_the_budget():
    ks = [_cand(1, 1.0, 0.9), _cand(2, 1.2, 0.3), _cand(3, 1.2, 0.2), _cand(4, 1.5, 0.25), _cand(5, float("nan"), 0.1)]
    chosen, met = pick(ks, None)
    assert chosen.index == 1 and met
    chosen, met = pick(ks, 0.5)
    assert chosen.index == 3 and met  # 2 and 3 tie on error: the lower CPU
    assert [k.within_budget for k in ks] == [False, True, True, True, True]
    assert [k.index for k in ks if k.pareto] == [1, 3]  # 4 costs more and errs more than 3; nan is no point
    chosen, met = pick(ks[:2], 0.1)
    assert chosen.index == 2 and not met  # nothing within it: the cheapest


@pytest.mark.skipif(not tune_mod._budget_in_schema(), reason="the policy schema has no budget key")
def test_budget_is_set_on_every_candidate_when_policies_have_the_key():
    _, cands = tune_mod._candidates("default", [{"rounds": 20}, {}], 0.3, True)
    assert [yaml.safe_load(k.yaml)["budget"] for k in cands] == [0.3, 0.3]


# --------------------------------------------------------------------------- the search space
def test_edits_change_the_parsed_policy_and_nothing_else():
    base = yaml.safe_load(open(load_policy("default").source).read())
    out = apply_edits(base, {"drop_since_retrain": 0.3, "data_growth": 1.0, "rounds": 20, "relearn_batches": 2,
                             "gate.confidence": 0.8, "rules.moderate-drop-or-drift.drift_share": 0.4})
    rules = {r["name"]: r for r in out["rules"]}
    assert rules["drop-since-retrain"]["when"]["all"] == ["sustained_drop_since_retrain >= 0.3", "batches_since_retrain >= 4"]
    assert rules["data-grown"]["when"] == "data_growth >= 1.0"
    assert rules["moderate-drop-or-drift"]["when"]["any"][1] == "drift_share >= 0.4"
    assert (out["update"]["rounds"], out["update"]["relearn_batches"], out["gate"]["confidence"]) == (20, 2, 0.8)
    for key in ("monitor", "retrain", "guards", "fallback"):
        assert out[key] == base[key]
    assert base["update"]["rounds"] == 40  # the base is not modified
    pol = Policy.from_yaml(yaml.safe_dump(out))
    assert [c.text() for c in pol.rules[1].when.conditions()] == ["data_growth >= 1.0"]

    mapping = {"rules": [{"name": "r", "when": {"all": [{"signal": "data_growth", "op": ">=", "value": 0.5}]}, "action": "retrain"}]}
    assert apply_edits(mapping, {"rules.r.data_growth": 2})["rules"][0]["when"]["all"][0]["value"] == 2


def test_the_default_space_is_small_and_fits_the_default_policy():
    assert 2 <= len(DEFAULT_SPACE) <= 12
    name, cands = tune_mod._candidates("default", None, None, False)
    assert name == "default" and len(cands) == len(DEFAULT_SPACE)
    assert len({k.yaml for k in cands}) == len(cands)
    assert {"drop_since_retrain": 0.2, "data_growth": 0.5, "rounds": 40, "relearn_batches": 5} in DEFAULT_SPACE
    # bigger corrections, and updates only when a rule fired: what some streams meet the goal with
    loaded = [yaml.safe_load(k.yaml) for k in cands]
    assert sorted({d["update"]["relearn_batches"] for d in loaded}) == [2, 5, 10]
    (quiet,) = [d for d in loaded if d["fallback"] == "none"]
    assert Policy.from_yaml(yaml.safe_dump(quiet)).fallback.action == "none"
    assert sum(d["fallback"] == "update" for d in loaded) == len(cands) - 1


def test_an_edit_a_rule_or_the_fallback_would_override_is_refused(tmp_path):
    base = yaml.safe_load(open(load_policy("default").source).read())
    base["fallback"] = {"action": "update", "rounds": 10}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**base, "name": "mine"}))
    with pytest.raises(ConfigError, match=r"edit 'rounds': the base policy 'mine' sets rounds in its fallback, which overrides update\.rounds"):
        tune_mod._candidates(path, [{"rounds": 20}], None, False)
    tune_mod._candidates(path, [{"relearn_batches": 2}, {"fallback": "none"}], None, False)  # not overridden: fine
    base["fallback"] = "update"
    base["rules"][2]["relearn_batches"] = 3
    path.write_text(yaml.safe_dump({**base, "name": "mine"}))
    with pytest.raises(ConfigError, match=r"sets relearn_batches in rule 'moderate-drop-or-drift'"):
        tune_mod._candidates(path, None, None, False)


def test_the_fallback_knob_sets_the_policy_fallback():
    base = yaml.safe_load(open(load_policy("default").source).read())
    out = apply_edits(base, {"fallback": "none"})
    assert out["fallback"] == "none" and base["fallback"] == "update"
    assert {k: v for k, v in out.items() if k != "fallback"} == {k: v for k, v in base.items() if k != "fallback"}


def test_numpy_values_are_written_as_plain_numbers():
    _, (k,) = tune_mod._candidates("default", [{"rounds": np.int64(20), "data_growth": np.linspace(0.5, 1, 3)[1]}], None, False)
    assert k.label() == "rounds 20, data_growth 0.75"
    assert yaml.safe_load(k.yaml)["update"]["rounds"] == 20


@pytest.mark.parametrize("edits, base, match", [
    ({"round": 20}, "default", r"unknown edit 'round' \(did you mean 'rounds'\?\)"),
    ({"drop_since_retrain": 0.1}, "always-retrain", r"no rule named 'drop-since-retrain'"),
    ({"rules.data-grown.drift_share": 0.1}, "default", r"rule 'data-grown' of the base policy has no condition on drift_share"),
    ({"rounds": -5}, "default", r"^candidate 1 \(rounds -5\)"),
])
def test_bad_edits_are_one_line_errors(edits, base, match):
    with pytest.raises((ConfigError, PolicyError), match=match):
        tune_mod._candidates(base, [edits], None, False)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw, exc, match", [
    (dict(target="nope"), SchemaError, r"target 'nope' is not a column of the data"),
    (dict(split=0.8), ConfigError, r"8 batches: --split 0.8 leaves 6 to choose on and 2 to report on; each part needs at least 4"),
    (dict(budget=1.5), ConfigError, r"--budget must be in \(0, 1\]"),
    (dict(budget=0), ConfigError, r"--budget must be in \(0, 1\]"),
    (dict(split=1.0), ConfigError, r"--split must be between 0 and 1"),
    (dict(space=[]), ConfigError, r"space must be a non-empty list"),
])
def test_bad_arguments_fail_before_any_run(kw, exc, match):
    args = dict(target="y", model=small_lgbm(), every="W", time_column="date", initial=INIT, space=SPACE,
                progress=lambda *a: pytest.fail("a run started"))
    with pytest.raises(exc, match=match):
        tune(frame(), **{**args, **kw})


# --------------------------------------------------------------------------- the command
@pytest.fixture
def data_file(tmp_path):
    p = tmp_path / "stream.csv"
    frame().to_csv(p, index=False)
    return p


def invoke(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def test_cli_writes_a_commented_policy_that_policy_check_accepts(data_file, tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "DEFAULT_SPACE", tuple(SPACE[:2]))
    monkeypatch.setattr(tune_mod, "_budget_in_schema", lambda: False)  # --budget filters on the earlier CPU
    monkeypatch.setattr("driftkeeper.cli._tune.build_model", lambda spec, task: small_lgbm())
    out, png, js = tmp_path / "tuned.yaml", tmp_path / "tune.png", tmp_path / "tune.json"
    r = invoke("tune", data_file, "--target", "y", "--time-column", "date", "--id-column", "row_id", "--initial", INIT,
               "--split", "0.5", "--budget", "0.9", "-o", out, "--plot", png, "--json", js)
    assert r.exit_code == 0, r.output
    d = json.loads(js.read_text())
    assert d["budget_mode"] == "filter" and d["budget"] == 0.9
    cands = d["candidates"]
    assert [c["within_budget"] for c in cands] == [c["cpu_ratio"] <= 0.9 for c in cands]
    within = [c for c in cands if c["within_budget"]]
    best = min(within or cands, key=lambda c: (c["earlier"]["mean_error"], c["cpu_ratio"]) if within else c["cpu_ratio"])
    assert d["chosen"] == best["index"] and d["budget_met"] == bool(within)
    chosen = cands[d["chosen"] - 1]
    text = out.read_text()
    header = text[: text.index("\nname:")].splitlines()
    assert all(ln.startswith("#") or not ln for ln in header)
    assert "--split 0.5" in text and "stream.csv" in text and "data_growth 1.0" in text
    assert f"chosen: #{d['chosen']}" in text and "<- chosen" in text
    assert ("among those whose training CPU stayed <= 0.9 x always-retrain's" in text) == d["budget_met"]
    assert f"mean rmse {d['later']['mean_error']:.4g}" in text
    policy = yaml.safe_load(text)
    assert policy["name"] == "default-tuned" and "budget" not in policy
    assert policy["update"]["rounds"] == chosen["edits"].get("rounds", 40)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"policy: {out}" in r.output

    check = invoke("policy", "check", out)
    assert check.exit_code == 0, check.output
    assert "ok: policy is valid" in check.output


@pytest.mark.parametrize("args, match", [
    (["--target", "Y"], r"error: --target 'Y' is not a column of '.*stream.csv' \(did you mean 'y'\?\)"),
    (["--target", "y", "--time-column", "date", "--initial", INIT], r"error: 8 batches: --split 0.6 leaves 5 to choose on and 3"),
    (["--target", "y", "--time-column", "date", "--budget", "2"], r"error: --budget must be in \(0, 1\]"),
    (["--target", "y", "--every", "fortnight"], r"error: --every must be"),
    (["--target", "y", "--plot", "tune.jpg"], r"error: --plot 'tune.jpg': expected a path ending in .png"),
])
def test_cli_bad_input_exits_2_with_one_line(data_file, args, match):
    r = invoke("tune", data_file, *args)
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert re.search(match, r.output), r.output


def test_plot_labels_of_coinciding_candidates_are_joined():
    from driftkeeper.backtest.tune_plot import _clusters

    pts = [(1, 0.2, 10.0), (2, 0.201, 10.01), (3, 0.9, 12.0), (4, float("nan"), 11.0), (5, 0.25, 10.0)]
    assert [t for t, _, _ in _clusters(pts, xspan=1.0, yspan=2.0)] == ["1,2", "3", "5"]
