"""Where histories and futures come from besides real text: model samples, lines, and nonsense.

Token windows of real text (the paper's "segments of wiki text", Golowich, Liu, Shetty 2025,
§3.1) come from the one corpus reader, :mod:`logitrank.real_models.corpus` (seeded,
non-overlapping, held-out splits). This module adds (a) seeded samples of the model itself,
(b) the lines of a text file, and (c) *nonsense*: the same sequences with their tokens
randomly permuted (the paper's F_nonsense / H_nonsense, §3 and Fig. 1b/4).

Every function returns a list of int64 token arrays (the format of
:func:`logitrank.theory.logit_matrix.extended_logit_matrix`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError

__all__ = ["model_samples", "text_file_lines", "token_shuffled"]


def model_samples(lm, n: int, length: int, seed: int, *, prompt=None) -> list[np.ndarray]:
    """``n`` sequences of ``length`` tokens sampled from the model (seeded, reproducible).

    Sampling is ancestral from the model's own softmax after its prefix tokens (e.g. BOS),
    optionally after ``prompt`` (not returned): ``lm.sample_tokens(n, length, seed)``
    (:meth:`~logitrank.real_models.adapter.HFCausalLM.sample_tokens`, ``method="categorical"``).
    """
    return list(lm.sample_tokens(int(n), int(length), seed, prompt=prompt))


def _read_text(path) -> str:
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"text file {path} does not exist; pass an existing UTF-8 text file")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory; pass a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"text file {path} is not valid UTF-8 ({exc}); convert it first") from None
    if not text.strip():
        raise InvalidInputError(f"text file {path} is empty (or only whitespace); histories and "
                                f"futures need some text")
    return text


def text_file_lines(lm, path, *, length: int | None = None, min_length: int = 1,
                    max_items: int | None = None) -> list[np.ndarray]:
    """Each non-empty line of a text file as a token sequence.

    Lines shorter than ``min_length`` tokens are skipped; with ``length`` every line is cut
    to its first ``length`` tokens and shorter lines are skipped (equal-length sequences).
    """
    lines = [ln.strip() for ln in _read_text(path).splitlines()]
    need = max(min_length, length or 0)
    out = []
    for ln in lines:
        if not ln:
            continue
        toks = lm.encode(ln)
        if len(toks) < need:
            continue
        out.append((toks[:length] if length else toks).astype(np.int64))
        if max_items is not None and len(out) >= max_items:
            break
    if not out:
        raise InvalidInputError(f"no line of {path} has at least {need} tokens; use shorter sequences or "
                                f"token windows (logitrank.real_models.corpus)")
    return out


def token_shuffled(sequences, seed: int) -> list[np.ndarray]:
    """Nonsense versions: each sequence's tokens randomly permuted (one seeded generator)."""
    if sequences is None or len(sequences) == 0:
        raise InvalidInputError("token_shuffled needs at least one sequence")
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.asarray(s, dtype=np.int64)) for s in sequences]
