"""logitrank — the low-dimensional structure of language models.

Subpackages: :mod:`logitrank.theory` (NumPy/SciPy core, never imports torch),
:mod:`logitrank.sim` (synthetic models and experiments), :mod:`logitrank.real_models`
(torch adapters and fast engines), :mod:`logitrank.paper_figs` (one module per figure), and the
application layer above them: :mod:`logitrank.experiments` (one module per experiment, discovered by
:mod:`logitrank.jobs`) and :mod:`logitrank.commands` (assembled by :mod:`logitrank.cli`).
"""

from logitrank.errors import (
    BudgetExhaustedError,
    ConvergenceError,
    InvalidInputError,
    LogitRankError,
    ModelLoadError,
    ModelOutputError,
    ResumeError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "LogitRankError",
    "InvalidInputError",
    "ModelOutputError",
    "ModelLoadError",
    "BudgetExhaustedError",
    "ResumeError",
    "ConvergenceError",
]
