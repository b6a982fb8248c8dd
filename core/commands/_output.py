"""``--out DIR`` for every command: inputs recorded first, outputs, CSV tables and a PNG last.

Layout of an output directory::

    DIR/inputs.json    every input that determines the result (written before any model loads)
    DIR/ckpt/          the engine's checkpoints (commands that stream L(H, F))
    DIR/*.csv          the command's tables
    DIR/*.png          the command's figure
    DIR/result.json    {"command", "inputs", "outputs", "files", "package_version"} — written
                       last, so its presence means the run is complete

A rerun with the same inputs into the same DIR reuses a complete ``result.json`` (nothing is
loaded or computed) or resumes from ``ckpt/``; different inputs raise
:class:`~logitrank.errors.ResumeError` naming the keys that differ, before any model loads
(a run that failed or stopped before saving any checkpoint protects nothing and is replaced). A
``DIR`` that is an existing file is an :class:`~logitrank.errors.InvalidInputError`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer

from logitrank.errors import InvalidInputError, ResumeError
from logitrank.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json, to_jsonable

__all__ = ["OutDir", "package_version", "progress_note", "interruptible", "ChunkProgress", "open_out", "run_cached"]


def package_version() -> str:
    """The installed logitrank version (recorded in every result.json)."""
    try:
        return version("logitrank")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def progress_note(text: str) -> None:
    """One status line on stderr (stdout carries only results)."""
    typer.echo(text, err=True)


class OutDir:
    """The output directory of one command run (or nothing, when ``--out`` is not given).

    Parameters
    ----------
    path : ``--out`` (None: nothing is written).
    command : the command's name, e.g. ``"real spectrum"``.
    inputs : JSON-able dict of every input that determines the result.
    """

    def __init__(self, path: Path | None, command: str, inputs: dict):
        self.path = None if path is None else Path(path)
        self.command = command
        self.inputs = to_jsonable({**inputs, "package_version": package_version()})

    @property
    def ckpt(self) -> Path | None:
        """Checkpoint directory for resumable work (None without ``--out``)."""
        return None if self.path is None else self.path / "ckpt"

    def _check_same(self, file: Path, stored: dict) -> None:
        if stored != self.inputs:
            keys = sorted(k for k in set(stored) | set(self.inputs) if stored.get(k) != self.inputs.get(k))
            raise ResumeError(f"--out {self.path} holds a run with different inputs ({', '.join(keys)} differ, "
                              f"see {file.name}); use another --out DIR or delete it")

    def open(self) -> dict | None:
        """Check ``--out`` before any model loads; the stored record of a complete identical run, else None.

        Writes ``inputs.json`` for a new run.
        """
        if self.path is None:
            return None
        if self.path.exists() and not self.path.is_dir():
            raise InvalidInputError(f"--out {self.path} is an existing file; --out needs a directory "
                                    f"(new or from an earlier run of the same command)")
        result, inputs = self.path / "result.json", self.path / "inputs.json"
        if result.is_file():
            rec = read_json(result)
            if rec.get("command") != self.command:
                raise ResumeError(f"--out {self.path} holds a result of `logitrank {rec.get('command')}`; "
                                  f"use another --out DIR")
            self._check_same(result, rec.get("inputs", {}))
            return rec
        ckpt_files = self.ckpt.is_dir() and any(self.ckpt.iterdir())
        if inputs.is_file() and ckpt_files:
            rec = read_json(inputs)
            if rec.get("command") != self.command:
                raise ResumeError(f"--out {self.path} holds a run of `logitrank {rec.get('command')}`; "
                                  f"use another --out DIR")
            self._check_same(inputs, rec.get("inputs", {}))
        elif inputs.is_file():
            # A run that stopped before saving any work (an error, or Ctrl-C in a command without
            # checkpoints): nothing to resume or protect, so this run takes the directory over.
            self._write_inputs(inputs)
        elif self.path.is_dir() and any(self.path.iterdir()):
            raise InvalidInputError(f"--out {self.path} is a non-empty directory without a logitrank run; "
                                    f"use a new directory")
        else:
            self._write_inputs(inputs)
        return None

    def _write_inputs(self, inputs: Path) -> None:
        """``inputs.json``, the first file of a run: a directory that cannot be written is the user's input."""
        try:
            atomic_write_json(inputs, {"command": self.command, "inputs": self.inputs})
        except OSError as exc:
            raise InvalidInputError(f"--out {self.path}: cannot write there ({exc.strerror or exc}); give a "
                                    f"directory you can write to") from None

    def finish(self, outputs: dict, *, tables: dict[str, tuple[Sequence[str], Sequence[Sequence]]] | None = None,
               figure: Callable | None = None, figure_name: str = "figure.png") -> dict:
        """Write the tables (CSV), the figure (PNG, via ``figure(fig)``) and then result.json."""
        rec = {"command": self.command, "inputs": self.inputs, "outputs": to_jsonable(outputs), "files": []}
        if self.path is None:
            return rec
        for name, (header, rows) in (tables or {}).items():
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            w.writerows(to_jsonable(list(rows)))
            atomic_write_text(self.path / name, buf.getvalue())
            rec["files"].append(name)
        if figure is not None:
            atomic_write_bytes(self.path / figure_name, render_png(figure))
            rec["files"].append(figure_name)
        rec["files"].append("result.json")
        rec["package_version"] = package_version()
        atomic_write_json(self.path / "result.json", rec)
        progress_note(f"wrote {', '.join(rec['files'])} to {self.path}")
        return rec


