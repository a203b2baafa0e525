"""`driftkeeper policy list | check | explain` through the real app (exit codes 0 / 2)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from driftkeeper.cli import app
from driftkeeper.monitor import ColumnDrift, DriftReport

runner = CliRunner()


def _report_file(tmp_path, n_drifted=4):
    cols = tuple(
        ColumnDrift(name=f"c{i}", kind="numerical", method="wasserstein", score=0.3 if i < n_drifted else 0.01,
                    threshold=0.1, drifted=i < n_drifted, rows=500)
        for i in range(10)
    )
    f = tmp_path / "report.json"
    f.write_text(json.dumps(DriftReport(columns=cols, current_rows=500).to_dict()))
    return f


def test_list():
    r = runner.invoke(app, ["policy", "list"])
    assert r.exit_code == 0, r.output
    for name in ("default", "never", "always-retrain", "always-update", "periodic"):
        assert name in r.output


def test_check_shipped():
    r = runner.invoke(app, ["policy", "check", "default"])
    assert r.exit_code == 0, r.output
    assert "1. drop-since-retrain: if sustained_drop_since_retrain >= 0.2 and batches_since_retrain >= 4 → retrain (window: all data)" in r.output
    assert "on the randomly picked 20% of the new labelled rows" in r.output
    assert "ok: policy is valid" in r.output


def test_check_invalid_exits_2_with_one_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("rules:\n  - name: a\n    when: drift_share > 0.1\n    action: retrain\n    treshold: 1\nfallback: none\n")
    r = runner.invoke(app, ["policy", "check", str(f)])
    assert r.exit_code == 2
    assert f"error: {f}:5: unknown key 'treshold' in rules[0]" in r.output
    assert "Traceback" not in r.output


def test_check_missing_exits_2():
    r = runner.invoke(app, ["policy", "check", "nevr"])
    assert r.exit_code == 2
    assert "no policy named 'nevr' (did you mean 'never'?)" in r.output


def test_explain(tmp_path):
    rep = _report_file(tmp_path)
    context = json.dumps({"labelled_rows": 500, "rows": 500, "update_style": "warm_start", "batches_since_retrain": 5})
    r = runner.invoke(app, ["policy", "explain", "default", "--report", str(rep), "--context", context])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("warm_start (rounds: 40, learning_rate: 0.1, replay_fraction: 0, mode: correct, relearn_batches: 5, relearn_rows: 50000, passes: 1, early_stopping_rounds: 3, l2_regularization: 1) — rule 'moderate-drop-or-drift' fired: drift_share 0.4 >= 0.3")
    ctx_file = tmp_path / "ctx.json"
    ctx_file.write_text(context)
    r2 = runner.invoke(app, ["policy", "explain", "default", "-r", str(rep), "-c", str(ctx_file), "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["action"] == "warm_start"


def test_explain_marks_the_signals_an_unlabelled_batch_reads_from_its_estimate():
    context = json.dumps({"batch_labelled": False, "estimated_metric": 3.0, "champion_metric": 2.0, "retrain_metric": 2.0,
                          "previous_estimated_metric_since_retrain": 2.9, "batches_since_retrain": 6})
    r = runner.invoke(app, ["policy", "explain", "default", "--context", context])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("retrain (window: all data) — rule 'drop-since-retrain' fired: sustained_drop_since_retrain 0.45 >= 0.2")
    assert lines[1] == "estimated (this batch's labels are not in yet): sustained_drop_since_retrain"
    assert "  metric                       3.0  (estimate)" in lines
    assert "  estimated_metric             3.0" in lines  # the estimate itself is not a substitute
    out = json.loads(runner.invoke(app, ["policy", "explain", "default", "--context", context, "--json"]).output)
    assert out["signals_from"]["sustained_drop_since_retrain"] == "estimate" and out["action"] == "retrain"
    labelled = json.dumps({**json.loads(context), "batch_labelled": True, "metric": 2.1})
    r = runner.invoke(app, ["policy", "explain", "default", "--context", labelled])
    assert "estimated" not in r.output.split("signals:")[0] and "(estimate)" not in r.output
    # tonight's late labels (older rows) worse than the estimate: they decide, and the text says so as a night's record does
    late = json.dumps({**json.loads(context), "metric": 3.5, "previous_metric_since_retrain": 3.4,
                       "previous_estimated_metric_since_retrain": None})
    lines = runner.invoke(app, ["policy", "explain", "default", "--context", late]).output.splitlines()
    assert lines[1] == "from tonight's late labels (worse than this batch's estimate): sustained_drop_since_retrain"
    assert "  metric                       3.5  (late labels)" in lines


def test_explain_bad_inputs_exit_2(tmp_path):
    rep = _report_file(tmp_path)
    r = runner.invoke(app, ["policy", "explain", "default", "--report", str(tmp_path / "nope.json")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(app, ["policy", "explain", "default", "--report", str(rep), "--context", '{"metrc": 1}'])
    assert r.exit_code == 2 and "unknown context key 'metrc' (did you mean 'metric'?)" in r.output
