"""`make demo`: a year of nightly maintenance of a house-price model, on bundled data.

King County house sales (May 2014 – May 2015, public county records; see
examples/data/README.md) are cut into an initial training set (May–August 2014) and weekly
batches with labels. The demo runs the real command line, exactly as cron would:

    driftkeeper init demo-root --data initial.csv --target price --time-column date ...
    driftkeeper run demo-root --batch week-01.csv --no-html      # one per night
    driftkeeper history demo-root

printing one line per night (the decision and why), then the version history and the path
of the latest HTML drift report. It starts from a fresh ``demo-root/`` each time, so it can
be rerun. The commands run in this process (through the CLI's own entry point) so the whole
year takes seconds rather than a Python start-up per night.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from driftkeeper.cli import app

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "kc_house_data.csv.gz"
ROOT = Path("demo-root")
POLICY = "default"


def cli(*args: str) -> tuple[int, str]:
    """Run one driftkeeper command in-process; returns (exit code, output)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def main() -> int:
    t0 = time.perf_counter()
    if ROOT.exists():
        shutil.rmtree(ROOT)
    batches_dir = ROOT.parent / (ROOT.name + "-batches")
    if batches_dir.exists():
        shutil.rmtree(batches_dir)
    batches_dir.mkdir(parents=True)

    df = pd.read_csv(DATA)
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%dT%H%M%S").dt.strftime("%Y-%m-%d")
    df = df.sort_values(["date", "id"], kind="stable").reset_index(drop=True)
    df.insert(0, "sale_id", range(1, len(df) + 1))  # `id` is a parcel id and repeats on resales

    initial = df[df["date"] < "2014-09-01"]
    initial.to_csv(batches_dir / "initial.csv", index=False)
    rest = df[df["date"] >= "2014-09-01"].copy()
    week = pd.to_datetime(rest["date"]).dt.to_period("W-SUN")
    print(f"King County house sales: {len(initial)} initial sales (May–Aug 2014), then {week.nunique()} weekly batches")

    code, out = cli(
        "init", str(ROOT), "--data", str(batches_dir / "initial.csv"), "--target", "price",
        "--model", "lightgbm", "--policy", POLICY, "--time-column", "date", "--id-column", "sale_id", "--exclude", "id",
    )
    print(out.strip())
    if code:
        return code

    for i, (period, b) in enumerate(rest.groupby(week, sort=True), start=1):
        path = batches_dir / f"week-{i:02d}.csv"
        b.to_csv(path, index=False)
        last = i == week.nunique()
        args = ["run", str(ROOT), "--batch", str(path), "--json"] + ([] if last else ["--no-html"])
        code, out = cli(*args)
        if code not in (0, 1):
            print(out.strip())
            return code
        rec = json.loads(out)
        dec = rec["decision"]
        rule = dec.get("rule") or "-"
        trained = ""
        if rec.get("registered"):
            gate = rec.get("gate") or {}
            verdict = "promoted" if rec.get("promoted") else "kept as challenger"
            trained = f" -> v{rec['registered']:04d} {verdict}"
            if gate.get("champion") is not None:
                trained += f" (gate {gate['metric']}: {gate['champion']:.0f} -> {gate['candidate']:.0f})"
        perf = rec.get("champion_metric") or {}
        perf_txt = f"{perf['metric']} {perf['value']:>9.0f}" if perf else ""
        drift = rec.get("drift") or {}
        print(
            f"night {i:02d} {period.start_time:%Y-%m-%d} {len(b):4d} sales  drift {drift.get('drift_share', 0):4.0%}  "
            f"{perf_txt}  {dec['action']:<13} rule {rule}{trained}"
        )
        html = rec.get("html")

    print()
    code, out = cli("history", str(ROOT))
    print(out.rstrip())
    print()
    if html:
        print(f"latest HTML drift report: {html}")
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; explore it with: .venv/bin/driftkeeper history {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
