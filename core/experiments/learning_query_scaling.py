"""Logit queries of the query learner on random ISANs as d, T and ε vary.

References
----------
Golowich, Liu, Shetty (2025b), Theorem 5.11: TV ≤ ε from poly(d, |Σ|, T, 1/ε) logit
queries (Õ(T^13 d^4/ε^4) as published).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from logitrank.experiments._base import Experiment, SavedResult, from_record
from logitrank.sim.learning import LearningRun, query_scaling

__all__ = ["QueryScalingConfig", "QueryScalingResult", "learning_run_from_dict", "compute", "EXPERIMENT"]

SWEEPS = ("dim", "horizon", "epsilon")


@dataclasses.dataclass(frozen=True)
class QueryScalingConfig:
    """The base setting and the three one-parameter sweeps (d, T, ε), seeds per point."""

    vocab_size: int = 4
    base_horizon: int = 5
    base_dim: int = 2
    base_epsilon: float = 0.05
    dims: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    horizons: tuple[int, ...] = (2, 3, 4, 5, 6, 7)
    epsilons: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025)
    n_seeds: int = 5


PROFILES = {"quick": QueryScalingConfig(),
            "full": QueryScalingConfig(dims=(1, 2, 3, 4, 6, 8, 12, 16),
                                       epsilons=(0.4, 0.2, 0.1, 0.05, 0.025, 0.0125), n_seeds=20)}


def learning_run_from_dict(record: dict) -> LearningRun:
    """A :class:`~logitrank.sim.learning.LearningRun` from its JSON record."""
    return from_record(LearningRun, record)


@dataclasses.dataclass(frozen=True)
class QueryScalingResult(SavedResult):
    """The runs of each sweep: varying d, varying T, varying ε."""

    RECORD = "scaling.json"
    dim: tuple[LearningRun, ...]
    horizon: tuple[LearningRun, ...]
    epsilon: tuple[LearningRun, ...]

    def sweep(self, key: str) -> tuple[LearningRun, ...]:
        """The runs of sweep ``key`` (``"dim"``, ``"horizon"`` or ``"epsilon"``)."""
        return getattr(self, key)


def compute(config: QueryScalingConfig, out_dir: Path | None = None, inputs=None) -> QueryScalingResult:
    """Fit the learner along each sweep (:func:`logitrank.sim.learning.query_scaling`)."""
    res = query_scaling(**dataclasses.asdict(config))
    return QueryScalingResult(**{k: tuple(res[k]) for k in SWEEPS})


EXPERIMENT = Experiment(
    name="learning_query_scaling", lens="logits", order=200,
    title="Query learner on random ISANs: logit queries vs d, T and ε (against the theorem's polynomial)",
    profiles=PROFILES, compute=compute, result_type=QueryScalingResult, figure_module="learning_scaling")
