"""The ``logitrank`` command line (typer): assembles the command groups of :mod:`logitrank.commands`.

Every command has ``--help``. Errors of the package (:mod:`logitrank.errors`) become one line
``error: …`` on stderr and exit code 2; Ctrl-C in a long command exits 130 with one line
saying what was saved.
"""

from __future__ import annotations

import typer

from logitrank.commands import checkpoints, learn, rank, real, reps, weights
from logitrank.commands import figures as figures_commands
from logitrank.errors import LogitRankError

__all__ = ["app", "main"]

app = typer.Typer(help="logitrank: low-rank structure of language models — theory, simulation, real LLMs.",
                  no_args_is_help=True, add_completion=False)

app.command("figures")(figures_commands.figures)
app.command("list")(figures_commands.list_figures)
app.command("rank")(rank.rank)
app.add_typer(learn.app, name="learn")
app.add_typer(real.app, name="real")
app.add_typer(reps.app, name="reps")
app.add_typer(weights.app, name="weights")
app.command("checkpoints")(checkpoints.checkpoints)


def main() -> None:
    """Entry point: run the app, turning package errors into a one-line message and exit code 2."""
    try:
        app()
    except LogitRankError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
