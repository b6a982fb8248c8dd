"""Cut-wise logit rank vs hidden dimension of random time-varying ISANs (and HMMs for contrast).

References
----------
Golowich, Liu, Shetty (2025), Theorem 4.3 ("only if"): every cut-wise logit matrix of a
time-varying ISAN of dimension d has rank ≤ d.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.experiments import cutwise_rank_vs_dimension

__all__ = ["CutwiseRankConfig", "CutwiseRankResult", "compute", "EXPERIMENT"]

@dataclasses.dataclass(frozen=True)
class CutwiseRankConfig:
    """Alphabet, horizon, ISAN dimensions d, seeds per d, HMM state counts, base seed."""

    vocab_size: int = 3
    horizon: int = 6
    dims: tuple[int, ...] = tuple(range(1, 9))
    n_seeds: int = 4
    hmm_states: tuple[int, ...] = (2, 3)
    seed: int = 0


PROFILES = {"quick": CutwiseRankConfig(),
            "full": CutwiseRankConfig(horizon=7, dims=tuple(range(1, 11)), n_seeds=10, hmm_states=(2, 3, 4))}


@dataclasses.dataclass(frozen=True)
class CutwiseRankResult(SavedResult):
    """Max cut-wise rank per (d, seed), per-cut ranks, HMM max ranks per (k, seed), rank caps per cut."""

    ARRAYS = "cutwise.npz"
    dims: np.ndarray               # (n_dims,)
    isan_max_rank: np.ndarray      # (n_dims, n_seeds)
    isan_rank_per_cut: np.ndarray  # (n_dims, n_seeds, horizon)
    hmm_states: np.ndarray         # (n_hmm,)
    hmm_max_rank: np.ndarray       # (n_hmm, n_seeds)
    max_possible_rank: np.ndarray  # (horizon,)
    vocab_size: int
    horizon: int


def compute(config: CutwiseRankConfig, out_dir: Path | None = None, inputs=None) -> CutwiseRankResult:
    """Ranks of seeded random ISANs and HMMs (:func:`logitrank.sim.experiments.cutwise_rank_vs_dimension`)."""
    res = cutwise_rank_vs_dimension(**dataclasses.asdict(config))
    return CutwiseRankResult(**{f.name: res[f.name] for f in dataclasses.fields(CutwiseRankResult)})


EXPERIMENT = Experiment(
    name="cutwise_rank_vs_dimension", lens="logits", order=100,
    title="Cut-wise logit rank vs hidden dimension (random ISANs, HMMs)",
    profiles=PROFILES, compute=compute, result_type=CutwiseRankResult, figure_module="cutwise_rank")
