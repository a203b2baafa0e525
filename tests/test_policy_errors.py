"""Invalid policies: one-line PolicyError with file:line, the key and a did-you-mean."""

from __future__ import annotations

import re

import pytest

from driftkeeper.exceptions import PolicyError
from driftkeeper.policy import load_policy

RULE = "rules:\n  - name: r\n    when: {when}\n    action: {action}\nfallback: none\n"

INVALID = [
    ("unknown-key", "rules:\n  - name: r\n    when: drift_share > 0.1\n    action: retrain\n    windw: all\nfallback: none\n",
     ":5: unknown key 'windw' in rules[0] (did you mean 'window'?)"),
    ("unknown-key-when", "rules:\n  - name: r\n    when:\n      al: [drift_share > 0.1]\n    action: retrain\nfallback: none\n",
     ":4: unknown key 'al' in rules[0].when (did you mean 'all'?)"),
    ("unknown-key-top", "fallback: none\ngaurds: {min_rows: 3}\n",
     ":2: unknown key 'gaurds' in the policy (did you mean 'guards'?)"),
    ("unknown-key-monitor", "monitor:\n  treshold: 0.1\nfallback: none\n",
     ":2: unknown key 'treshold' in monitor (did you mean 'threshold'?)"),
    ("wrong-type", "update:\n  rounds: fifty\nfallback: none\n",
     ":2: update.rounds: expected an integer, got 'fifty'"),
    ("wrong-type-quoted-number", "gate:\n  margin: '0.1'\nfallback: none\n",
     ":2: gate.margin: expected a number, got '0.1'"),
    ("out-of-range", "update:\n  replay_fraction: 1.5\nfallback: none\n",
     ":2: update.replay_fraction: must be <= 1, got 1.5"),
    ("out-of-range-relearn", "update:\n  relearn_batches: -1\nfallback: none\n",
     ":2: update.relearn_batches: must be >= 0, got -1"),
    ("unknown-signal", RULE.format(when="performance_dorp > 0.1", action="retrain"),
     ":3: rules[0].when.all[0]: unknown signal 'performance_dorp' (did you mean 'performance_drop'?)"),
    ("unknown-signal-mapping", RULE.format(when="{all: [{signal: drift_shar, op: '>', value: 1}]}", action="retrain"),
     ":3: rules[0].when.all[0]: unknown signal 'drift_shar' (did you mean 'drift_share'?)"),
    ("unknown-action", RULE.format(when="drift_share > 0.1", action="retrian"),
     ":4: rules[0].action: unknown action 'retrian' (did you mean 'retrain'?)"),
    ("unknown-fallback", "fallback: retrian\n", ":1: fallback.action: unknown action 'retrian' (did you mean 'retrain'?)"),
    ("bad-op", RULE.format(when="drift_share => 0.1", action="retrain"),
     ":3: rules[0].when.all[0]: unknown operator '=>' (did you mean '>'?); use one of < <= > >= == !="),
    ("bool-op", RULE.format(when="dataset_drift > 0", action="retrain"),
     ":3: rules[0].when.all[0]: boolean signal 'dataset_drift' can only be compared with == or !="),
    ("bool-value", RULE.format(when="drift_share == true", action="retrain"),
     ":3: rules[0].when.all[0]: signal 'drift_share' is a number, got True"),
    ("bad-value", RULE.format(when="drift_share > high", action="retrain"),
     ":3: rules[0].when.all[0]: value 'high' is not a number or true/false"),
    ("no-eval", RULE.format(when="'__import__(\"os\") > 1'", action="retrain"),
     ":3: rules[0].when.all[0]: cannot parse condition"),
    ("column-needed", RULE.format(when="column_score > 0.1", action="retrain"),
     ":3: rules[0].when.all[0]: signal 'column_score' needs a column: 'column_score:<column>'"),
    ("bad-window", "fallback: {action: retrain, window: {weeks: 3}}\n",
     ":1: unknown key 'weeks' in fallback.window"),
    ("bad-window-word", "retrain:\n  window: last\nfallback: none\n",
     ":2: retrain.window: bad window 'last': use {days: N}, {rows: N} or all"),
    ("bad-window-two", "retrain:\n  window: {days: 3, rows: 10}\nfallback: none\n",
     ":2: retrain.window: bad window: give exactly one of {days: N}, {rows: N} or all"),
    ("bad-mode", "update: {mode: contine}\nfallback: none\n",
     ":1: update.mode: expected 'continue', 'refit' or 'correct', got 'contine' (did you mean 'continue'?)"),
    ("bad-mode-correct", "update: {mode: corect}\nfallback: none\n",
     ":1: update.mode: expected 'continue', 'refit' or 'correct', got 'corect' (did you mean 'correct'?)"),
    ("passes-typo", "update: {pases: 2}\nfallback: none\n", ":1: unknown key 'pases' in update (did you mean 'passes'?)"),
    ("passes-zero", "update: {passes: 0}\nfallback: none\n", ":1: update.passes: must be >= 1, got 0"),
    ("early-stop-typo", "update: {early_stoping_rounds: 5}\nfallback: none\n",
     ":1: unknown key 'early_stoping_rounds' in update (did you mean 'early_stopping_rounds'?)"),
    ("l2-negative", "update: {l2_regularization: -1}\nfallback: none\n", ":1: update.l2_regularization: must be >= 0, got -1"),
    ("early-stop-zero", "update: {early_stopping_rounds: 0}\nfallback: none\n", ":1: update.early_stopping_rounds: must be >= 1, got 0"),
    ("bad-holdout-pick", "gate: {holdout: {fraction: 0.2, pick: newst}}\nfallback: none\n",
     ":1: gate.holdout.pick: expected 'newest' or 'random', got 'newst' (did you mean 'newest'?)"),
    ("params-on-none", "fallback: {action: none, rounds: 3}\n",
     ":1: fallback: action 'none' takes no parameters (got rounds)"),
    ("missing-fallback", "rules: []\n", ":1: missing required key 'fallback' in the policy"),
    ("missing-rule-name", "rules:\n  - {when: drift_share > 0.1, action: retrain}\nfallback: none\n",
     ":2: missing required key 'name' in rules[0]"),
    ("duplicate-rule", "rules:\n  - {name: a, when: rows > 1, action: retrain}\n  - {name: a, when: rows > 1, action: none}\nfallback: none\n",
     ":3: rules[1].name: duplicate rule name 'a'"),
    ("duplicate-key", "fallback: none\nfallback: retrain\n", ":2: duplicate key 'fallback' in the policy"),
    ("group-both", "rules:\n  - name: a\n    when: {all: [rows > 1], any: [rows > 2]}\n    action: none\nfallback: none\n",
     ":3: rules[0].when: give exactly one of 'all' or 'any'"),
    ("unknown-metric", "metric: rsme\nfallback: none\n", ":1: metric: unknown metric 'rsme' (did you mean 'rmse'?)"),
    ("metric-task-mismatch", "metric: r2\ngate: {metric: accuracy}\nfallback: none\n",
     ":1: gate metric 'accuracy' is for classification but metric 'r2' is for regression"),
    ("unknown-method", "monitor: {method: {zip: wasserstien}}\nfallback: none\n",
     ":1: monitor.method: unknown drift method 'wasserstien' (did you mean 'wasserstein'?)"),
    ("holdout", "gate: {holdout: {rows: 10, fraction: 0.1}}\nfallback: none\n",
     ":1: gate.holdout: holdout needs exactly one of 'rows' or 'fraction'"),
    ("yaml-syntax", "rules:\n  - name: a\n    when: [rows > 1\nfallback: none\n", ":4: invalid YAML: "),
    ("yaml-tabs", "fallback: none\n\tguards: {}\n", ":2: invalid YAML: "),
    ("not-a-mapping", "- a\n- b\n", ":1: a policy must be a mapping of keys"),
    ("empty", "", ":1: a policy must be a mapping of keys (rules, fallback, ...), got NoneType"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_policy(tmp_path, text, expected):
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(PolicyError, match=re.escape(f"{f}{expected}")) as info:
        load_policy(f)
    assert "\n" not in str(info.value)


def test_missing_file_lists_shipped(tmp_path):
    with pytest.raises(PolicyError, match=r"policy file '.*nope\.yaml' does not exist; shipped policies: .*default.*never"):
        load_policy(tmp_path / "nope.yaml")


def test_unknown_name_suggests():
    with pytest.raises(PolicyError, match=r"no policy named 'defualt' \(did you mean 'default'\?\); shipped policies: always-retrain, "):
        load_policy("defualt")
