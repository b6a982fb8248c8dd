"""The one interface that ties the toolkit together: a sequence model seen through its logits.

A *sequence model* over an alphabet Σ = {0, …, V−1} is anything that, for a batch of
prefixes of equal length, returns the next-token logit vectors. Everything else —
centered logits (Golowich, Liu, Shetty 2025, Def. 2.1), log-probs, sampling, the extended
logit matrix, LINGEN, the query learner — is written once against this interface, so it
runs unchanged on a time-varying ISAN, an HMM, noisy parity or a wrapped Hugging Face LM.

Conventions
-----------
- A prefix batch is an integer array of shape ``(n_prefixes, length)`` with
  ``n_prefixes >= 1`` and ``length >= 0`` (the empty prefix asks for the first token).
- Logits may carry any per-row additive constant; :func:`center_logits` removes it.
- Models with a finite horizon ``T`` generate sequences of exactly ``T`` tokens, so
  prefixes must be shorter than ``T``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank.errors import InvalidInputError, ModelOutputError

__all__ = [
    "SequenceModel",
    "as_prefix_batch",
    "center_logits",
    "log_softmax",
    "sample_from_logits",
    "softmax",
]


def as_prefix_batch(prefixes: Any, vocab_size: int | None = None) -> np.ndarray:
    """Validate a batch of prefixes and return it as an ``(n, t)`` int64 array.

    Raises :class:`InvalidInputError` for empty batches, ragged batches, non-integer
    tokens and (if ``vocab_size`` is given) token ids outside ``[0, vocab_size)``.
    """
    if isinstance(prefixes, np.ndarray):
        arr = prefixes
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, 0)
    else:
        if not isinstance(prefixes, Sequence) or isinstance(prefixes, (str, bytes)):
            raise InvalidInputError(
                f"prefixes must be a sequence of token sequences or a 2-D integer array, "
                f"got {type(prefixes).__name__}"
            )
        rows = [list(p) for p in prefixes]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise InvalidInputError(
                f"ragged prefix batch: prefixes have lengths {sorted(lengths)}; a batch must "
                f"hold prefixes of one length — group them by length and query each group"
            )
        arr = np.asarray(rows) if rows and lengths != {0} else np.zeros((len(rows), 0), np.int64)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"prefixes must form a 2-D array (n_prefixes, length), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidInputError("empty prefix batch: pass at least one prefix (the empty "
                                "prefix is written [[]])")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InvalidInputError(f"tokens must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if vocab_size is not None and arr.size:
        bad = (arr < 0) | (arr >= vocab_size)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InvalidInputError(
                f"token {int(arr[i, j])} at prefix {int(i)}, position {int(j)} is outside the "
                f"vocabulary [0, {vocab_size}); map tokens into the model's vocabulary"
            )
    return arr


def center_logits(logits: np.ndarray) -> np.ndarray:
    """Mean-centered logits L[z | p] = ℓ_z − mean_z' ℓ_z' (Golowich et al. 2025, Def. 2.1).

    Equal to log P(z | p) − mean_z' log P(z' | p), because the log-normaliser cancels.
    Works on the last axis of any array.

    Examples
    --------
    >>> center_logits([[1.0, 2.0, 6.0]]).tolist()
    [[-2.0, -1.0, 3.0]]
    >>> bool(np.allclose(center_logits(log_softmax([1.0, 2.0, 6.0])), center_logits([1.0, 2.0, 6.0])))
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    return logits - logits.mean(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis (float64).

    Examples
    --------
    Two equal logits have probability 1/2 each, however large they are:

    >>> np.round(np.exp(log_softmax([1000.0, 1000.0])), 12).tolist()
    [0.5, 0.5]
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float64).

    Examples
    --------
    >>> np.round(softmax([0.0, np.log(3.0)]), 12).tolist()
    [0.25, 0.75]
    """
    return np.exp(log_softmax(logits))


def sample_from_logits(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row of ``logits`` ``(n, V)``, drawn from softmax(row) by inverse CDF.

    Uses exactly one ``rng.random(n)`` draw, so seeded runs are reproducible.

    Examples
    --------
    Token z is drawn when the uniform u falls in (P(<z), P(≤z)]: with P = (1/4, 3/4),
    u = 0.2 gives token 0 and u = 0.9 gives token 1.

    >>> class FixedU:
    ...     def random(self, n):
    ...         return np.array([0.2, 0.9])[:n]
    >>> sample_from_logits(np.log([[1.0, 3.0], [1.0, 3.0]]), FixedU()).tolist()
    [0, 1]
    """
    p = softmax(logits)
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)


