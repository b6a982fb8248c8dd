"""LINGEN against its baselines on random time-varying ISANs (exact) and random HMMs.

References
----------
Golowich, Liu, Shetty (2025), Algorithm 1 (LINGEN) and its exactness on models of low
logit rank; per-step KL(P_true ‖ P_method) along the method's own samples.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.experiments import lingen_synthetic

__all__ = ["LingenSyntheticConfig", "MethodKL", "LingenSyntheticResult", "compute", "EXPERIMENT"]

FAMILIES = ("isan", "hmm")
METHODS = ("lingen", "next_token_only", "last_m_tokens")


@dataclasses.dataclass(frozen=True)
class LingenSyntheticConfig:
    """Model family sizes, history/future sets, generation length and samples, baseline window m."""

    vocab_size: int = 4
    horizon: int = 12
    dim: int = 4
    history_length: int = 5
    n_histories: int = 12
    n_futures: int = 21
    n_models: int = 6
    n_steps: int = 7
    n_samples: int = 5
    last_m: int = 2
    seed: int = 0
    hmm_concentration: float = 0.3


PROFILES = {"quick": LingenSyntheticConfig(),
            "full": LingenSyntheticConfig(n_histories=24, n_models=20, n_samples=10)}


@dataclasses.dataclass(frozen=True)
class MethodKL:
    """Per-step KL arrays, each (n_models, n_steps), of LINGEN and its two baselines on one family."""

    lingen: np.ndarray
    next_token_only: np.ndarray
    last_m_tokens: np.ndarray

    def methods(self) -> tuple[tuple[str, np.ndarray], ...]:
        """``(method name, per-step KL)`` pairs in plotting order."""
        return tuple((m, getattr(self, m)) for m in METHODS)


@dataclasses.dataclass(frozen=True)
class LingenSyntheticResult(SavedResult):
    """Per-step KL per family (ISAN, HMM) and method, and the setting it was measured in."""

    ARRAYS = "lingen.npz"
    isan: MethodKL
    hmm: MethodKL
    vocab_size: int
    horizon: int
    dim: int
    n_histories: int
    n_futures: int
    n_models: int
    n_samples: int
    last_m: int

    @property
    def n_steps(self) -> int:
        return int(self.isan.lingen.shape[1])


def compute(config: LingenSyntheticConfig, out_dir: Path | None = None, inputs=None) -> LingenSyntheticResult:
    """Per-step KL of each method (:func:`logitrank.sim.experiments.lingen_synthetic`)."""
    res = lingen_synthetic(**dataclasses.asdict(config))
    fams = {fam: MethodKL(**{m: res[f"{fam}/{m}"] for m in METHODS}) for fam in FAMILIES}
    return LingenSyntheticResult(**fams, **{f.name: res[f.name] for f in dataclasses.fields(LingenSyntheticResult)
                                            if f.name not in FAMILIES})


EXPERIMENT = Experiment(
    name="lingen_synthetic", lens="logits", order=120,
    title="LINGEN vs baselines on random ISANs (exact) and HMMs",
    profiles=PROFILES, compute=compute, result_type=LingenSyntheticResult, figure_module="lingen_synthetic")
