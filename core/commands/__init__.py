"""logitrank.commands — one module per command group of the ``logitrank`` command line.

Each module defines typer commands (or a typer sub-app) over the same code the experiments
run; :mod:`logitrank.cli` only assembles them.
"""
