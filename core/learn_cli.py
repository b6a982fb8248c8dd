"""``logitrank learn …``: the query learner and its sample-only baseline from the command line."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="Learn low-logit-rank models from logit queries (and the spectral baseline).",
                  no_args_is_help=True, add_completion=False)


@app.command()
def isan(
    vocab: int = typer.Option(3, help="Alphabet size |Σ|."),
    horizon: int = typer.Option(5, help="Horizon T."),
    dim: int = typer.Option(2, help="Hidden dimension d of the random ISAN."),
    epsilon: float = typer.Option(0.05, help="Target TV ε."),
    noise: float = typer.Option(0.0, help="Oracle error ξ (uniform, per logit)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Learn a random time-varying ISAN from logit queries; print queries, samples and exact TV."""
    from logitrank.sim.learning import learn_random_isan
    r = learn_random_isan(vocab, horizon, dim, seed, epsilon=epsilon, noise=noise)
    typer.echo(f"queries {r.queries}, samples {r.samples}, epochs {r.epochs}, witnesses {r.witnesses}, "
               f"ranks {list(r.ranks)}, converged {r.converged}")
    typer.echo(f"exact TV(M, M̂) = {r.tv:.3g} (target ε = {epsilon})")


@app.command()
def parity(
    n_bits: int = typer.Option(12, help="Number of bits n (horizon n + 1)."),
    noise: float = typer.Option(0.1, help="Label noise η of the parity."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Noisy parity: query learner vs spectral learner with the same budget in samples."""
    from logitrank.sim.learning import parity_comparison
    r = parity_comparison(n_bits, seed, noise=noise)
    typer.echo(f"query learner: {r['query_queries']} queries + {r['query_samples']} samples, "
               f"TV {r['query_tv']:.3g} ({r['tv_method']})")
    typer.echo(f"spectral learner: {r['spectral_samples']} samples, TV {r['spectral_tv']:.3g} "
               f"(a parity-blind model has TV {r['tv_uniform_last_bit']:.2f})")


@app.command()
def smollm2(
    tokens: Optional[list[str]] = typer.Option(None, "--token", help="Single-token texts of the alphabet "
                                               "(repeatable; default: ' red' ' green' ' blue' ' yellow')."),
    prompt: str = typer.Option("My favourite colours, in order:", help="Prompt conditioning every sequence."),
    horizon: int = typer.Option(4, help="Horizon T of the restricted model."),
    max_rank: Optional[int] = typer.Option(None, help="Cap d on the basis size per cut (default: none)."),
    tv_samples: int = typer.Option(300, help="Samples for the TV estimate."),
) -> None:
    """Query learner on SmolLM2 restricted to a few tokens (experimental; TV by sampling)."""
    from logitrank.sim.learning import real_model_demo
    kw = {"token_texts": tuple(tokens)} if tokens else {}
    res = real_model_demo(prompt_text=prompt, horizon=horizon, max_ranks=(max_rank,), tv_samples=tv_samples, **kw)
    for r in res["runs"]:
        typer.echo(f"max_rank {r['max_rank']}: {r['queries']} queries, {r['samples']} samples, ranks {r['ranks']}, "
                   f"TV {r['tv']:.3f} ± {r['tv_stderr']:.3f} (sampled); all prefixes: {res['all_prefixes']}")
