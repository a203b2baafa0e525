"""The runner's data store: the rows retrain windows and the gate need, under ``ROOT/data/``.

One parquet file per processed batch (``b000012.parquet``), holding the batch's columns as
they arrived plus two bookkeeping columns: ``__dk_seq`` (the batch's sequence number) and
``__dk_pos`` (row position in the batch). Unlabelled rows keep a missing target until
``--labels`` attaches one by id. Every write goes through a temp file, fsync and rename, so a
killed process leaves either the old file or the new one (plus, at worst, a ``.tmp-*`` file
that the next write or ``driftkeeper gc`` removes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.testhooks import checkpoint
from ..exceptions import SchemaError

__all__ = ["DataStore", "SEQ", "POS"]

SEQ = "__dk_seq"
POS = "__dk_pos"


class DataStore:
    def __init__(self, root: str | Path):
        self.dir = Path(root) / "data"

    def _path(self, seq: int) -> Path:
        return self.dir / f"b{seq:06d}.parquet"

    def sequences(self) -> list[int]:
        if not self.dir.exists():
            return []
        return sorted(int(p.stem[1:]) for p in self.dir.glob("b*.parquet"))

    def _write(self, seq: int, df: pd.DataFrame) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(seq)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        df.to_parquet(tmp, index=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        checkpoint("store:before-rename")
        os.replace(tmp, path)

    def add_batch(self, seq: int, df: pd.DataFrame, target: str) -> None:
        out = df.copy()
        if target not in out.columns:
            out[target] = np.nan
        out[SEQ] = seq
        out[POS] = np.arange(len(out))
        self._write(seq, out)

    def load(self, *, target: str, labelled_only: bool = True) -> pd.DataFrame:
        seqs = self.sequences()
        if not seqs:
            return pd.DataFrame()
        frames = [pd.read_parquet(self._path(s)) for s in seqs]
        df = pd.concat(frames, ignore_index=True)
        if labelled_only:
            df = df[df[target].notna()]
        return df.reset_index(drop=True)

    def partition_info(self, *, target: str, times=None) -> list[dict]:
        """Per stored batch: ``seq``, ``rows``, ``labelled`` rows and newest ``time_max``."""
        out = []
        for seq in self.sequences():
            part = pd.read_parquet(self._path(seq))
            t = times(part, what="stored rows") if times is not None else None
            out.append({
                "seq": seq,
                "rows": len(part),
                "labelled": int(part[target].notna().sum()),
                "time_max": t.max() if t is not None and len(part) else None,
            })
        return out

    def attach_labels(self, labels: pd.DataFrame, *, id_column: str, target: str, what: str = "labels") -> dict:
        """Write labels onto stored rows by id. Ids not stored → SchemaError (nothing written).

        Returns ``{"rows": n, "relabelled": k, "batches": [seq, ...]}``.
        """
        wanted = labels.set_index(id_column)[target]
        found: dict[int, pd.DataFrame] = {}
        seen = set()
        for seq in self.sequences():
            part = pd.read_parquet(self._path(seq))
            hit = part[id_column].isin(wanted.index)
            if hit.any():
                found[seq] = part
                seen.update(part.loc[hit, id_column].tolist())
        unknown = [i for i in wanted.index if i not in seen]
        if unknown:
            raise SchemaError(
                f"{what} has {len(unknown)} id(s) never seen in a processed batch, e.g. {unknown[0]!r}; "
                f"labels can only be attached to rows already run"
            )
        relabelled = 0
        updated: dict[int, pd.DataFrame] = {}
        for seq, part in found.items():
            hit = part[id_column].isin(wanted.index)
            before = part.loc[hit, target]
            relabelled += int(before.notna().sum())
            new = part.copy()
            values = new.loc[hit, id_column].map(wanted)
            if new[target].dtype != values.dtype:
                new[target] = new[target].astype(object)
            new.loc[hit, target] = values.to_numpy()
            if pd.api.types.is_object_dtype(new[target]) and pd.api.types.is_numeric_dtype(values):
                new[target] = pd.to_numeric(new[target])
            updated[seq] = new
        for seq, new in updated.items():
            self._write(seq, new)
        return {"rows": int(len(wanted)), "relabelled": relabelled, "batches": sorted(updated)}

    def prune(self, keep_from_seq: int) -> list[int]:
        """Delete partitions of batches older than ``keep_from_seq``; returns what was removed."""
        removed = []
        for seq in self.sequences():
            if seq < keep_from_seq:
                self._path(seq).unlink(missing_ok=True)
                removed.append(seq)
        return removed

    def clean_temp(self) -> list[Path]:
        if not self.dir.exists():
            return []
        junk = list(self.dir.glob(".*.tmp-*"))
        for p in junk:
            p.unlink(missing_ok=True)
        return junk

    def size_bytes(self) -> int:
        if not self.dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())
