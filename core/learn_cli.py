"""``logitrank learn smollm2``: the query learner on a real LM (moves with the real-model commands).

The synthetic ``learn`` commands live in :mod:`logitrank.commands.learn`, which attaches
this one; this module goes away in step two of issue 10.
"""

from __future__ import annotations

from typing import Optional

import typer

__all__ = ["smollm2"]


def smollm2(
    tokens: Optional[list[str]] = typer.Option(None, "--token", help="Single-token texts of the alphabet "
                                               "(repeatable; default: ' red' ' green' ' blue' ' yellow')."),
    prompt: str = typer.Option("My favourite colours, in order:", help="Prompt conditioning every sequence."),
    horizon: int = typer.Option(4, help="Horizon T of the restricted model."),
    max_rank: Optional[int] = typer.Option(None, help="Cap d on the basis size per cut (default: none)."),
    tv_samples: int = typer.Option(300, help="Samples for the TV estimate."),
) -> None:
    """Query learner on SmolLM2 restricted to a few tokens (experimental; TV by sampling)."""
    from logitrank.experiments.learning_smollm2 import real_model_demo
    kw = {"token_texts": tuple(tokens)} if tokens else {}
    res = real_model_demo(prompt_text=prompt, horizon=horizon, max_ranks=(max_rank,), tv_samples=tv_samples, **kw)
    for r in res["runs"]:
        typer.echo(f"max_rank {r['max_rank']}: {r['queries']} queries, {r['samples']} samples, ranks {r['ranks']}, "
                   f"TV {r['tv']:.3f} ± {r['tv_stderr']:.3f} (sampled); all prefixes: {res['all_prefixes']}")
