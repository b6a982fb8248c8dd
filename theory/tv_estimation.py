"""Total-variation distance by sampling, for horizons too long to enumerate.

For distributions P, Q on the same finite set,
TV(P, Q) = Σ_x (P(x) − Q(x))⁺ = E_{x∼P}[(1 − Q(x)/P(x))⁺],
so averaging (1 − Q(x)/P(x))⁺ over i.i.d. samples of P is an unbiased estimate with values
in [0, 1] (its standard error is reported). Both models only need exact sequence
probabilities (chain rule over next-token log-probs), which every SequenceModel has —
so this works for a 2^21-sequence noisy parity or a restricted real LM alike.
"""

from __future__ import annotations

import math

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.theory.enumeration import MAX_ENUMERATION, exact_tv_distance, sequence_log_prob
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["sampled_tv_distance", "tv_distance"]


def sampled_tv_distance(p_model: SequenceModel, q_model: SequenceModel, n_samples: int,
                        rng: np.random.Generator, T: int | None = None) -> tuple[float, float]:
    """Unbiased Monte-Carlo estimate of TV(P, Q) over Σ^T from samples of P.

    Returns ``(estimate, standard_error)``.
    """
    if p_model.vocab_size != q_model.vocab_size:
        raise InvalidInputError(
            f"models have different vocabularies ({p_model.vocab_size} vs {q_model.vocab_size})")
    T = T if T is not None else (p_model.horizon or q_model.horizon)
    if T is None or T < 1:
        raise InvalidInputError("need a horizon T >= 1 (pass T)")
    if n_samples < 2:
        raise InvalidInputError(f"n_samples must be >= 2, got {n_samples}")
    X = p_model.sample(int(n_samples), int(T), rng)
    lp = sequence_log_prob(p_model, X)
    lq = sequence_log_prob(q_model, X)
    vals = np.maximum(0.0, 1.0 - np.exp(lq - lp))
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(len(vals)))


def tv_distance(p_model: SequenceModel, q_model: SequenceModel, T: int | None = None, *,
                exact_limit: int = 1 << 15, n_samples: int = 4000,
                rng: np.random.Generator | None = None) -> tuple[float, float, str]:
    """TV(P, Q): exact by enumeration when |Σ|^T ≤ ``exact_limit``, else sampled.

    Returns ``(tv, standard_error, method)`` with method "exact" (error 0) or "sampled".
    """
    T = T if T is not None else (p_model.horizon or q_model.horizon)
    if T is None:
        raise InvalidInputError("need a horizon T (pass T)")
    if p_model.vocab_size ** T <= min(exact_limit, MAX_ENUMERATION):
        return exact_tv_distance(p_model, q_model, T), 0.0, "exact"
    if rng is None:
        raise InvalidInputError("sampled TV needs rng=np.random.default_rng(seed)")
    est, se = sampled_tv_distance(p_model, q_model, n_samples, rng, T)
    return est, se, "sampled"
