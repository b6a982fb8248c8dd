"""The ``logitrank reps`` sub-app: help texts and the simulation command."""

from typer.testing import CliRunner

from logitrank.cli import app


def test_reps_help_lists_commands():
    out = CliRunner().invoke(app, ["reps", "--help"])
    assert out.exit_code == 0
    for cmd in ("simulate", "pairs", "cosines", "steer", "identity"):
        assert cmd in out.output


def test_reps_simulate_prints_cosines():
    out = CliRunner().invoke(app, ["reps", "simulate", "--m", "3", "--steps", "200", "--seeds", "2", "--lr", "1.0"])
    assert out.exit_code == 0, out.output
    assert "unembedding" in out.output and "across_abs" in out.output
