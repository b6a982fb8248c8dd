"""Exact probabilities by enumeration, for small alphabets and horizons.

``P(z_1..z_T) = Π_t P(z_t | z_{<t})``; the whole distribution over Σ^T is built level by
level, querying each prefix once (Σ_t |Σ|^t queries in all).
"""

from __future__ import annotations

import itertools

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.theory.sequence_model import SequenceModel, as_prefix_batch, log_softmax

__all__ = [
    "MAX_ENUMERATION",
    "all_sequences",
    "sequence_log_prob",
    "enumerate_distribution",
    "exact_tv_distance",
    "grouped_by_length",
]

#: Largest |Σ|^T we agree to enumerate (a 4-million-entry probability table).
MAX_ENUMERATION = 1 << 22


def _horizon(model: SequenceModel, T: int | None) -> int:
    T = T if T is not None else model.horizon
    if T is None:
        raise InvalidInputError("the model has no horizon; pass the sequence length T")
    if T < 0 or (model.horizon is not None and T > model.horizon):
        raise InvalidInputError(f"T={T} is out of range for a model of horizon {model.horizon}")
    return int(T)


def all_sequences(vocab_size: int, length: int) -> np.ndarray:
    """Every sequence in Σ^length, lexicographic, shape ``(|Σ|^length, length)``."""
    if vocab_size ** length > MAX_ENUMERATION:
        raise InvalidInputError(
            f"|Σ|^t = {vocab_size}^{length} is too large to enumerate (limit {MAX_ENUMERATION}); "
            f"use a smaller alphabet or horizon, or estimate by sampling")
    return np.array(list(itertools.product(range(vocab_size), repeat=length)),
                    dtype=np.int64).reshape(vocab_size ** length, length)


def grouped_by_length(sequences) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group variable-length sequences into equal-length batches.

    Returns ``[(indices, batch)]`` where ``batch`` is ``(len(indices), t)``.
    """
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    if not seqs:
        raise InvalidInputError("empty list of sequences")
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(i)
    return [(np.array(idx), np.stack([seqs[i] for i in idx]) if length else np.zeros((len(idx), 0), np.int64))
            for length, idx in sorted(by_len.items())]


def sequence_log_prob(model: SequenceModel, sequences) -> np.ndarray:
    """log P(z_1..z_t) for each row of an ``(n, t)`` batch (exact, by the chain rule)."""
    seqs = as_prefix_batch(sequences, model.vocab_size)
    if model.horizon is not None and seqs.shape[1] > model.horizon:
        raise InvalidInputError(
            f"sequences of length {seqs.shape[1]} exceed the model's horizon T={model.horizon}")
    total = np.zeros(seqs.shape[0])
    for t in range(seqs.shape[1]):
        lp = model.log_probs(seqs[:, :t])
        total += lp[np.arange(seqs.shape[0]), seqs[:, t]]
    return total


def enumerate_distribution(model: SequenceModel, T: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All sequences of length T and their exact probabilities.

    Returns ``(sequences (|Σ|^T, T), probabilities (|Σ|^T,))`` in lexicographic order.
    """
    T = _horizon(model, T)
    V = model.vocab_size
    if V ** T > MAX_ENUMERATION:
        raise InvalidInputError(
            f"|Σ|^T = {V}^{T} is too large to enumerate (limit {MAX_ENUMERATION}); "
            f"estimate TV by sampling instead")
    prefixes = np.zeros((1, 0), dtype=np.int64)
    logp = np.zeros(1)
    for _ in range(T):
        lp = log_softmax(model.next_token_logits(prefixes))          # (n, V)
        logp = (logp[:, None] + lp).reshape(-1)
        prefixes = np.concatenate(
            [np.repeat(prefixes, V, axis=0), np.tile(np.arange(V), prefixes.shape[0])[:, None]], axis=1)
    return prefixes, np.exp(logp)


def exact_tv_distance(model_a: SequenceModel, model_b: SequenceModel, T: int | None = None) -> float:
    """Exact total-variation distance ½ Σ_x |P_a(x) − P_b(x)| over Σ^T."""
    if model_a.vocab_size != model_b.vocab_size:
        raise InvalidInputError(
            f"models have different vocabularies ({model_a.vocab_size} vs {model_b.vocab_size})")
    T = _horizon(model_a, T if T is not None else model_a.horizon or model_b.horizon)
    _, pa = enumerate_distribution(model_a, T)
    _, pb = enumerate_distribution(model_b, T)
    return 0.5 * float(np.abs(pa - pb).sum())
