"""The ``logitrank`` command line (typer): assembles the command groups. Every command has ``--help``."""

from __future__ import annotations

import typer

from logitrank.commands import checkpoints, learn, rank
from logitrank.commands import figures as figures_commands
from logitrank.errors import LogitRankError
from logitrank.real_models.cli import real_app
from logitrank.real_models.weights_cli import app as weights_app
from logitrank.sim.representation_cli import app as reps_app

__all__ = ["app", "main"]

app = typer.Typer(help="logitrank: low-rank structure of language models — theory, simulation, real LLMs.",
                  no_args_is_help=True, add_completion=False)

app.add_typer(learn.app, name="learn")
app.command("figures")(figures_commands.figures)
app.command("list")(figures_commands.list_figures)
app.command("rank")(rank.rank)
app.command("checkpoints")(checkpoints.checkpoints)
# Real-model command groups, attached from their current modules until they move (issue 10, step two).
app.add_typer(real_app, name="real")
app.add_typer(reps_app, name="reps")
app.add_typer(weights_app, name="weights")


def main() -> None:
    """Entry point: run the app, turning package errors into a one-line message and exit code 2."""
    try:
        app()
    except LogitRankError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
