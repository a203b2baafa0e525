"""Registry at scale: fill N versions (default 10,000), then time the read paths.

    python benchmarks/registry_scale.py [--versions 10000] [--registered 100] [--root DIR]

The first ``--registered`` versions go through the real ``Registry.register`` (fsyncs and all;
its mean time is reported). The rest are bulk-inserted by :func:`bulk_fill` below (same folders
and rows, one transaction, no fsyncs), because 10k real registers take minutes on a slow disk. Every 10th version is promoted to champion, so
``served_at`` searches ~1,000 alias moves. Each read is timed as the median of several runs on
one freshly opened Registry. Nothing is cached between calls, so full ``history()`` is timed both
on a new Registry each run and repeated on one (the two should agree). A version read from the
catalog parses its JSON fields (metrics, data, ...) on first access, so two more rows time
``history()`` followed by reading every version's metrics, and by ``to_dict()`` of every version
(what ``driftkeeper history --json`` does).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import joblib

from driftkeeper.registry import Registry
from driftkeeper.registry import catalog as cat
from driftkeeper.registry.access import CatalogAccess
from driftkeeper.registry.files import ARTIFACT, META, library_versions, to_json
from driftkeeper.registry.types import tag as tag_of


def bulk_fill(root: Path, n: int, *, promote_every: int = 10, span_seconds: float = 86400.0 * 365) -> None:
    """Add ``n`` tiny versions to the registry at ``root`` fast, in one transaction.

    Each version gets a real folder (model.joblib + meta.json) and a row exactly like
    ``Registry.register`` makes, but without fsyncs; every ``promote_every``-th version is
    promoted to champion. Creation and promotion times are spread evenly over the
    ``span_seconds`` before now, so ``served_at`` has a realistic history to search.
    """
    libs = library_versions()
    libs_json = to_json(libs)
    access = CatalogAccess(root, lock_timeout=60.0, create=False)
    with access.writing() as con:
        start = int(con.execute("SELECT value FROM meta WHERE key = 'last_version'").fetchone()[0]) + 1
        t0 = datetime.now(timezone.utc) - timedelta(seconds=span_seconds)
        step = timedelta(seconds=span_seconds / max(n, 1))
        rows, events = [], []
        current = con.execute("SELECT version FROM aliases WHERE alias = 'champion'").fetchone()
        current = current[0] if current else None
        for i in range(n):
            number = start + i
            folder = access.versions_dir / tag_of(number)
            folder.mkdir(parents=True)
            buf = io.BytesIO()
            joblib.dump({"i": number}, buf)
            blob = buf.getvalue()
            (folder / ARTIFACT).write_bytes(blob)
            sha = hashlib.sha256(blob).hexdigest()
            created = t0 + step * i
            doc = {"data": {"sha256": sha, "rows": 100, "columns": ["x", "y"]}, "metrics": {"mae": 1.0 / (i + 1)},
                   "decision": None, "model": {"class": "builtins.dict"}, "tags": {}, "attachments": {}}
            meta = dict(version=number, tag=tag_of(number), created_at=created.isoformat(), action="manual", parent=None,
                        sha256=sha, size_bytes=len(blob), registry_format=cat.FORMAT_VERSION, libraries=libs, **doc)
            (folder / META).write_text(to_json(meta, indent=2) + "\n")
            rows.append(
                (number, cat.utc_text(created), "manual", None, sha, len(blob), folder.name, libs_json, to_json(doc))
            )
            if promote_every and i % promote_every == 0:
                events.append(("champion", current, number, cat.utc_text(created + step / 2), "bulk", "promote"))
                current = number
        with cat.transaction(con):
            con.executemany(f"INSERT INTO versions({cat.VERSION_COLUMNS}) VALUES ({cat.VERSION_PLACEHOLDERS})", rows)
            con.executemany(
                "INSERT INTO alias_events(alias, from_version, to_version, at, reason, kind) VALUES (?, ?, ?, ?, ?, ?)",
                events,
            )
            if events:
                con.execute(
                    "INSERT INTO aliases(alias, version, updated_at) VALUES ('champion', ?, ?) ON CONFLICT(alias) "
                    "DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                    (current, events[-1][3]),
                )
            con.execute("UPDATE meta SET value = ? WHERE key = 'last_version'", (str(start + n - 1),))


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
    bulk_fill(root, args.versions - n_real)
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