class SequenceModel(abc.ABC):
    """A distribution over token sequences, accessed through next-token logits.

    Subclasses implement :meth:`_logits` for a validated ``(n, t)`` prefix batch and set
    :attr:`vocab_size` (|Σ|) and :attr:`horizon` (T, or ``None`` for unbounded models).
    """

    vocab_size: int
    horizon: int | None = None

    # --- the one method a model must provide -------------------------------------------
    @abc.abstractmethod
    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        """Raw next-token logits, shape ``(n, vocab_size)``, for validated prefixes."""

    # --- everything else is derived --------------------------------------------------------
    def validate_prefixes(self, prefixes: Any) -> np.ndarray:
        """Check a prefix batch against this model's vocabulary and horizon."""
        arr = as_prefix_batch(prefixes, self.vocab_size)
        if self.horizon is not None and arr.shape[1] >= self.horizon:
            raise InvalidInputError(
                f"prefix length {arr.shape[1]} is out of range for a model of horizon "
                f"T={self.horizon}: next-token logits exist for lengths 0..{self.horizon - 1}"
            )
        return arr

    def next_token_logits(self, prefixes: Any) -> np.ndarray:
        """Next-token logits, ``(n_prefixes, vocab_size)`` float64, for a prefix batch."""
        arr = self.validate_prefixes(prefixes)
        out = np.asarray(self._logits(arr), dtype=np.float64)
        if out.shape != (arr.shape[0], self.vocab_size):
            raise ModelOutputError(
                f"{type(self).__name__} returned logits of shape {out.shape}, expected "
                f"{(arr.shape[0], self.vocab_size)}"
            )
        if not np.all(np.isfinite(out)):
            bad = int(np.argwhere(~np.isfinite(out))[0, 0])
            raise ModelOutputError(
                f"{type(self).__name__} returned a non-finite logit for prefix "
                f"{arr[bad].tolist()}; check the model's parameters (overflow, NaN weights)"
            )
        return out

    def centered_logits(self, prefixes: Any) -> np.ndarray:
        """Mean-centered next-token logits L[· | p] (Def. 2.1), ``(n, vocab_size)``."""
        return center_logits(self.next_token_logits(prefixes))

    def log_probs(self, prefixes: Any) -> np.ndarray:
        """Next-token log-probabilities, ``(n, vocab_size)``."""
        return log_softmax(self.next_token_logits(prefixes))

    def sample(self, n: int, length: int, rng: np.random.Generator,
               prompt: Any = None) -> np.ndarray:
        """Sample ``n`` continuations of ``length`` tokens, ``(n, length)`` int64.

        ``prompt`` (optional, one prefix or an ``(n, t)`` batch) is conditioned on and not
        returned. Randomness comes only from ``rng``, so seeded runs are reproducible.
        """
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError("rng must be a numpy.random.Generator, e.g. "
                                    "np.random.default_rng(seed)")
        if n < 1 or length < 0:
            raise InvalidInputError(f"need n >= 1 and length >= 0, got n={n}, length={length}")
        if prompt is None:
            seqs = np.zeros((n, 0), dtype=np.int64)
        else:
            p = np.asarray(prompt)
            p = p.reshape(1, -1) if p.ndim == 1 else p
            seqs = self.validate_prefixes(np.broadcast_to(p, (n, p.shape[1])) if p.shape[0] == 1 else p)
            if seqs.shape[0] != n:
                raise InvalidInputError(f"prompt batch has {seqs.shape[0]} rows, expected 1 or n={n}")
        t0 = seqs.shape[1]
        if self.horizon is not None and t0 + length > self.horizon:
            raise InvalidInputError(
                f"cannot sample {length} tokens after a prefix of length {t0}: the model's "
                f"horizon is T={self.horizon}"
            )
        for _ in range(length):
            tok = sample_from_logits(self.next_token_logits(seqs), rng)
            seqs = np.concatenate([seqs, tok[:, None].astype(np.int64)], axis=1)
        return seqs[:, t0:]

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, horizon={self.horizon})"
