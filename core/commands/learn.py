"""``logitrank learn …``: the query learner and its sample-only baseline on synthetic models.

The real-model command (``learn smollm2``) still lives in :mod:`logitrank.learn_cli` and is
attached here until the real-model commands move (issue 10, step two).
"""

from __future__ import annotations

import typer

from logitrank.learn_cli import smollm2
from logitrank.sim.learning import learn_random_isan, parity_comparison

__all__ = ["app"]

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
    r = parity_comparison(n_bits, seed, noise=noise)
    typer.echo(f"query learner: {r['query_queries']} queries + {r['query_samples']} samples, "
               f"TV {r['query_tv']:.3g} ({r['tv_method']})")
    typer.echo(f"spectral learner: {r['spectral_samples']} samples, TV {r['spectral_tv']:.3g} "
               f"(a parity-blind model has TV {r['tv_uniform_last_bit']:.2f})")


app.command("smollm2")(smollm2)
