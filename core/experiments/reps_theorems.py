"""Log-odds matching ⇒ parallel steering vectors; gradient descent aligns them (numerical theorem checks).

Thm 3 on the exact log-odds-matching construction (with a perturbed control that must fail),
and the gradient-descent trajectories of Thms 4, 12 and 14 (closed-form NumPy GD).

References
----------
Jiang et al. (2024), "On the Origins of Linear Representations in Large Language Models",
Thms 3, 4, 12 and 14 (and Remark 6 for the Gaussian start).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.concept_training import gd_exponential_alignment, gd_fixed_embedding_alignment, gd_joint_alignment
from logitrank.theory.concepts import (
    LatentConceptModel,
    log_odds_matching_residual,
    log_odds_matching_tables,
    mean_pairwise_cosine,
    projected_steering_vectors,
    steering_cosines,
    unembedding_steering_vectors,
)

__all__ = ["TheoremsConfig", "TheoremsResult", "compute", "EXPERIMENT"]

TRAJECTORIES = ("thm12", "thm14", "thm14_gauss", "thm4")
FIELDS = ("steps", "loss", "cos_within", "cos_embedding")


@dataclasses.dataclass(frozen=True)
class TheoremsConfig:
    """Concept counts and extra dimensions of Thm 3; GD steps and sizes of Thms 12, 14 and 4; one seed."""

    thm3_ms: tuple[int, ...] = (3, 4, 5, 6)
    thm3_extra_dims: int = 4
    thm12_steps: int = 4000
    thm14_vectors: int = 8
    thm14_dim: int = 12
    thm14_steps: int = 20000
    thm4_m: int = 4
    thm4_steps: int = 20000
    seed: int = 0


PROFILES = {"quick": TheoremsConfig(), "full": TheoremsConfig(thm14_steps=200000, thm4_steps=200000)}


@dataclasses.dataclass(frozen=True)
class TheoremsResult(SavedResult):
    """Thm 3 rows per m, the final state of each GD run, and the trajectories ``"<run>_<field>"``."""

    ARRAYS, RECORD = "trajectories.npz", "theorems.json"

    thm3: tuple[dict, ...]
    gd: dict[str, dict]
    trajectories: dict[str, np.ndarray]

    def trajectory(self, run: str, field: str) -> np.ndarray:
        """``field`` (steps, loss, cos_within, cos_embedding) along GD run ``run``."""
        return self.trajectories[f"{run}_{field}"]


def compute(config: TheoremsConfig, out_dir: Path | None = None, inputs=None) -> TheoremsResult:
    """Thm 3 on the exact construction, and the GD trajectories of Thms 4, 12, 14."""
    rng = np.random.default_rng(config.seed)
    thm3 = []
    for m in config.thm3_ms:
        probs = rng.uniform(0.3, 0.7, size=m)
        model = LatentConceptModel.independent(probs)
        F, G = log_odds_matching_tables(model, extra_dims=config.thm3_extra_dims, rng=rng)
        res = log_odds_matching_residual(F, G, model)
        raw = [mean_pairwise_cosine(unembedding_steering_vectors(G, i)) for i in range(m)]
        proj = [mean_pairwise_cosine(projected_steering_vectors(F, G, i)) for i in range(m)]
        # Perturb G: log-odds matching breaks and so does parallelism (the theorem's converse direction
        # is not claimed; this shows the check can fail).
        Gp = G + 0.3 * rng.standard_normal(G.shape)
        thm3.append({"m": m, "residual_max": float(res.max()), "raw_cos_mean": float(np.mean(raw)),
                     "projected_cos_min": float(np.min(proj)),
                     "perturbed_residual_max": float(log_odds_matching_residual(F, Gp, model).max()),
                     "perturbed_projected_cos_min": float(min(mean_pairwise_cosine(projected_steering_vectors(F, Gp, i))
                                                              for i in range(m))),
                     "across_abs": float(steering_cosines(F, G).means()["across_abs"])})
    u0, v0 = rng.standard_normal(6), rng.standard_normal(6)
    t12 = gd_exponential_alignment(u0, v0, n_steps=config.thm12_steps, log_every=20)
    every14 = max(1, config.thm14_steps // 200)
    t14 = gd_joint_alignment(config.thm14_vectors, config.thm14_dim, n_steps=config.thm14_steps, log_every=every14,
                             rng=rng)
    t14g = gd_joint_alignment(config.thm14_vectors, config.thm14_dim, n_steps=config.thm14_steps, log_every=every14,
                              rng=rng, orthogonal_init=False)
    t4 = gd_fixed_embedding_alignment(config.thm4_m, n_steps=config.thm4_steps,
                                      log_every=max(1, config.thm4_steps // 200), rng=rng)
    runs = dict(zip(TRAJECTORIES, (t12, t14, t14g, t4)))
    final = {name: {"cos_within": float(tr.cos_within[-1]), "cos_embedding": float(tr.cos_embedding[-1]),
                    "cos_embedding_monotone": bool(np.all(np.diff(tr.cos_embedding) >= -1e-12)),
                    "loss": float(tr.loss[-1])} for name, tr in runs.items()}
    return TheoremsResult(thm3=tuple(thm3), gd=final,
                          trajectories={f"{name}_{f}": getattr(tr, f) for name, tr in runs.items() for f in FIELDS})


EXPERIMENT = Experiment(
    name="reps_theorems", lens="representations", order=401,
    title="Log-odds matching ⇒ parallel steering vectors; gradient descent aligns them (Jiang et al. Thms 3, 4, 12, 14)",
    profiles=PROFILES, compute=compute, result_type=TheoremsResult, figure_module="reps_theorems")
