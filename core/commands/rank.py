"""``logitrank rank``: cut-wise logit ranks of a random time-varying ISAN."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer

from logitrank.commands._options import Out, Seed
from logitrank.commands._output import OutDir
from logitrank.sim.ensembles import random_isan
from logitrank.theory.logit_matrix import cutwise_ranks

__all__ = ["rank"]


def rank(
    vocab: Annotated[int, typer.Option(help="Alphabet size |Σ|.")] = 3,
    horizon: Annotated[int, typer.Option(help="Horizon T.")] = 5,
    dim: Annotated[int, typer.Option(help="Hidden dimension d.")] = 2,
    seed: Seed = 0,
    out: Out = None,
) -> None:
    """Cut-wise logit ranks of a random time-varying ISAN (Theorem 4.3: all ≤ d)."""
    od = OutDir(out, "rank", dict(vocab=vocab, horizon=horizon, dim=dim, seed=seed))
    rec = od.open()
    if rec is None:
        model = random_isan(vocab, horizon, dim, np.random.default_rng(seed))
        ranks = [int(r) for r in cutwise_ranks(model)]
        rec = od.finish({"cutwise_ranks": ranks},
                        tables={"ranks.csv": (["t", "rank"], [[t, r] for t, r in enumerate(ranks)])})
    typer.echo(f"cut-wise ranks t=0..{horizon - 1}: {rec['outputs']['cutwise_ranks']} (d = {dim})")
