"""Crash-safe result files: every write goes to a temporary file first, then an atomic rename.

A run killed at any moment leaves either the old file or the new one, never a torn one, so
resuming can trust whatever it finds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_save_npy", "atomic_save_npz", "read_json", "config_hash",
           "to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays and tuples to plain JSON types (recursively)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically (temp file + rename)."""
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, NumPy types converted, keys in insertion order."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Save one array to ``.npy`` atomically (same bytes as ``np.save``)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    atomic_write_bytes(Path(path), buf.getvalue())


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays to ``.npz`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(path), buf.getvalue())


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def config_hash(config: Any) -> str:
    """A short stable hash of a JSON-able configuration (sorted keys)."""
    blob = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
