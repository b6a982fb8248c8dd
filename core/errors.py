"""The one exception hierarchy of logitrank.

Every error the package raises on purpose is a :class:`LogitRankError`. Subclasses also
derive from the matching built-in (``ValueError``, ``RuntimeError`` …) so that callers who
catch the built-in keep working. Messages say what was wrong *and* what to do about it.
"""

from __future__ import annotations

__all__ = [
    "LogitRankError",
    "InvalidInputError",
    "ModelOutputError",
    "ModelLoadError",
    "BudgetExhaustedError",
    "ResumeError",
    "ConvergenceError",
]


class LogitRankError(Exception):
    """Base class of every error raised by logitrank."""


class InvalidInputError(LogitRankError, ValueError):
    """An argument is malformed or out of range (shapes, token ids, lengths, k, T, t …)."""


class ModelOutputError(LogitRankError, RuntimeError):
    """A sequence model returned something unusable (non-finite logits, wrong shape)."""


class ModelLoadError(LogitRankError, OSError):
    """A model could not be found or loaded (unknown path, missing package, no network)."""


class BudgetExhaustedError(LogitRankError, RuntimeError):
    """A query or sample budget ran out."""


class ResumeError(LogitRankError, RuntimeError):
    """A partial result on disk does not match the run that tries to resume it."""


class ConvergenceError(LogitRankError, RuntimeError):
    """An iterative fit or solver did not converge."""
