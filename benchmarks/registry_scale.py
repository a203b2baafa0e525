"""Registry at scale: fill N versions (default 10,000), then time the read paths.

    python benchmarks/registry_scale.py [--versions 10000] [--registered 100] [--root DIR]

The first ``--registered`` versions go through the real ``Registry.register`` (fsyncs and all;
its mean time is reported). The rest are bulk-inserted through the private
``Registry._bulk_fill`` helper (same folders and rows, one transaction, no fsyncs), because 10k
real registers take minutes on a slow disk. Every 10th version is promoted to champion, so
``served_at`` searches ~1,000 alias moves. Each read is timed as the median of several runs on
one freshly opened Registry. Nothing is cached between calls, so full ``history()`` is timed both
on a new Registry each run and repeated on one (the two should agree). A version read from the
catalog parses its JSON fields (metrics, data, ...) on first access, so two more rows time
``history()`` followed by reading every version's metrics, and by ``to_dict()`` of every version
(what ``driftkeeper history --json`` does).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from driftkeeper.registry import Registry


def timed(fn, repeat: int = 7) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=10_000)
    ap.add_argument("--registered", type=int, default=100)
    ap.add_argument("--root", type=Path, default=None)
    args = ap.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="dk-registry-bench-")) / "reg"

    reg = Registry(root)
    n_real = min(args.registered, args.versions)
    t = time.perf_counter()
    for i in range(n_real):
        reg.register({"i": i}, action="manual", metrics={"mae": 1.0 / (i + 1)}, data={"rows": 100})
    register_ms = (time.perf_counter() - t) * 1000 / max(n_real, 1)
    t = time.perf_counter()
    reg._bulk_fill(args.versions - n_real)
    fill_s = time.perf_counter() - t

    reg = Registry(root)
    assert len(reg) == args.versions
    mid = datetime.now(timezone.utc) - timedelta(days=180)
    results = [
        ("open Registry(root)", timed(lambda: Registry(root))),
        ("history(limit=50)", timed(lambda: reg.history(limit=50))),
        (f"history() full ({args.versions} versions), new Registry", timed(lambda: Registry(root).history())),
        ("history() full, repeated on one Registry", timed(lambda: reg.history())),
        ("history() full + every version's metrics", timed(lambda: [m.metrics for m in reg.history()], repeat=5)),
        ("history() full + to_dict() of every version", timed(lambda: [m.to_dict() for m in reg.history()], repeat=5)),
        ("served_at(6 months ago)", timed(lambda: reg.served_at(mid))),
        ("served_at(ISO string, now)", timed(lambda: reg.served_at(datetime.now(timezone.utc).isoformat()))),
        ('get("champion")', timed(lambda: reg.get("champion"))),
        ("get(5000)", timed(lambda: reg.get(min(5000, args.versions)))),
        ('load("champion") (sha256 + unpickle)', timed(lambda: reg.load("champion"))),
        ("aliases()", timed(reg.aliases)),
        ("len(reg)", timed(lambda: len(reg))),
        ("alias_history('champion')", timed(lambda: reg.alias_history("champion"))),
        ("register() one more, with 10k present", timed(lambda: reg.register({"x": 1}, action="manual"), repeat=5)),
        ("promote() with ~1k alias moves", timed(lambda: reg.promote(reg.latest().version), repeat=5)),
        ("verify() (hashes every artifact)", timed(reg.verify, repeat=1)),
    ]
    print(f"registry at {root}")
    print(f"{n_real} versions via register() ({register_ms:.1f} ms each), "
          f"{args.versions - n_real} bulk-inserted in {fill_s:.1f} s\n")
    w = max(len(name) for name, _ in results)
    print(f"{'operation'.ljust(w)}  median ms")
    print(f"{'-' * w}  ---------")
    for name, ms in results:
        print(f"{name.ljust(w)}  {ms:9.2f}")


if __name__ == "__main__":
    main()
