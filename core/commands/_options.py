"""The one option vocabulary of the commands that touch a model, and its checks.

Every command declares its options with these ``Annotated`` types instead of its own
``typer.Option(...)``, so ``--model``, ``--device``, ``--dtype``, ``--seed``, ``--twin SEED``,
``--text PATH``, ``--stride``, ``--offset``, ``--nonsense``, ``--threads`` and ``--out`` mean
the same everywhere. The ``check_*`` functions validate a value *before* any model loads and
raise :class:`~logitrank.errors.InvalidInputError` / :class:`~logitrank.errors.ModelLoadError`
with a one-line message (the CLI turns it into ``error: …`` and exit code 2).

Nothing here imports torch at module level: ``logitrank --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from logitrank.errors import InvalidInputError
from logitrank.theory.logit_matrix import COLUMN_RULES

__all__ = ["Model", "Device", "Dtype", "Seed", "Twin", "Text", "Stride", "Offset", "Nonsense", "Threads", "Out",
           "RULES", "check_model", "check_model_options", "check_device", "check_dtype", "check_rule", "check_positive", "check_text",
           "check_fit_range", "parse_floats", "concept_name"]

Model = Annotated[str, typer.Option("--model", help="'smollm2', a .gguf file, a model directory (with "
                                                    "config.json) or a hub id in the local cache.")]
Device = Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N (default: cuda when available).")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32 | bfloat16 | float16 | float64.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice (text windows, samples, shuffles, "
                                                  "random columns).")]
Twin = Annotated[int | None, typer.Option("--twin", metavar="SEED",
                                          help="Use the model's random-init twin with this seed instead.")]
Text = Annotated[str | None, typer.Option(
    "--text", metavar="PATH", help="Real text: a UTF-8 file, a directory of .txt files or 'shakespeare' (the "
                                   "embedded corpus). Seeded, non-overlapping windows; histories, futures and "
                                   "targets come from disjoint segments. Default: samples of the model.")]
Stride = Annotated[int | None, typer.Option("--stride", help="Tokens between window starts inside a text segment "
                                                             "(>= window length; default: the window length).")]
Offset = Annotated[int, typer.Option("--offset", help="Start of the first window inside each text segment.")]
Nonsense = Annotated[bool, typer.Option("--nonsense", help="Token-shuffle the histories and futures (the paper's "
                                                           "Option 2).")]
Threads = Annotated[int | None, typer.Option("--threads", help="Torch CPU threads (default: all cores); recorded "
                                                               "in result.json.")]
Out = Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Write result.json (inputs and outputs), "
                                                                       "CSV tables and the figure (PNG) here; a "
                                                                       "rerun with the same inputs reuses or "
                                                                       "resumes it.")]

#: Column rules of :func:`logitrank.theory.logit_matrix.choose_column_tokens`.
RULES = COLUMN_RULES


def check_model(model: str) -> str:
    """The model source, checked without loading (missing path, no config.json, truncated GGUF)."""
    from logitrank.real_models.loading import check_source
    if check_source(model) == "gguf":
        _check_gguf_tensors(Path(model))
    return model


def _check_gguf_tensors(path: Path) -> None:
    """Every tensor of a GGUF file lies inside the file (a truncated download fails here, not in a reshape)."""
    from logitrank.errors import ModelLoadError
    try:
        import gguf
    except ImportError:  # pragma: no cover - transformers' GGUF loading needs it anyway
        return
    size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(path)
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except (ValueError, IndexError, OSError) as exc:
        raise ModelLoadError(f"{path} is truncated or corrupt ({size} bytes; its tensors do not fit: "
                             f"{str(exc).splitlines()[0]}); re-download or re-export it") from None
    if end > size:
        raise ModelLoadError(f"{path} is truncated ({size} bytes, its tensors need {end}); re-download or "
                             f"re-export it")


def check_device(device: str | None) -> None:
    """A device that exists here (``--device cuda`` without CUDA is an error, not a traceback)."""
    from logitrank.real_models.runtime import resolve_device
    resolve_device(device)


def check_dtype(dtype: str) -> None:
    """A known dtype name."""
    from logitrank.real_models.runtime import resolve_dtype
    resolve_dtype(dtype)


def check_rule(rule: str) -> str:
    """One of :data:`RULES`."""
    if rule not in RULES:
        raise InvalidInputError(f"unknown --rule {rule!r}; choose one of {', '.join(RULES)}")
    return rule


def check_positive(**values) -> None:
    """Every named size is an integer >= 1 (``--k 0``, ``--histories -3`` …)."""
    for name, v in values.items():
        if v is not None and v < 1:
            raise InvalidInputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def check_threads(threads: int | None) -> None:
    """``--threads`` is None (all cores) or >= 1."""
    check_positive(threads=threads)


def check_text(text: str | None) -> None:
    """A text source that exists: a file, a directory with .txt files, or a fetched embedded corpus."""
    if text is None:
        return
    if text == "":
        raise InvalidInputError("--text is empty; pass a text file, a directory of .txt files or 'shakespeare'")
    from logitrank.real_models.corpus import EMBEDDED_CORPORA, corpus_dir
    if text in EMBEDDED_CORPORA:
        if not (corpus_dir(text) / "CORPUS.json").is_file():
            raise InvalidInputError(f"the {text!r} corpus is not in the cache; run `make setup` or "
                                    f"`python -m logitrank.real_models.corpus fetch`")
        return
    p = Path(text)
    if not p.exists():
        raise InvalidInputError(f"--text {text}: no such file or directory; pass a UTF-8 text file, a "
                                f"directory of .txt files or one of {EMBEDDED_CORPORA}")
    if p.is_dir() and not any(q.is_file() for q in p.glob("*.txt")):
        raise InvalidInputError(f"--text {text}: directory has no .txt files")


def check_fit_range(lo: float, hi: float) -> tuple[float, float]:
    """A power-law fit range (1-based indices, or fractions of n in (0, 1]) with lo < hi."""
    if not (lo > 0 and hi > 0 and lo < hi):
        raise InvalidInputError(f"--fit-range {lo} {hi}: need 0 < lo < hi (indices, or fractions of n in (0, 1])")
    return lo, hi


def parse_floats(text: str, name: str) -> list[float]:
    """A comma-separated list of numbers (``--alphas 0,0.2,0.4``); bad items are named."""
    items = [t.strip() for t in text.split(",")]
    out = []
    for t in items:
        try:
            out.append(float(t))
        except ValueError:
            raise InvalidInputError(f"--{name} {text!r}: {t!r} is not a number; give comma-separated numbers "
                                    f"such as 0,0.2,0.4") from None
    return out


def concept_name(name: str, known) -> str:
    """The concept of the word-pair table that ``name`` means; ASCII aliases for ``⇒``.

    ``male=>female``, ``male->female`` and ``male-female`` all mean ``male⇒female``; case is
    ignored.
    """
    if name in known:
        return name
    def norm(s):
        return s.lower().replace("⇒", "=>")
    for sep in ("=>", "->", "-", ":"):
        cand = norm(name).replace(sep, "=>", 1) if sep != "=>" else norm(name)
        for k in known:
            if norm(k) == cand:
                return k
    ascii_names = ", ".join(k.replace("⇒", "=>") for k in known)
    raise InvalidInputError(f"unknown concept {name!r}; choose one of {ascii_names}")


def check_model_options(model: str, device: str | None, dtype: str, *, threads: int | None = None,
                        text: str | None = None) -> None:
    """The checks every model command runs before loading: text, threads, device, dtype, model source."""
    check_text(text)
    check_threads(threads)
    check_device(device)
    check_dtype(dtype)
    check_model(model)
