"""``logitrank rank``: cut-wise logit ranks of a random time-varying ISAN."""

from __future__ import annotations

import numpy as np
import typer

from logitrank.sim.ensembles import random_isan
from logitrank.theory.logit_matrix import cutwise_ranks

__all__ = ["rank"]


def rank(
    vocab: int = typer.Option(3, help="Alphabet size |Σ|."),
    horizon: int = typer.Option(5, help="Horizon T."),
    dim: int = typer.Option(2, help="Hidden dimension d."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Cut-wise logit ranks of a random time-varying ISAN (Theorem 4.3: all ≤ d)."""
    model = random_isan(vocab, horizon, dim, np.random.default_rng(seed))
    typer.echo(f"cut-wise ranks t=0..{horizon - 1}: {cutwise_ranks(model)} (d = {dim})")
