"""The α = 1/2 phase transition: rank needed for a fixed relative error vs matrix size.

References
----------
Golowich, Liu, Shetty (2025), §3.1: for spectra σ_i = i^(−α) a constant rank suffices at
any size iff α > 1/2; below 1/2 the needed rank grows in proportion to the size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.io import atomic_write_json
from logitrank.sim.experiments import phase_transition_ranks

__all__ = ["PhaseTransitionConfig", "PhaseTransitionResult", "compute", "EXPERIMENT"]

def log_sizes(top: int) -> tuple[int, ...]:
    """Sizes N from 10^2 to 10^top, six per decade (log-spaced, rounded down, distinct)."""
    return tuple(int(n) for n in np.unique(np.logspace(2, top, 6 * (top - 2) + 1).astype(int)))


@dataclasses.dataclass(frozen=True)
class PhaseTransitionConfig:
    """Exponents α, matrix sizes N, and the relative Frobenius error to reach."""

    alphas: tuple[float, ...] = (0.3, 0.4, 0.45, 0.55, 0.6, 0.8, 1.0)
    sizes: tuple[int, ...] = log_sizes(6)
    rel_err: float = 0.3


PROFILES = {"quick": PhaseTransitionConfig(), "full": PhaseTransitionConfig(sizes=log_sizes(7))}


@dataclasses.dataclass(frozen=True)
class PhaseTransitionResult(SavedResult):
    """Needed ranks and their continuum prediction per (α, N), and the last-decade log-log slope per α."""

    ARRAYS = "phase.npz"
    alphas: np.ndarray             # (n_alphas,)
    sizes: np.ndarray              # (n_sizes,)
    ranks: np.ndarray              # (n_alphas, n_sizes)
    predicted: np.ndarray          # (n_alphas, n_sizes)
    last_decade_slope: np.ndarray  # (n_alphas,)
    rel_err: float

    def save(self, out_dir: Path) -> None:
        """``phase.npz`` (every field) and ``summary.json`` (the slopes, for people)."""
        super().save(out_dir)
        atomic_write_json(Path(out_dir) / "summary.json", {"last_decade_slope": dict(
            zip(map(str, self.alphas), self.last_decade_slope))})


def compute(config: PhaseTransitionConfig, out_dir: Path | None = None, inputs=None) -> PhaseTransitionResult:
    """Exact needed ranks (:func:`logitrank.sim.experiments.phase_transition_ranks`)."""
    res = phase_transition_ranks(**dataclasses.asdict(config))
    return PhaseTransitionResult(**{f.name: res[f.name] for f in dataclasses.fields(PhaseTransitionResult)})


EXPERIMENT = Experiment(
    name="alpha_phase_transition", lens="logits", order=110,
    title="Rank needed for fixed relative error vs matrix size: the α = 1/2 transition",
    profiles=PROFILES, compute=compute, result_type=PhaseTransitionResult, figure_module="phase_transition")
