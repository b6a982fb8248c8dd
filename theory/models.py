"""Sequence models with known low-dimensional structure.

- :class:`TimeVaryingISAN` — the time-varying input-switched affine network of
  Golowich, Liu, Shetty (2025), §4: z_t ~ softmax(B_t x_{t−1}), x_t = A_{z_t,t} x_{t−1}.
  Its centered logits are linear in the state, so every cut-wise logit matrix has rank
  ≤ d (Theorem 4.3, "only if" direction).
- :class:`HiddenMarkovModel` — low *probability* rank (the classical spectral-learning
  setting); its logits are logs of linear functions of the belief state.
- :class:`NoisyParity` — n uniform bits followed by the parity of a hidden subset,
  flipped with probability η. Cut-wise logit rank 1 (a rank-1 ISAN), yet learning it from
  samples is learning parity with noise.
- :class:`TabularSequenceModel` — a black box given by a table of logits per prefix;
  used to hand a model to constructions that may only look at its logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.theory.enumeration import all_sequences
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["TimeVaryingISAN", "HiddenMarkovModel", "NoisyParity", "TabularSequenceModel"]


def _check_finite(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} contains NaN or infinite entries; pass finite parameters")
    return arr


class TimeVaryingISAN(SequenceModel):
    """Time-varying ISAN of hidden dimension d over |Σ| = V tokens and horizon T.

    Parameters
    ----------
    A : array, shape (T, V, d, d)
        ``A[t, z]`` is A_{z, t+1}: the state update after token z is emitted at step t+1.
        (``A[T-1]`` acts after the last token and never affects the distribution.)
    B : array, shape (T, V, d)
        ``B[t]`` is B_{t+1}: logits of token t+1 are ``B[t] @ x_t``.
    x0 : array, shape (d,)
        Initial state.

    References
    ----------
    Golowich, Liu, Shetty (2025), "Sequences of Logits Reveal the Low Rank Structure of
    Language Models", §4 (time-varying ISAN, Theorem 4.3).
    """

    def __init__(self, A: np.ndarray, B: np.ndarray, x0: np.ndarray):
        A = _check_finite("A", A)
        B = _check_finite("B", B)
        x0 = _check_finite("x0", x0)
        if A.ndim != 4 or A.shape[2] != A.shape[3]:
            raise InvalidInputError(f"A must have shape (T, V, d, d), got {A.shape}")
        T, V, d, _ = A.shape
        if B.shape != (T, V, d):
            raise InvalidInputError(f"B must have shape (T, V, d) = {(T, V, d)}, got {B.shape}")
        if x0.shape != (d,):
            raise InvalidInputError(f"x0 must have shape (d,) = ({d},), got {x0.shape}")
        if T < 1 or V < 2 or d < 1:
            raise InvalidInputError(f"need T >= 1, V >= 2, d >= 1, got T={T}, V={V}, d={d}")
        self.A, self.B, self.x0 = A, B, x0
        self.vocab_size, self.horizon, self.dim = V, T, d

    def states(self, prefixes) -> np.ndarray:
        """Hidden states x_t after each prefix, shape ``(n, d)``."""
        arr = self.validate_prefixes(prefixes)
        x = np.broadcast_to(self.x0, (arr.shape[0], self.dim)).copy()
        for j in range(arr.shape[1]):
            x = np.einsum("nij,nj->ni", self.A[j, arr[:, j]], x)
        return x

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        x = self.states(prefixes)
        return x @ self.B[prefixes.shape[1]].T


class HiddenMarkovModel(SequenceModel):
    """Hidden Markov model with k hidden states and V observable tokens.

    ``P(z_1..z_t) = π^T O_{z_1} T O_{z_2} … 1`` with emission-then-transition order:
    state s_1 ~ π, z_t ~ emission[s_t], s_{t+1} ~ transition[s_t].

    Parameters
    ----------
    initial : (k,)  — π, a probability vector.
    transition : (k, k) — row-stochastic.
    emission : (k, V) — row-stochastic.
    horizon : int or None — optional sequence length T.
    """

    def __init__(self, initial, transition, emission, horizon: int | None = None):
        pi = _check_finite("initial", initial)
        Tm = _check_finite("transition", transition)
        O = _check_finite("emission", emission)
        k = pi.shape[0]
        if Tm.shape != (k, k) or O.ndim != 2 or O.shape[0] != k:
            raise InvalidInputError(
                f"shapes disagree: initial {pi.shape}, transition {Tm.shape}, emission {O.shape}; "
                f"need (k,), (k, k), (k, V)")
        for name, M in (("initial", pi[None]), ("transition", Tm), ("emission", O)):
            if np.any(M < 0) or not np.allclose(M.sum(axis=-1), 1.0, atol=1e-9):
                raise InvalidInputError(f"{name} must be non-negative with rows summing to 1")
        if horizon is not None and horizon < 1:
            raise InvalidInputError(f"horizon must be >= 1 or None, got {horizon}")
        self.initial, self.transition, self.emission = pi, Tm, O
        self.vocab_size, self.horizon, self.n_states = O.shape[1], horizon, k

    def beliefs(self, prefixes) -> np.ndarray:
        """Predictive distribution of the hidden state at the next step, ``(n, k)``."""
        arr = self.validate_prefixes(prefixes)
        b = np.broadcast_to(self.initial, (arr.shape[0], self.n_states)).copy()
        for j in range(arr.shape[1]):
            b = b * self.emission[:, arr[:, j]].T
            b /= b.sum(axis=1, keepdims=True)
            b = b @ self.transition
        return b

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        p = self.beliefs(prefixes) @ self.emission
        with np.errstate(divide="ignore"):
            # A token with probability exactly 0 would give −inf; clip to keep logits finite.
            return np.log(np.maximum(p, 1e-300))


class NoisyParity(SequenceModel):
    """Noisy parity over n bits: n uniform bits, then parity(S) ⊕ Bernoulli(η).

    Alphabet {0, 1}, horizon T = n + 1. The hidden subset S ⊆ {0..n−1} is given as a 0/1
    mask. The model is a time-varying ISAN of dimension 1 (cut-wise logit rank ≤ 1): the
    only non-zero centered logits are at the last step, ±(1/2)·log((1−η)/η)·(−1)^{⟨S, x⟩},
    a product of a history sign and a future sign.

    References
    ----------
    Golowich, Liu, Shetty (2025) §4 (expressivity; hardness via learning parity with noise).
    """

    def __init__(self, n_bits: int, noise: float, subset) -> None:
        if n_bits < 1:
            raise InvalidInputError(f"n_bits must be >= 1, got {n_bits}")
        if not (0.0 < noise < 0.5):
            raise InvalidInputError(f"noise rate η must lie in (0, 1/2), got {noise}")
        mask = np.asarray(subset, dtype=np.int64)
        if mask.shape != (n_bits,) or not np.isin(mask, (0, 1)).all():
            raise InvalidInputError(f"subset must be a 0/1 mask of length n_bits={n_bits}")
        self.n_bits, self.noise, self.subset = n_bits, float(noise), mask
        self.vocab_size, self.horizon = 2, n_bits + 1

    @classmethod
    def random(cls, n_bits: int, noise: float, rng: np.random.Generator) -> "NoisyParity":
        """A noisy parity with a uniformly random non-empty hidden subset."""
        mask = np.zeros(n_bits, dtype=np.int64)
        while not mask.any():
            mask = rng.integers(0, 2, n_bits)
        return cls(n_bits, noise, mask)

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        n, t = prefixes.shape
        out = np.zeros((n, 2))
        if t == self.n_bits:
            parity = (prefixes @ self.subset) % 2
            half = 0.5 * np.log((1 - self.noise) / self.noise)
            out[np.arange(n), parity] = half
            out[np.arange(n), 1 - parity] = -half
        return out


class TabularSequenceModel(SequenceModel):
    """A model given by a table ``{prefix tuple: logit vector}`` for every prefix of length < T."""

    def __init__(self, table: Mapping[tuple[int, ...], np.ndarray], vocab_size: int, horizon: int):
        self.table = {tuple(int(t) for t in k): np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self.vocab_size, self.horizon = int(vocab_size), int(horizon)

    @classmethod
    def from_model(cls, model: SequenceModel, horizon: int | None = None) -> "TabularSequenceModel":
        """Tabulate every prefix of another model (small |Σ| and T only)."""
        T = horizon or model.horizon
        if T is None:
            raise InvalidInputError("the model has no horizon; pass horizon=T")
        table = {}
        for t in range(T):
            prefixes = all_sequences(model.vocab_size, t)
            for p, row in zip(prefixes, model.next_token_logits(prefixes)):
                table[tuple(p.tolist())] = row
        return cls(table, model.vocab_size, T)

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        try:
            return np.stack([self.table[tuple(p.tolist())] for p in prefixes])
        except KeyError as exc:
            raise InvalidInputError(f"prefix {list(exc.args[0])} is not in the model's table") from None
