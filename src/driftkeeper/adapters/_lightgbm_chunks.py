"""LightGBM Datasets built from pieces of the training rows (``LightGBMAdapter.fit_chunks``).

LightGBM's ``Sequence`` interface lets a Dataset read its rows from objects that hand out row
ranges: it samples rows (``bin_construct_sample_cnt``, in ascending order) to set the bins, then
pushes every row, in order, into the binned Dataset. :func:`chunked_dataset` gives it one
``Sequence`` per piece, backed by :class:`_Matrices`, which makes one piece's matrix at a time.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

__all__ = ["chunked_dataset"]


def chunked_dataset(to_matrix: Callable[[pd.DataFrame], np.ndarray], chunks: Callable[[], Iterable[pd.DataFrame]],
                    lengths: list[int], **dataset_kwargs: Any) -> Any:
    """A constructed ``lightgbm.Dataset`` of the pieces ``chunks()`` yields (``lengths`` rows each),
    each made a float matrix by ``to_matrix``; ``dataset_kwargs`` as for ``lightgbm.Dataset``.
    The pieces are read twice (the sample that sets the bins, then every row); no matrix is kept
    once the Dataset holds the bins."""
    import lightgbm as lgb

    matrices = _Matrices(to_matrix, chunks)
    piece = _sequence_type()
    dataset_kwargs["params"] = _with_sample_seed(dataset_kwargs.get("params") or {})
    dataset = lgb.Dataset([piece(matrices, k, n) for k, n in enumerate(lengths)], free_raw_data=True, **dataset_kwargs)
    try:
        dataset.construct()
    finally:
        matrices.close()
    return dataset


def _with_sample_seed(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the ``data_random_seed`` LightGBM derives from ``seed``.

    LightGBM's C++ side, given a matrix, samples the rows that set the bins with
    ``data_random_seed``, derived from ``seed`` when only that is set (``Config::Set``: the first
    draw of its ``Random(seed)``, ``NextShort(0, 32767)``). Its Python side, given Sequences,
    samples with the Dataset's own parameters, which leave ``seed`` out: without the derived
    value the bins would come from other rows than a fit on the whole matrix uses."""
    if any(k in params for k in ("data_random_seed", "data_seed")):
        return params
    seed = next((params[k] for k in ("seed", "random_seed", "random_state") if params.get(k) is not None), None)
    if seed is None:
        return params
    x = (214013 * (int(seed) & 0xFFFFFFFF) + 2531011) & 0xFFFFFFFF  # LightGBM's Random::RandInt16
    return {**params, "data_random_seed": ((x >> 16) & 0x7FFF) % 32767}


class _Matrices:
    """The matrices of a chunked fit, made one piece at a time: piece ``k`` is made when asked for
    and kept until another is. LightGBM asks for rows in ascending order (a sorted sample, then
    every row), so each of its two reads goes through ``chunks()`` once, and a read that asks
    for an earlier piece again starts a fresh pass."""

    def __init__(self, to_matrix: Callable[[pd.DataFrame], np.ndarray], chunks: Callable[[], Iterable[pd.DataFrame]]):
        self._to_matrix, self._chunks = to_matrix, chunks
        self._pieces: Any = None
        self._at = -1
        self._matrix: np.ndarray | None = None

    def get(self, k: int, n: int) -> np.ndarray:
        """Piece ``k``'s matrix, which has ``n`` rows (ValueError when ``chunks()`` gave another count)."""
        if k != self._at or self._matrix is None:
            if self._pieces is None or k < self._at:
                self._pieces, self._at = iter(self._chunks()), -1
            self._matrix = None  # the previous piece goes before the next one is read
            frame = None
            while self._at < k:
                frame = next(self._pieces)
                self._at += 1
            self._matrix = np.ascontiguousarray(self._to_matrix(frame))
            if len(self._matrix) != n:
                raise ValueError(f"piece {k} has {len(self._matrix)} rows, {n} on an earlier pass: chunks() must give the same rows on every call")
        return self._matrix

    def close(self) -> None:
        self._pieces = self._matrix = None


_SEQUENCE: Any = None


def _sequence_type() -> type:
    """``lightgbm.Sequence`` over one piece of :class:`_Matrices` (made on first use: importing
    this module must not import LightGBM)."""
    global _SEQUENCE
    if _SEQUENCE is None:
        import lightgbm as lgb

        class _Piece(lgb.Sequence):
            def __init__(self, matrices: _Matrices, k: int, n: int):
                self.matrices, self.k, self.n = matrices, k, n
                self.batch_size = n  # LightGBM pushes the piece's rows in one call

            def __len__(self) -> int:
                return self.n

            def __getitem__(self, idx: Any) -> np.ndarray:
                return self.matrices.get(self.k, self.n)[idx]

        _SEQUENCE = _Piece
    return _SEQUENCE
