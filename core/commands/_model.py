"""Loading the model and cutting its text, the same way for every command.

The model is the one model object (:meth:`logitrank.real_models.adapter.HFCausalLM.load`);
text windows come from the one corpus reader (:func:`logitrank.real_models.corpus.read_corpus`)
or, without ``--text``, from seeded samples of the model itself. Callers validate their
options first (:mod:`logitrank.commands._options`): everything here runs after the checks.
"""

from __future__ import annotations

import contextlib

from logitrank.commands._output import progress_note

__all__ = ["load_model", "loaded_model", "text_splits"]


def load_model(model: str, *, dtype: str = "float32", device: str | None = None, twin: int | None = None):
    """The :class:`HFCausalLM` named by ``--model`` (its random-init twin with ``--twin SEED``)."""
    from logitrank.real_models.adapter import HFCausalLM
    progress_note(f"loading {model}{f' (random-init twin, seed {twin})' if twin is not None else ''} …")
    return HFCausalLM.load(model, dtype=dtype, device=device, twin_seed=twin)   # no transformers bar in logs


@contextlib.contextmanager
def loaded_model(model: str, *, dtype: str = "float32", device: str | None = None, twin: int | None = None,
                 threads: int | None = None):
    """The block of a command that runs the model: ``--threads`` torch threads (torch's default,
    all cores, when None) around :func:`load_model`; yields ``(lm, threads_used)``."""
    import torch

    from logitrank.real_models.runtime import torch_threads
    with torch_threads(threads):
        yield load_model(model, dtype=dtype, device=device, twin=twin), torch.get_num_threads()


def text_splits(lm, text: str | None, request: dict, *, seed: int, stride: int | None = None, offset: int = 0,
                shuffled=()) -> tuple[dict, dict]:
    """Token sequences per split of ``request`` (``{split: (n, length)}``) and where they came from.

    With ``text`` (file, directory or embedded corpus): seeded windows of disjoint segments
    (:meth:`~logitrank.real_models.corpus.TextCorpus.windows`), so histories, futures and
    targets never overlap; the sources are ``[document, first token]`` per window. Without it:
    seeded samples of the model, one seed per split (``seed + i``); the sources say so.
    ``shuffled`` names the splits to token-shuffle (nonsense, the paper's Option 2).
    """
    if text is not None:
        from logitrank.real_models.corpus import read_corpus
        corpus = read_corpus(text, lm)
        w = corpus.windows(request, seed=seed, stride=stride, offset=offset, shuffled=tuple(shuffled))
        return ({s: v.tokens for s, v in w.items()},
                {s: [list(src) for src in v.sources] for s, v in w.items()})
    from logitrank.real_models.text_sources import model_samples, token_shuffled
    seqs, sources = {}, {}
    for i, (split, (n, length)) in enumerate(request.items()):
        s = model_samples(lm, n, length, seed + i)
        seqs[split] = token_shuffled(s, seed + 100 + i) if split in shuffled else s
        sources[split] = f"model samples, seed {seed + i}" + (", token-shuffled" if split in shuffled else "")
    return seqs, sources
