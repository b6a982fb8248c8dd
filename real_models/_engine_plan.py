"""The engine's plan of one L(H, F) request and its checkpoint files.

:class:`ColumnPlan` is the validated request (histories, futures, column rule, the future chunks
this process streams); :class:`CheckpointStore` keeps one shard's Gram, columns and blocks in
``run_dir`` so that a killed run resumes from its last chunk with the identical result.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError, ResumeError
from logitrank.io import atomic_save_npy, atomic_save_npz, atomic_write_json, config_hash, read_json

__all__ = ["ColumnPlan", "CheckpointStore", "check_column_tokens", "hash_sequences"]


def check_column_tokens(column_tokens, n_futures: int, vocab_size: int, k) -> np.ndarray:
    cols = np.asarray(column_tokens)
    if cols.ndim != 2 or cols.shape[0] != n_futures or cols.size == 0 or not np.issubdtype(cols.dtype, np.integer):
        raise InvalidInputError(f"column_tokens must be an integer array of shape (|F|={n_futures}, k), "
                                f"got shape {cols.shape} and dtype {cols.dtype}")
    if cols.min() < 0 or cols.max() >= vocab_size:
        raise InvalidInputError(f"column_tokens must lie in the vocabulary [0, {vocab_size})")
    if k is not None and int(k) != cols.shape[1]:
        raise InvalidInputError(f"k={k} disagrees with column_tokens of width {cols.shape[1]}")
    return cols.astype(np.int64)


def hash_sequences(seqs) -> str:
    h = hashlib.sha256()
    for s in seqs:
        h.update(np.asarray(s, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """Validated inputs of one L(H, F) request and the future chunks this process streams.

    ``columns`` is (|F|, k) when known before the model runs (explicit, ``"random"``,
    ``"topk_bare"``), −1 rows to be filled chunk by chunk (``"topk_average"``), or ``None``
    for the full vocabulary.
    """

    histories: list
    futures: list
    rule: str
    k: int
    columns: np.ndarray | None
    future_chunk: int
    shard: tuple[int, int]

    @property
    def n_chunks(self) -> int:
        return -(-len(self.futures) // self.future_chunk)

    @property
    def my_chunks(self) -> list[int]:
        rank, world = self.shard
        return [c for c in range(self.n_chunks) if c % world == rank]

    def futures_of(self, chunk: int) -> slice:
        return slice(chunk * self.future_chunk, min((chunk + 1) * self.future_chunk, len(self.futures)))


class CheckpointStore:
    """One shard's files in ``run_dir``, all written through :mod:`logitrank.io` (atomic).

    ``manifest-r{rank}of{world}.json`` (fingerprint of model, inputs and settings),
    ``state-…npz`` (Gram, chunks done, columns so far), ``matrix/chunk{c}.npy`` (blocks, with
    ``save_matrix``) and ``done-….json`` once every chunk of the shard is in.
    """

    def __init__(self, run_dir, shard: tuple[int, int], fingerprint: dict):
        self.run_dir = Path(run_dir)
        tag = f"r{shard[0]}of{shard[1]}"
        self.fingerprint = fingerprint
        self.key = config_hash(fingerprint)
        self.manifest = self.run_dir / f"manifest-{tag}.json"
        self.state = self.run_dir / f"state-{tag}.npz"
        self.done_marker = self.run_dir / f"done-{tag}.json"

    def open(self):
        """Start a run, or check that the one found has this fingerprint; its saved state or None."""
        if not self.manifest.exists():
            atomic_write_json(self.manifest, {"key": self.key, "fingerprint": self.fingerprint})
            return None
        if read_json(self.manifest).get("key") != self.key:
            raise ResumeError(f"{self.run_dir} holds a run with different inputs or settings "
                              f"({self.manifest.name}); use a new run_dir or delete it")
        if not self.state.exists():
            return None
        st = np.load(self.state)
        cols = st["column_tokens"].copy() if "column_tokens" in st.files else None
        return st["gram"].copy(), int(st["chunks_done"]), cols

    def save_state(self, gram: np.ndarray, chunks_done: int, columns) -> None:
        extra = {"column_tokens": columns} if columns is not None else {}
        atomic_save_npz(self.state, gram=gram, chunks_done=np.array(chunks_done), **extra)

    def save_block(self, chunk: int, block: np.ndarray) -> None:
        atomic_save_npy(self.run_dir / "matrix" / f"chunk{chunk:06d}.npy", block)

    def mark_done(self, n_chunks: int, seconds: float) -> None:
        atomic_write_json(self.done_marker, {"chunks": n_chunks, "seconds": seconds})


