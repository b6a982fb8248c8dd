"""Simulations of the learning theory (Golowich, Liu, Shetty 2025b).

- :func:`query_scaling` — logit queries needed by :class:`QueryLearner` on random
  time-varying ISANs as the hidden dimension d, the horizon T and the target ε vary, with
  the exact TV reached. The theorem's bound is a polynomial (Õ(T^13 d^4/ε^4) as published,
  Õ(T^7 d^3/ε^2) in a third-party tightening); the figure compares measured log-log slopes
  with those exponents.
- :func:`noise_sweep` — exact TV of the learned model as the oracle error ξ grows.
- :func:`parity_comparison` — noisy parity over n bits: the query learner against the
  spectral (sample-only) learner given the same budget (its samples = the query learner's
  queries + samples). TV is exact by enumeration while 2^(n+1) ≤ ``exact_limit``
  (default 2^15) and otherwise estimated without bias from samples of the target
  (:func:`~logitrank.theory.tv_estimation.sampled_tv_distance`, standard error reported).
- :func:`spectral_samples_needed` — the smallest sample size (doubling) at which the
  spectral learner reaches the target TV on noisy parity, up to a cap.

The query learner on a real LM (SmolLM2 restricted to a few tokens) is application code and
lives in :mod:`logitrank.experiments.learning_smollm2`.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import random_isan, random_noisy_parity
from logitrank.theory.oracles import LogitQueryOracle, SampleOracle
from logitrank.theory.query_learner import QueryLearner
from logitrank.theory.spectral_learner import SpectralLearner
from logitrank.theory.tv_estimation import tv_distance

__all__ = ["LearningRun", "learn_random_isan", "query_scaling", "noise_sweep",
           "parity_comparison", "spectral_samples_needed"]


@dataclasses.dataclass(frozen=True)
class LearningRun:
    """One fit of a learner: its setting, cost and the TV reached."""

    learner: str
    vocab_size: int
    horizon: int
    dim: int
    epsilon: float
    noise: float
    seed: int
    queries: int
    samples: int
    tv: float
    tv_stderr: float
    tv_method: str
    epochs: int
    witnesses: int
    ranks: tuple
    converged: bool
    budget_exhausted: bool
    seconds: float


def _check_setting(vocab_size: int, horizon: int, dim: int) -> None:
    if vocab_size < 2 or horizon < 1 or dim < 1:
        raise InvalidInputError(f"need |Σ| >= 2, T >= 1, d >= 1; got |Σ|={vocab_size}, T={horizon}, d={dim}")
    if vocab_size ** horizon > (1 << 16):
        raise InvalidInputError(
            f"|Σ|^T = {vocab_size}^{horizon} is too large for exact TV in these sweeps (limit 2^16); "
            f"lower |Σ| or T")


def learn_random_isan(vocab_size: int, horizon: int, dim: int, seed: int, *, epsilon: float = 0.05,
                      noise: float = 0.0, **learner_kw) -> LearningRun:
    """Fit :class:`QueryLearner` to a seeded random ISAN and measure the exact TV."""
    _check_setting(vocab_size, horizon, dim)
    rng = np.random.default_rng(seed)
    M = random_isan(vocab_size, horizon, dim, rng)
    oracle = LogitQueryOracle(M, noise=noise, rng=np.random.default_rng([seed, 1]))
    t0 = time.perf_counter()
    learner = QueryLearner(epsilon=epsilon, **learner_kw).fit(
        oracle, SampleOracle(M, np.random.default_rng([seed, 2])))
    tv, se, how = tv_distance(M, learner.model_, exact_limit=1 << 16)
    return LearningRun("query", vocab_size, horizon, dim, epsilon, noise, seed, learner.n_queries_,
                       learner.n_samples_, tv, se, how, learner.n_epochs_, learner.n_witnesses_,
                       tuple(learner.ranks_), learner.converged_, learner.budget_exhausted_,
                       time.perf_counter() - t0)


def query_scaling(*, vocab_size: int = 3, base_horizon: int = 5, base_dim: int = 2,
                  base_epsilon: float = 0.05, dims=(1, 2, 3, 4, 6), horizons=(2, 3, 4, 5, 6, 7),
                  epsilons=(0.2, 0.1, 0.05, 0.025), n_seeds: int = 5) -> dict[str, list[LearningRun]]:
    """Queries and TV of the query learner along three one-parameter sweeps (d, T, ε)."""
    out: dict[str, list[LearningRun]] = {"dim": [], "horizon": [], "epsilon": []}
    for d in dims:
        out["dim"] += [learn_random_isan(vocab_size, base_horizon, d, s, epsilon=base_epsilon)
                       for s in range(n_seeds)]
    for T in horizons:
        out["horizon"] += [learn_random_isan(vocab_size, T, base_dim, s, epsilon=base_epsilon)
                           for s in range(n_seeds)]
    for eps in epsilons:
        out["epsilon"] += [learn_random_isan(vocab_size, base_horizon, base_dim, s, epsilon=eps)
                           for s in range(n_seeds)]
    return out


def noise_sweep(noises=(0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3), *, vocab_size: int = 3,
                horizon: int = 5, dim: int = 3, epsilon: float = 0.05,
                n_seeds: int = 5) -> list[LearningRun]:
    """Exact TV of the learned model against the oracle error ξ (same ISANs for every ξ)."""
    for xi in noises:
        if not xi >= 0:
            raise InvalidInputError(f"oracle noise must be >= 0, got {xi}")
    return [learn_random_isan(vocab_size, horizon, dim, s, epsilon=epsilon, noise=float(xi))
            for xi in noises for s in range(n_seeds)]


def parity_comparison(n_bits: int, seed: int, *, noise: float = 0.1, epsilon: float = 0.05,
                      exact_limit: int = 1 << 15, tv_samples: int = 4000,
                      spectral_rank: int = 2, spectral_basis: int = 256) -> dict:
    """Query learner vs spectral learner at equal budget on a random noisy parity.

    The spectral learner gets as many samples as the query learner used queries plus
    samples, and is told the true probability rank (2) of every cut's Hankel block.
    """
    if n_bits < 1:
        raise InvalidInputError(f"n_bits must be >= 1, got {n_bits}")
    M = random_noisy_parity(n_bits, noise, np.random.default_rng([seed, 0]))
    t0 = time.perf_counter()
    q = QueryLearner(epsilon=epsilon).fit(LogitQueryOracle(M), SampleOracle(M, np.random.default_rng([seed, 1])))
    tq = time.perf_counter() - t0
    budget = q.n_queries_ + q.n_samples_
    t0 = time.perf_counter()
    sp = SpectralLearner(budget, rank=spectral_rank, n_basis=spectral_basis).fit(
        SampleOracle(M, np.random.default_rng([seed, 2])))
    ts = time.perf_counter() - t0
    tvq = tv_distance(M, q.model_, exact_limit=exact_limit, n_samples=tv_samples,
                      rng=np.random.default_rng([seed, 3]))
    tvs = tv_distance(M, sp.model_, exact_limit=exact_limit, n_samples=tv_samples,
                      rng=np.random.default_rng([seed, 4]))
    return {"n_bits": n_bits, "seed": seed, "noise": noise, "subset_size": int(M.subset.sum()),
            "query_queries": q.n_queries_, "query_samples": q.n_samples_, "budget": budget,
            "query_tv": tvq[0], "query_tv_stderr": tvq[1], "query_converged": q.converged_,
            "spectral_samples": sp.n_samples_, "spectral_tv": tvs[0], "spectral_tv_stderr": tvs[1],
            "tv_method": tvq[2], "query_seconds": tq, "spectral_seconds": ts,
            "tv_uniform_last_bit": 0.5 * (1 - 2 * noise)}


def spectral_samples_needed(n_bits: int, seed: int, *, noise: float = 0.1, target: float = 0.05,
                            start: int = 250, max_samples: int = 64_000, spectral_rank: int = 2,
                            spectral_basis: int = 256) -> dict:
    """Smallest N = start·2^j ≤ max_samples at which the spectral learner reaches TV ≤ target."""
    M = random_noisy_parity(n_bits, noise, np.random.default_rng([seed, 0]))
    N, trace = start, []
    while N <= max_samples:
        sp = SpectralLearner(N, rank=spectral_rank, n_basis=spectral_basis).fit(
            SampleOracle(M, np.random.default_rng([seed, 5, N])))
        tv, se, how = tv_distance(M, sp.model_, n_samples=4000, rng=np.random.default_rng([seed, 6]))
        trace.append((N, tv))
        if tv <= target:
            return {"n_bits": n_bits, "seed": seed, "samples_needed": N, "trace": trace, "reached": True}
        N *= 2
    return {"n_bits": n_bits, "seed": seed, "samples_needed": None, "trace": trace, "reached": False}
