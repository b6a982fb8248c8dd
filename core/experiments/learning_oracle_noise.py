"""Exact TV of the query learner's model as the logit oracle's additive error ξ grows.

References
----------
Golowich, Liu, Shetty (2025b), Theorem 5.11: the guarantee holds for a logit oracle with
additive error ξ up to a tolerance Θ̃(ε/(T^3 d^1.5)).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.learning import LearningRun, noise_sweep

__all__ = ["OracleNoiseConfig", "OracleNoiseResult", "compute", "EXPERIMENT"]

@dataclasses.dataclass(frozen=True)
class OracleNoiseConfig:
    """Oracle errors ξ, the ISAN setting, target ε and seeds per ξ (the same ISANs for every ξ)."""

    noises: tuple[float, ...] = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
    vocab_size: int = 3
    horizon: int = 5
    dim: int = 3
    epsilon: float = 0.05
    n_seeds: int = 6


PROFILES = {"quick": OracleNoiseConfig(), "full": OracleNoiseConfig(n_seeds=20)}


@dataclasses.dataclass(frozen=True)
class OracleNoiseResult(SavedResult):
    """One run per (ξ, seed) and the config that produced them."""

    RECORD = "noise.json"
    config: OracleNoiseConfig
    runs: tuple[LearningRun, ...]


def compute(config: OracleNoiseConfig, out_dir: Path | None = None, inputs=None) -> OracleNoiseResult:
    """Fit the learner at every ξ and seed (:func:`logitrank.sim.learning.noise_sweep`)."""
    return OracleNoiseResult(config=config, runs=tuple(noise_sweep(**dataclasses.asdict(config))))


EXPERIMENT = Experiment(
    name="learning_oracle_noise", lens="logits", order=210,
    title="Query learner: TV of the learned model vs oracle error ξ",
    profiles=PROFILES, compute=compute, result_type=OracleNoiseResult, figure_module="learning_noise")
