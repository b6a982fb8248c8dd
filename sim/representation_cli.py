"""``logitrank reps …``: the representations lens from the command line."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="Representations lens: latent-concept simulation and concept directions in a real LM.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def simulate(
    m: int = typer.Option(4, help="Number of binary concepts (vocabulary 2^m)."),
    optimizer: str = typer.Option("sgd", help="sgd, adam or gd (full-batch on the exact loss)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default: sgd 0.1, adam 1e-3, gd 1.0)."),
    steps: int = typer.Option(5000, help="Optimiser steps."),
    seeds: int = typer.Option(3, help="Number of runs (seeds 0..n-1)."),
    edge_prob: float = typer.Option(0.5, help="Edge probability of the random DAG (0 = independent)."),
) -> None:
    """Train the latent-concept model and print within-concept cosines (Jiang et al. Tables 1-2)."""
    from logitrank.sim.concept_training import train_concept_models
    res = train_concept_models(m, seeds=range(seeds), optimizer=optimizer, lr=lr, n_steps=steps, edge_prob=edge_prob)
    for name, s in res.summary().items():
        typer.echo(f"{name:12s} mean {s['mean']:.3f}  std {s['std']:.3f}  min {s['min']:.3f}  max {s['max']:.3f}")
    typer.echo(f"final loss per run: {[round(x, 3) for x in res.loss_history[-1].tolist()]}")


@app.command()
def pairs(model: str = typer.Option("smollm2", help="Model alias, .gguf file, directory or hub id (cache only)."),
          verbose: bool = typer.Option(False, help="List every skipped pair.")) -> None:
    """Filter the built-in counterfactual word pairs to single tokens and report kept/skipped counts."""
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.linear_reps import filter_single_token_pairs
    from logitrank.real_models.word_pairs import WORD_PAIRS
    lm = HFCausalLM.load(model, device="cpu")
    res = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS)
    for name, c in res.counts().items():
        typer.echo(f"{name:22s} kept {c['kept']:3d}  skipped {c['skipped']:3d}")
        if verbose:
            for p, why in res.skipped.get(name, []):
                typer.echo(f"    {p[0]} → {p[1]}: {why}")


@app.command()
def cosines(model: str = typer.Option("smollm2", help="Model alias, .gguf file, directory or hub id.")) -> None:
    """Within- vs across-concept cosines of unembedding differences, Euclidean and causal."""
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.linear_reps import causal_whitening, concept_cosine_tables, filter_single_token_pairs
    from logitrank.real_models.word_pairs import WORD_PAIRS
    lm = HFCausalLM.load(model, device="cpu")
    p = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS)
    g = lm.unembedding()
    for label, X in (("Euclidean", g), ("causal", causal_whitening(g).whiten(g))):
        c = concept_cosine_tables(X, p)
        typer.echo(f"{label:10s} within {c.within:.3f}  across {c.across:.3f}  |across| {c.across_abs:.3f}")


@app.command()
def steer(prompt: str = typer.Option("Long live the", help="Context whose next token is steered."),
          concept: str = typer.Option("male⇒female", help="Concept name from the built-in word pairs."),
          alphas: str = typer.Option("0,0.2,0.4,0.6,0.8", help="Comma-separated steering strengths."),
          model: str = typer.Option("smollm2", help="Model alias or path.")) -> None:
    """Add α·Cov(γ)⁻¹γ̄_W to the final hidden state and print the top next tokens (Park et al. eq. 4.2)."""
    from logitrank.errors import InvalidInputError
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.linear_reps import causal_whitening, filter_single_token_pairs, steering_ranks
    from logitrank.real_models.word_pairs import WORD_PAIRS
    if concept not in WORD_PAIRS:
        raise InvalidInputError(f"unknown concept {concept!r}; choose from {sorted(WORD_PAIRS)}")
    lm = HFCausalLM.load(model, device="cpu")
    p = filter_single_token_pairs(lm.tokenizer, {concept: WORD_PAIRS[concept]})
    g = lm.unembedding()
    tp = p.token_pairs[concept]
    v = causal_whitening(g).steering_vector((g[tp[:, 1]] - g[tp[:, 0]]).mean(0))
    for row in steering_ranks(lm, prompt, v, [float(a) for a in alphas.split(",")]):
        typer.echo(f"α={row['alpha']:.2f}: {row['top']}")


@app.command()
def identity(model: str = typer.Option("smollm2", help="Model alias or path."),
             text: str = typer.Option("The capital of France is Paris.", help="Text whose positions are checked.")) -> None:
    """Check the centered-logit identity L[z|p] = φ(p)ᵀ(ψ(z) − ψ̄) at every position of a text."""
    import numpy as np

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.linear_reps import centered_logit_identity_error
    lm = HFCausalLM.load(model, device="cpu")
    typer.echo(centered_logit_identity_error(lm, np.array([lm.tokenizer.encode(text)])))
