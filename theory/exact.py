"""Exact rational arithmetic for the logit-rank theory (SymPy).

For a time-varying ISAN with rational parameters the centered logits P B_{t+1} x_h are
rational (P = I − 11ᵀ/|Σ| is the centering projector), so the cut-wise logit matrix can be
built in ℚ and its rank computed exactly — no tolerance involved.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from logitrank.errors import InvalidInputError
from logitrank.theory.enumeration import all_sequences
from logitrank.theory.logit_matrix import cutwise_futures
from logitrank.theory.models import TimeVaryingISAN

__all__ = [
    "RationalISAN",
    "exact_rank",
    "exact_cutwise_logit_matrix",
    "exact_cutwise_ranks",
    "centered_log_probs_equal_centered_logits",
]


def _to_fraction_array(x) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    return np.vectorize(lambda v: Fraction(v) if not isinstance(v, sympy.Rational)
                        else Fraction(int(v.p), int(v.q)), otypes=[object])(arr)


class RationalISAN:
    """A time-varying ISAN whose parameters are exact rationals (``fractions.Fraction``).

    Shapes as in :class:`~logitrank.theory.models.TimeVaryingISAN`: A (T, V, d, d),
    B (T, V, d), x0 (d,).
    """

    def __init__(self, A, B, x0):
        self.A, self.B, self.x0 = _to_fraction_array(A), _to_fraction_array(B), _to_fraction_array(x0)
        self.horizon, self.vocab_size, self.dim = self.A.shape[0], self.A.shape[1], self.A.shape[2]
        if self.B.shape != (self.horizon, self.vocab_size, self.dim) or self.x0.shape != (self.dim,):
            raise InvalidInputError(f"inconsistent shapes A {self.A.shape}, B {self.B.shape}, x0 {self.x0.shape}")

    @classmethod
    def random(cls, vocab_size: int, horizon: int, dim: int, rng: np.random.Generator,
               max_numerator: int = 3, max_denominator: int = 4) -> "RationalISAN":
        """Random small rationals p/q with |p| ≤ max_numerator, 1 ≤ q ≤ max_denominator."""
        def draw(shape):
            p = rng.integers(-max_numerator, max_numerator + 1, size=shape)
            q = rng.integers(1, max_denominator + 1, size=shape)
            return np.vectorize(lambda a, b: Fraction(int(a), int(b)), otypes=[object])(p, q)
        return cls(draw((horizon, vocab_size, dim, dim)), draw((horizon, vocab_size, dim)), draw((dim,)))

    def to_float(self) -> TimeVaryingISAN:
        """The same model with float64 parameters."""
        f = np.vectorize(float, otypes=[np.float64])
        return TimeVaryingISAN(f(self.A), f(self.B), f(self.x0))

    def exact_centered_logits(self, sequence) -> np.ndarray:
        """Centered next-token logits after ``sequence``, as an object array of Fractions."""
        x = self.x0.copy()
        for j, z in enumerate(sequence):
            x = self.A[j, int(z)].dot(x)
        logits = self.B[len(sequence)].dot(x)
        return logits - sum(logits, Fraction(0)) / self.vocab_size


def exact_rank(matrix) -> int:
    """Exact rank of a matrix of rationals (Fraction / int / sympy.Rational entries)."""
    rows = [[QQ(int(Fraction(v).numerator), int(Fraction(v).denominator)) for v in row] for row in matrix]
    if not rows or not rows[0]:
        return 0
    return int(DomainMatrix(rows, (len(rows), len(rows[0])), QQ).rank())


def exact_cutwise_logit_matrix(isan: RationalISAN, t: int) -> np.ndarray:
    """The cut-wise logit matrix L(Σ^t, Σ^{≤T−t−1}) in exact rational arithmetic."""
    if not (0 <= t <= isan.horizon - 1):
        raise InvalidInputError(f"cut t={t} is out of range: need 0 <= t <= {isan.horizon - 1}")
    futures = cutwise_futures(isan.vocab_size, isan.horizon, t)
    rows = []
    for h in all_sequences(isan.vocab_size, t):
        rows.append(np.concatenate([isan.exact_centered_logits(np.concatenate([h, f])) for f in futures]))
    return np.array(rows, dtype=object)


def exact_cutwise_ranks(isan: RationalISAN) -> list[int]:
    """Exact rank of every cut-wise logit matrix, t = 0 … T−1."""
    return [exact_rank(exact_cutwise_logit_matrix(isan, t)) for t in range(isan.horizon)]


def centered_log_probs_equal_centered_logits(vocab_size: int) -> bool:
    """Symbolic check of Def. 2.1: centering log-softmax(ℓ) gives ℓ − mean(ℓ).

    With symbols ℓ_1..ℓ_V, log P(z) = ℓ_z − log Σ exp ℓ; the log-normaliser is common to
    every z, so it cancels in the centering. Returns True iff SymPy simplifies every
    difference to exactly zero.
    """
    if vocab_size < 1:
        raise InvalidInputError(f"vocab_size must be >= 1, got {vocab_size}")
    ell = sympy.symbols(f"l0:{vocab_size}", real=True)
    log_z = sympy.log(sum(sympy.exp(v) for v in ell))
    logp = [v - log_z for v in ell]
    mean_logp = sum(logp) / vocab_size
    mean_l = sum(ell) / vocab_size
    return all(sympy.simplify((lp - mean_logp) - (v - mean_l)) == 0 for lp, v in zip(logp, ell))
