"""Noisy parity: the query learner (poly(n) logit queries) against the spectral learner from samples.

References
----------
Golowich, Liu, Shetty (2025b), §1 and Theorem 5.11: noisy parity has logit rank 1 and is
learnable from logit queries, while learning it from samples is learning parity with noise.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.learning import parity_comparison, spectral_samples_needed

__all__ = ["NoisyParityConfig", "ParityRow", "SpectralNeed", "NoisyParityResult", "compute", "EXPERIMENT"]

@dataclasses.dataclass(frozen=True)
class NoisyParityConfig:
    """Bit counts and seeds of the comparison; bit counts and sample cap of the spectral-need search."""

    n_bits: tuple[int, ...] = (4, 6, 8, 10, 12, 14, 16, 18, 20)
    seeds: tuple[int, ...] = (0, 1)
    noise: float = 0.1
    epsilon: float = 0.05
    needed_n_bits: tuple[int, ...] = (4, 6, 8, 10)
    needed_max_samples: int = 16_000


PROFILES = {"quick": NoisyParityConfig(),
            "full": NoisyParityConfig(n_bits=tuple(range(4, 25, 2)), seeds=(0, 1, 2, 3, 4),
                                      needed_n_bits=(4, 6, 8, 10, 12), needed_max_samples=256_000)}


@dataclasses.dataclass(frozen=True)
class ParityRow:
    """One (n, seed): both learners' budgets and TVs (:func:`logitrank.sim.learning.parity_comparison`)."""

    n_bits: int
    seed: int
    noise: float
    subset_size: int
    query_queries: int
    query_samples: int
    budget: int
    query_tv: float
    query_tv_stderr: float
    query_converged: bool
    spectral_samples: int
    spectral_tv: float
    spectral_tv_stderr: float
    tv_method: str
    query_seconds: float
    spectral_seconds: float
    tv_uniform_last_bit: float


@dataclasses.dataclass(frozen=True)
class SpectralNeed:
    """Samples the spectral learner needs to reach the target TV (None: not by the cap), with its trace."""

    n_bits: int
    seed: int
    samples_needed: int | None
    trace: tuple[tuple[int, float], ...]
    reached: bool


@dataclasses.dataclass(frozen=True)
class NoisyParityResult(SavedResult):
    """The comparison rows, the spectral-need searches and the config."""

    RECORD = "parity.json"
    rows: tuple[ParityRow, ...]
    needed: tuple[SpectralNeed, ...]
    config: NoisyParityConfig


def compute(config: NoisyParityConfig, out_dir: Path | None = None, inputs=None) -> NoisyParityResult:
    """Both learners at every (n, seed), then the spectral learner's sample need per n."""
    rows = tuple(ParityRow(**parity_comparison(n, s, noise=config.noise, epsilon=config.epsilon))
                 for n in config.n_bits for s in config.seeds)
    needed = tuple(_need(spectral_samples_needed(n, 0, noise=config.noise, target=config.epsilon,
                                                 max_samples=config.needed_max_samples))
                   for n in config.needed_n_bits)
    return NoisyParityResult(rows=rows, needed=needed, config=config)


def _need(record: dict) -> SpectralNeed:
    return SpectralNeed(**{**record, "trace": tuple((int(n), float(tv)) for n, tv in record["trace"])})


EXPERIMENT = Experiment(
    name="learning_noisy_parity", lens="logits", order=220,
    title="Noisy parity: query learner (poly(n) queries) vs spectral learner (same budget in samples)",
    profiles=PROFILES, compute=compute, result_type=NoisyParityResult, figure_module="learning_parity")
