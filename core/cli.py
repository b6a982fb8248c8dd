"""The ``logitrank`` command line (typer). Every command has ``--help``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from logitrank.errors import LogitRankError

app = typer.Typer(help="logitrank: low-rank structure of language models — theory, simulation, real LLMs.",
                  no_args_is_help=True, add_completion=False)

from logitrank.learn_cli import app as _learn_app  # noqa: E402

app.add_typer(_learn_app, name="learn")


@app.command()
def figures(
    full: bool = typer.Option(False, "--full", help="Paper-scale sizes (meant for a GPU)."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Rerun only this figure (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Recompute even if cached results exist."),
    results: Path = typer.Option(Path("results"), help="Where results are cached."),
    figures_dir: Path = typer.Option(Path("docs/figures"), "--figures-dir", help="Where figures go."),
    report: Path = typer.Option(Path("docs/RESULTS.md"), help="The claims report to write."),
) -> None:
    """Regenerate every figure and docs/RESULTS.md (cached and resumable)."""
    from logitrank.jobs import run_jobs
    run_jobs(profile="full" if full else "quick", only=only, results_root=results,
             figures_dir=figures_dir, results_md=report, force=force)


@app.command("list")
def list_figures() -> None:
    """List the figures `logitrank figures` produces."""
    from logitrank.jobs import all_jobs
    for job in all_jobs():
        typer.echo(f"{job.name:32s} [{job.lens}] {job.title}")


@app.command()
def rank(
    vocab: int = typer.Option(3, help="Alphabet size |Σ|."),
    horizon: int = typer.Option(5, help="Horizon T."),
    dim: int = typer.Option(2, help="Hidden dimension d."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Cut-wise logit ranks of a random time-varying ISAN (Theorem 4.3: all ≤ d)."""
    import numpy as np
    from logitrank.sim.ensembles import random_isan
    from logitrank.theory.logit_matrix import cutwise_ranks
    model = random_isan(vocab, horizon, dim, np.random.default_rng(seed))
    typer.echo(f"cut-wise ranks t=0..{horizon - 1}: {cutwise_ranks(model)} (d = {dim})")


from logitrank.real_models.cli import real_app  # noqa: E402

app.add_typer(real_app, name="real")

from logitrank.sim.representation_cli import app as _reps_app  # noqa: E402

app.add_typer(_reps_app, name="reps")

from logitrank.real_models.weights_cli import app as _weights_app  # noqa: E402

app.add_typer(_weights_app, name="weights")


def main() -> None:
    """Entry point: run the app, turning package errors into a one-line message and exit code 2."""
    try:
        app()
    except LogitRankError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
