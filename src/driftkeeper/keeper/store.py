"""The runner's data store: the rows retrain windows and the gate need, under ``ROOT/data/``.

One parquet file per processed batch (``b000012.parquet``), holding the batch's columns as
they arrived plus two bookkeeping columns: ``__dk_seq`` (the batch's sequence number) and
``__dk_pos`` (row position in the batch). Unlabelled rows keep a missing target until
``--labels`` attaches one by id; a partition that received late labels also holds
``__dk_labelled_at``: the sequence number of the night each row's label arrived (a row labelled in
its own batch: that batch's; unlabelled: -1). Every write goes through a temp file, fsync and rename, so a
killed process leaves either the old file or the new one (plus, at worst, a ``.tmp-*`` file
that the next run or ``driftkeeper gc`` removes). ``index.parquet`` is the row index of the
partitions (no features); a night removes it before it writes any partition and saves it again
after, so a night killed in between leaves no index to trust, and the next one rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._util.io import atomic_writer
from .._util.testhooks import checkpoint
from ..exceptions import SchemaError

__all__ = ["CHUNK_ROWS", "DataStore", "LABELLED", "LABELLED_AT", "POS", "SEQ", "TIME"]

SEQ = "__dk_seq"  # the batch's sequence number (0: the initial data)
POS = "__dk_pos"  # the row's position in its batch
# the night (sequence number) the row's label arrived: stored in partitions that got late labels,
# and in the row index for every row (-1: unlabelled). What a model learned is "rows labelled by
# the night it trained", not "rows of the batches before it": late labels of an old batch are new
LABELLED_AT = "__dk_labelled_at"
# columns of the row index only (never stored)
TIME = "__dk_time"  # the row's time, parsed (UTC), when the root has a time column
LABELLED = "__dk_labelled"
INDEX_FILE = "index.parquet"  # the row index of every partition (no features), saved each night
# rows of one chunk of a chunked read (:meth:`DataStore.chunks`): 50 k rows of 50 float columns
# are 20 MB, small next to what a retrain's model needs, large enough that reading in pieces
# costs nothing measurable against one read
CHUNK_ROWS = 50_000
# rows of a Parquet row group in a stored partition: a read of some rows (an update's newest
# relearned rows, a holdout) decodes only the row groups that hold them, not the whole partition
ROW_GROUP_ROWS = 65_536
# the row index's integers (batch, position, labelling night): the index holds every stored row
# and every night reads and copies it, so its size is what a night's memory grows with history by
# (13 bytes a row without time and id columns: 52 MB at 4 M rows, half of int64's)
INDEX_INT = "int32"
_ARROW_BATCH_ROWS = 16_384  # rows of a record batch a chunked read decodes at once


class DataStore:
    """Stored batches under ``ROOT/data/``. ``rows_read`` counts the rows this object has
    materialised from partitions (index reads are not counted): what a night costs in memory
    grows with it. ``max_rows_held`` is the most rows one read materialised at once (a whole
    :meth:`rows` answer, or one chunk of :meth:`chunks`); ``chunk_rows`` the rows of a chunk of
    :meth:`chunks` unless a call says otherwise."""

    def __init__(self, root: str | Path):
        self.dir = Path(root) / "data"
        self.rows_read = 0
        self.max_rows_held = 0
        self.chunk_rows = CHUNK_ROWS

    def _count(self, n: int) -> None:
        self.rows_read += n
        self.max_rows_held = max(self.max_rows_held, n)

    def _path(self, seq: int) -> Path:
        return self.dir / f"b{seq:06d}.parquet"

    def sequences(self) -> list[int]:
        if not self.dir.exists():
            return []
        return sorted(int(p.stem[1:]) for p in self.dir.glob("b*.parquet"))

    def _write(self, seq: int, df: pd.DataFrame) -> None:
        self._write_file(self._path(seq), df)

    def _write_file(self, path: Path, df: pd.DataFrame, **options: Any) -> None:
        with atomic_writer(path, before_replace=lambda tmp: checkpoint("store:before-rename")) as fh:
            df.to_parquet(fh, index=False, row_group_size=ROW_GROUP_ROWS, **options)

    def add_batch(self, seq: int, df: pd.DataFrame, target: str) -> None:
        out = df.copy()
        if target not in out.columns:
            out[target] = np.nan
        out[SEQ] = seq
        out[POS] = np.arange(len(out))
        self._write(seq, out)

    def load(self, *, target: str, labelled_only: bool = True) -> pd.DataFrame:
        """Every stored row (a full read: for tools and tests; the runner reads by need)."""
        seqs = self.sequences()
        if not seqs:
            return pd.DataFrame()
        frames = [pd.read_parquet(self._path(s)) for s in seqs]
        df = pd.concat(frames, ignore_index=True)
        self._count(len(df))
        if labelled_only:
            df = df[df[target].notna()]
        return df.reset_index(drop=True)

    def index(self, spec: Any, upto: int | None = None) -> pd.DataFrame:
        """One row per stored row of batches up to ``upto`` (the last committed one), without
        features: ``SEQ``, ``POS``, ``LABELLED``, with a time column ``TIME`` (parsed by
        ``spec.times``), with an id column the id. Read from the index file the last night saved
        (:meth:`save_index`), so a night does not read every partition; rebuilt from the
        partitions' index columns when the file is missing (a root of an earlier release, a night
        killed while writing) or out of step with them."""
        seqs = [s for s in self.sequences() if upto is None or s <= upto]
        path = self.dir / INDEX_FILE
        if path.exists():
            index = pd.read_parquet(path)
            if np.unique(index[SEQ].to_numpy()).tolist() == seqs:  # (a set of 4M Python ints took 2 s)
                if LABELLED_AT not in index.columns:  # an index of an earlier release
                    index[LABELLED_AT] = np.where(index[LABELLED].to_numpy(bool), index[SEQ].to_numpy(), -1)
                return _compact(index)
        wanted = [c for c in (SEQ, POS, spec.target, spec.time_column, spec.id_column) if c is not None]
        frames = []
        for s in seqs:
            path = self._path(s)
            cols = wanted + ([LABELLED_AT] if LABELLED_AT in pq.read_schema(path).names else [])
            frames.append(self.index_of(pd.read_parquet(path, columns=cols), spec))
        if not frames:
            return pd.DataFrame({SEQ: pd.Series([], dtype=INDEX_INT), POS: pd.Series([], dtype=INDEX_INT), LABELLED: [],
                                 LABELLED_AT: pd.Series([], dtype=INDEX_INT)})
        return pd.concat(frames, ignore_index=True)

    def forget_index(self) -> None:
        """Remove the index file before partitions change (see the module docstring)."""
        (self.dir / INDEX_FILE).unlink(missing_ok=True)

    def drop_after(self, seq: int) -> list[int]:
        """Delete partitions of batches after ``seq``: what a killed night wrote before its commit."""
        removed = [s for s in self.sequences() if s > seq]
        for s in removed:
            self._path(s).unlink(missing_ok=True)
        return removed

    def save_index(self, index: pd.DataFrame) -> None:
        """Write the row index of the stored partitions (atomically), for the next night."""
        kept = index[index[SEQ].isin(self.sequences())]
        # uncompressed: every night reads it whole, and decoding snappy took 3x the read (4 M rows:
        # 0.23 s against 0.08 s; 32 MB on disk instead of 16)
        self._write_file(self.dir / INDEX_FILE, kept.reset_index(drop=True), compression=None)

    @staticmethod
    def index_of(part: pd.DataFrame, spec: Any, *, seq: int | None = None) -> pd.DataFrame:
        """The index rows of a stored partition, or of tonight's batch (``seq``) before it is stored."""
        n = len(part)
        out = pd.DataFrame({
            SEQ: np.full(n, seq, dtype=INDEX_INT) if seq is not None else part[SEQ].to_numpy().astype(INDEX_INT),
            POS: np.arange(n, dtype=INDEX_INT) if seq is not None else part[POS].to_numpy().astype(INDEX_INT),
        })
        out[LABELLED] = part[spec.target].notna().to_numpy() if spec.target in part.columns else False
        at = np.where(out[LABELLED].to_numpy(bool), out[SEQ].to_numpy(), -1)
        if LABELLED_AT in part.columns:  # late labels: the night they arrived
            late = part[LABELLED_AT].to_numpy()
            at = np.where(out[LABELLED].to_numpy(bool) & (late >= 0), late, at)
        out[LABELLED_AT] = at.astype(INDEX_INT)
        if spec.time_column is not None:
            out[TIME] = spec.times(part, what="stored rows").reset_index(drop=True)
        if spec.id_column is not None:
            out[spec.id_column] = part[spec.id_column].to_numpy()
        return out

    def rows(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The stored rows named by ``keys`` (columns ``SEQ``, ``POS``), in that order. Reads each
        partition once, filtered to the positions asked for."""
        if len(keys) == 0:
            return pd.DataFrame()
        parts = []
        seqs, pos = keys[SEQ].to_numpy(np.int64), keys[POS].to_numpy(np.int64)
        by_batch = np.argsort(seqs, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(seqs[by_batch])) + 1]
        ends = np.r_[starts[1:], len(seqs)]
        for i in np.argsort(by_batch[starts]):  # batches in order of first appearance, as keys name them
            at = by_batch[starts[i]:ends[i]]
            seq, want = seqs[at[0]], pos[at]
            source = pq.ParquetFile(self._path(int(seq)), memory_map=True)
            table = source.read_row_groups(_row_groups(source, want), use_threads=False)
            keep = np.isin(table.column(POS).to_numpy(), want)
            if not keep.all():
                table = table.filter(pa.array(keep))
            parts.append(table)
            del table
        df = _frame(parts)
        del parts
        self._count(len(df))
        if len(df) == len(keys) and np.array_equal(df[SEQ].to_numpy(np.int64), seqs) \
                and np.array_equal(df[POS].to_numpy(np.int64), pos):
            return df  # already in the keys' order (a plan's usual order): no reordered copy
        order = pd.MultiIndex.from_arrays([seqs, pos])
        df.index = pd.MultiIndex.from_arrays([df[SEQ].astype("int64"), df[POS].astype("int64")])
        return df.loc[order].reset_index(drop=True)

    def chunks(self, keys: pd.DataFrame, *, columns: list[str] | None = None,
               rows_per_chunk: int | None = None) -> Iterator[pd.DataFrame]:
        """The stored rows named by ``keys`` (columns ``SEQ``, ``POS``) in that order, as frames of
        ``rows_per_chunk`` rows (None: :attr:`chunk_rows`; the last one shorter): what :meth:`rows` returns, in pieces, never
        holding more than one piece. ``columns``: the stored columns wanted (``SEQ`` and ``POS``
        come along); a partition stored before a column existed gives chunks without it.

        Keys that name a batch's rows in stored order (the plans' usual order) read each partition
        once, forward, record batch by record batch; keys in any other order get the same rows and
        cost a read of the partition per chunk."""
        rows_per_chunk = self.chunk_rows if rows_per_chunk is None else rows_per_chunk
        if rows_per_chunk < 1:
            raise ValueError(f"rows_per_chunk must be a positive number of rows, got {rows_per_chunk}")
        seqs, positions = keys[SEQ].to_numpy(np.int64), keys[POS].to_numpy(np.int64)
        wanted = None if columns is None else list(dict.fromkeys([*columns, SEQ, POS]))
        reader: _Forward | None = None
        for start in range(0, len(seqs), rows_per_chunk):
            s, p = seqs[start:start + rows_per_chunk], positions[start:start + rows_per_chunk]
            bounds = np.flatnonzero(np.diff(s)) + 1
            pieces = []
            for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(s)]):  # runs of one batch, in key order
                seq, want = int(s[a]), p[a:b]
                order = np.argsort(want, kind="stable")
                ascending = bool(np.all(order == np.arange(len(want))))
                if reader is None or reader.seq != seq or not want[order[0]] > reader.last:
                    reader = _Forward(self._path(seq), seq, wanted, rows_per_chunk, first=int(want[order[0]]))
                piece = reader.take(want if ascending else want[order])
                pieces.append(piece if ascending else piece.take(pa.array(np.argsort(order))))
            chunk = _frame(pieces)
            self._count(len(chunk))
            yield chunk.reset_index(drop=True)
            del chunk, pieces

    def columns(self, seqs: list[int]) -> list[str]:
        """The stored columns of partitions ``seqs`` (a file's schema, not its rows), in order of
        first appearance: the columns :meth:`rows` gives for rows of those partitions."""
        out: dict[str, None] = {}
        for seq in seqs:
            out.update(dict.fromkeys(pq.read_schema(self._path(seq)).names))
        return list(out)

    @staticmethod
    def partition_info(index: pd.DataFrame) -> list[dict]:
        """Per stored batch of a row ``index``: ``seq``, ``rows``, ``labelled`` rows and newest ``time_max``."""
        out = []
        for seq, grp in index.groupby(SEQ, sort=True):
            out.append({
                "seq": int(seq),
                "rows": len(grp),
                "labelled": int(grp[LABELLED].sum()),
                "time_max": pd.Timestamp(grp[TIME].max()) if TIME in grp.columns and len(grp) else None,
            })
        return out

    def attach_labels(self, labels: pd.DataFrame, *, id_column: str, target: str, what: str = "labels",
                      seqs: list[int] | None = None, night: int | None = None) -> dict:
        """Write labels onto stored rows by id. Ids not stored → SchemaError (nothing written).
        ``seqs``: the partitions that hold those ids, when the caller knows (from the row index).
        ``night``: the sequence number of the night the labels arrived, stored in ``LABELLED_AT``.

        Returns ``{"rows": n, "relabelled": k, "batches": [seq, ...]}``.
        """
        wanted = labels.set_index(id_column)[target]
        found: dict[int, pd.DataFrame] = {}
        seen = set()
        for seq in (self.sequences() if seqs is None else seqs):
            ids = pd.read_parquet(self._path(seq), columns=[id_column])[id_column]
            hit = ids.isin(wanted.index)
            if hit.any():
                found[seq] = pd.read_parquet(self._path(seq))
                self._count(len(found[seq]))
                seen.update(ids[hit].tolist())
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
            if night is not None:
                if LABELLED_AT not in new.columns:  # labelled with the batch: that batch's night
                    new[LABELLED_AT] = np.where(part[target].notna().to_numpy(), part[SEQ].to_numpy(), -1).astype("int64")
                new.loc[hit, LABELLED_AT] = int(night)
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


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Tables read from partitions as one frame. Partitions of one schema (the usual case) are
    joined in Arrow and converted once: converting each (a few hundred rows of a batch) cost more
    than reading it — 1.5 ms of a 2.5 ms read of a 170-row, 17-column partition, the most of
    what a night spends reading many small batches. Partitions whose schemas differ (a column
    added or retyped, in Arrow's types or in pandas' dtypes, categories) are converted one by
    one and joined by pandas, whose rules for mixed columns the runner's tables follow. The list
    is emptied: Arrow's buffers are freed as pandas takes them, so a read holds its rows about
    once, not twice."""
    first = tables[0].schema
    dtypes = _pandas_columns(first)  # Arrow's types alike, pandas' may not be (Int64 and int64, string and object)
    if len(tables) == 1 or (all(t.schema.equals(first) and _pandas_columns(t.schema) == dtypes for t in tables[1:])
                            and not any(pa.types.is_dictionary(f.type) for f in first)):
        joined = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        tables.clear()
        return joined.to_pandas(self_destruct=True)
    frames = []
    while tables:
        frames.append(tables.pop(0).to_pandas(self_destruct=True))
    return pd.concat(frames, ignore_index=True)


def _pandas_columns(schema: pa.Schema) -> Any:
    """What pandas wrote of a partition's columns (name, pandas and numpy type) with it."""
    return (schema.pandas_metadata or {}).get("columns")


def _compact(index: pd.DataFrame) -> pd.DataFrame:
    """The row index with its integer columns as :data:`INDEX_INT` (an index saved by an earlier
    release holds int64)."""
    for c in (SEQ, POS, LABELLED_AT):
        if c in index.columns and index[c].dtype != INDEX_INT:
            index[c] = index[c].astype(INDEX_INT)
    return index


def _row_groups(source: pq.ParquetFile, positions: np.ndarray, *, onward: bool = False) -> list[int]:
    """The row groups of a partition that hold rows at ``positions`` (a row's ``POS`` is its row
    number in its partition: every write keeps the order), or with ``onward`` every group from
    the one holding the first position on. A partition of one row group (written by an earlier
    release) is read whole."""
    sizes = np.array([source.metadata.row_group(g).num_rows for g in range(source.num_row_groups)], dtype=np.int64)
    if len(sizes) <= 1 or len(positions) == 0:
        return list(range(len(sizes)))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    groups = np.unique(np.searchsorted(starts, positions, side="right") - 1)
    groups = groups[(groups >= 0) & (groups < len(sizes))]
    if onward:
        return list(range(int(groups.min()) if len(groups) else 0, len(sizes)))
    return [int(g) for g in groups]


class _Forward:
    """One partition read forward, record batch by record batch: :meth:`take` hands out the
    rows at ascending positions, each past the ones handed out before."""

    def __init__(self, path: Path, seq: int, columns: list[str] | None, batch_rows: int, first: int = 0):
        self.path, self.seq, self.last = path, seq, -1
        # small record batches, read through a buffer: what Arrow holds while decoding follows the
        # batch, not the partition (a 100 k-row batch costs Arrow about as much as the whole
        # 200 k-row file; 16 k rows half of that)
        source = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        names = source.schema_arrow.names
        self._batches = source.iter_batches(batch_size=min(batch_rows, _ARROW_BATCH_ROWS),
                                            row_groups=_row_groups(source, np.asarray([first]), onward=True),
                                            columns=None if columns is None else [c for c in columns if c in names])
        self._pending: pa.RecordBatch | None = None

    def take(self, want: np.ndarray) -> pa.Table:
        taken: list[pa.RecordBatch] = []
        n = 0
        while n < len(want):
            batch = self._pending if self._pending is not None else next(self._batches, None)
            self._pending = None
            if batch is None:
                break
            at = batch.column(POS).to_numpy()
            hit = np.isin(at, want)
            beyond = at > want[-1]
            if hit.any():
                taken.append(batch.filter(pa.array(hit)))
                n += int(hit.sum())
            if beyond.any():  # positions ascend in a partition: nothing wanted lies further on
                self._pending = batch.filter(pa.array(beyond))
                break
        if n != len(want):
            raise SchemaError(f"data store partition {self.path.name} lacks {len(want) - n} of the rows the row index names; "
                              "run `driftkeeper verify` on the root")
        self.last = int(want[-1])
        return pa.Table.from_batches(taken)