def render_png(draw: Callable) -> bytes:
    """PNG bytes of a matplotlib figure drawn by ``draw(fig)`` (Agg backend, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class ChunkProgress:
    """Chunks done of a streamed computation, fed by the engine's ``on_chunk`` callback."""

    def __init__(self, total: int, where: Path | None):
        self.done, self.total, self.where = 0, int(total), where

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total)


@contextlib.contextmanager
def interruptible(progress: ChunkProgress):
    """Turn Ctrl-C into one line (what was saved, how to resume) and exit code 130."""
    try:
        yield progress
    except KeyboardInterrupt:
        if progress.where is not None:
            msg = (f"interrupted: saved {progress.done}/{progress.total} chunks to {progress.where} — rerun the "
                   f"same command to resume")
        else:
            msg = (f"interrupted after {progress.done}/{progress.total} chunks; nothing was saved (pass --out DIR "
                   f"to make the run resumable)")
        from tqdm import tqdm
        tqdm.write(msg, file=sys.stderr)          # below any progress bar still on screen
        sys.stderr.flush()
        raise typer.Exit(130) from None


def open_out(out, command: str, inputs: dict) -> tuple[OutDir, dict | None]:
    """Open ``--out`` for ``command`` run with ``inputs``: the stored record of an identical
    earlier run (announced on stderr), or None when the command has to compute."""
    od = OutDir(out, command, inputs)
    rec = od.open()
    if rec is not None:
        progress_note(f"reusing {out}/result.json (same inputs)")
    return od, rec


def run_cached(out, command: str, inputs: dict, compute: Callable, report: Callable[[dict], None]) -> dict:
    """The skeleton of a command after its checks: open ``--out`` (before any model loads); reuse
    the record of an identical complete run, or run ``compute(od) -> (outputs, files)`` and
    ``od.finish(outputs, **files)`` (``files``: the ``tables`` / ``figure`` / ``figure_name`` of
    :meth:`OutDir.finish`); then print ``report(outputs)`` — the same JSON-able outputs either way.
    Returns the record."""
    od, rec = open_out(out, command, inputs)
    if rec is None:
        outputs, files = compute(od)
        rec = od.finish(outputs, **files)
    report(rec["outputs"])
    return rec
