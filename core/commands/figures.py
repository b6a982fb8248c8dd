"""``logitrank figures`` and ``logitrank list``: run the registered experiments, list them."""

from __future__ import annotations

from pathlib import Path

import typer

from logitrank.jobs import all_jobs, run_jobs

__all__ = ["figures", "list_figures"]


def figures(
    full: bool = typer.Option(False, "--full", help="Paper-scale sizes (meant for a GPU)."),
    only: list[str] | None = typer.Option(None, "--only", help="Rerun only this figure (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Recompute even if cached results exist."),
    results: Path = typer.Option(Path("results"), help="Where results are cached."),
    figures_dir: Path = typer.Option(Path("docs/figures"), "--figures-dir", help="Where figures go."),
    report: Path = typer.Option(Path("docs/RESULTS.md"), help="The claims report to write."),
) -> None:
    """Regenerate every figure and docs/RESULTS.md (cached and resumable)."""
    run_jobs(profile="full" if full else "quick", only=only, results_root=results,
             figures_dir=figures_dir, results_md=report, force=force)


def list_figures() -> None:
    """List the figures `logitrank figures` produces."""
    for job in all_jobs():
        typer.echo(f"{job.name:32s} [{job.lens}] {job.title}")
