"""Random ensembles of synthetic models with known structure (seeded).

Every sampler takes a ``numpy.random.Generator`` so that runs are reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ortho_group

from logitrank.errors import InvalidInputError
from logitrank.theory.models import HiddenMarkovModel, NoisyParity, TimeVaryingISAN

__all__ = ["random_isan", "random_hmm", "random_noisy_parity", "power_law_spectrum", "power_law_matrix"]


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    return rng


def random_isan(vocab_size: int, horizon: int, dim: int, rng: np.random.Generator, *,
                logit_scale: float = 2.0, contraction: float = 1.0) -> TimeVaryingISAN:
    """A random time-varying ISAN.

    A_{z,t} are random orthogonal matrices times ``contraction`` (so states neither blow up
    nor vanish over the horizon), B_t has i.i.d. N(0, logit_scale²/d) entries and x_0 is a
    uniform unit vector: logits are O(logit_scale) at every step.
    """
    rng = _check_rng(rng)
    if vocab_size < 2 or horizon < 1 or dim < 1:
        raise InvalidInputError(f"need vocab_size >= 2, horizon >= 1, dim >= 1; got "
                                f"{vocab_size}, {horizon}, {dim}")
    if dim == 1:
        A = rng.choice([-1.0, 1.0], size=(horizon, vocab_size, 1, 1)) * contraction
    else:
        A = ortho_group.rvs(dim, size=horizon * vocab_size, random_state=rng).reshape(
            horizon, vocab_size, dim, dim) * contraction
    B = rng.normal(scale=logit_scale / np.sqrt(dim), size=(horizon, vocab_size, dim))
    x0 = rng.normal(size=dim)
    x0 /= np.linalg.norm(x0)
    return TimeVaryingISAN(A, B, x0 * np.sqrt(dim))


def random_hmm(n_states: int, vocab_size: int, rng: np.random.Generator, *,
               concentration: float = 1.0, horizon: int | None = None) -> HiddenMarkovModel:
    """A random HMM with Dirichlet(concentration) rows for π, transitions and emissions."""
    rng = _check_rng(rng)
    if n_states < 1 or vocab_size < 2:
        raise InvalidInputError(f"need n_states >= 1 and vocab_size >= 2, got {n_states}, {vocab_size}")
    pi = rng.dirichlet(np.full(n_states, concentration))
    T = rng.dirichlet(np.full(n_states, concentration), size=n_states)
    O = rng.dirichlet(np.full(vocab_size, concentration), size=n_states)
    return HiddenMarkovModel(pi, T, O, horizon=horizon)


def random_noisy_parity(n_bits: int, noise: float, rng: np.random.Generator) -> NoisyParity:
    """Noisy parity over ``n_bits`` with a uniformly random non-empty hidden subset."""
    return NoisyParity.random(n_bits, noise, _check_rng(rng))


def power_law_spectrum(n: int, alpha: float, scale: float = 1.0) -> np.ndarray:
    """σ_i = scale · i^(−α), i = 1 … n."""
    if n < 1 or alpha < 0:
        raise InvalidInputError(f"need n >= 1 and alpha >= 0, got n={n}, alpha={alpha}")
    return scale * np.arange(1, n + 1, dtype=np.float64) ** (-alpha)


def power_law_matrix(n_rows: int, n_cols: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """A random matrix U diag(i^(−α)) Vᵀ with Haar-random orthonormal U, V."""
    rng = _check_rng(rng)
    r = min(n_rows, n_cols)
    U, _ = np.linalg.qr(rng.normal(size=(n_rows, r)))
    V, _ = np.linalg.qr(rng.normal(size=(n_cols, r)))
    return (U * power_law_spectrum(r, alpha)) @ V.T
