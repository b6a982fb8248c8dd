"""Figure: LINGEN on SmolLM2 with real-text and nonsense histories (15 steps) and the |H| sweep."""

from __future__ import annotations

from pathlib import Path

from logitrank.experiments import Claim
from logitrank.experiments.real_lingen import RealLingenResult  # noqa: F401  (the result this figure reads)
from logitrank.paper_figs._lingen import claims as lingen_claims
from logitrank.paper_figs._lingen import plot as lingen_plot

NAME = "real_lingen"


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    return lingen_plot(results_dir, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    return lingen_claims(results_dir, NAME)
