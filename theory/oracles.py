"""Access models of the learning theory: logit queries and i.i.d. samples, both counted.

Golowich, Liu, Shetty (2025b), "Provably Learning from Modern Language Models via Low
Logit Rank", §1 and §5 (access model): the learner may submit any prefix and receive that
prefix's mean-centered next-token logit vector, possibly with additive error ξ, and may
draw complete i.i.d. sequences from the target. Learning from samples alone is hard in
the worst case (noisy parity / LPN), which is why the query model is studied.

- :class:`LogitQueryOracle` — one query = one prefix → its centered logits
  ``L[· | p] + e`` with ``|e_z| ≤ ξ`` (uniform noise, fresh per query). Every query is
  counted; an optional budget raises :class:`~logitrank.errors.BudgetExhaustedError`
  *before* a batch that would exceed it is answered; non-finite answers raise
  :class:`~logitrank.errors.ModelOutputError`.
- :class:`SampleOracle` — i.i.d. complete sequences of a fixed length, counted, with an
  optional budget.

Both wrap any :class:`~logitrank.theory.sequence_model.SequenceModel`, so they work the
same on a synthetic ISAN and on a wrapped real LM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank.errors import BudgetExhaustedError, InvalidInputError, ModelOutputError
from logitrank.theory.sequence_model import SequenceModel, center_logits

__all__ = ["LogitQueryOracle", "SampleOracle"]


def _check_model(model: Any) -> SequenceModel:
    if not isinstance(model, SequenceModel):
        raise InvalidInputError(
            f"the oracle needs a logitrank SequenceModel, got {type(model).__name__}; wrap your "
            f"model (e.g. logitrank.real_models.adapter.HFCausalLM) first")
    return model


def _check_budget(budget: int | None, what: str) -> int | None:
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise InvalidInputError(f"{what} budget must be a non-negative integer or None, got {budget!r}")
    return int(budget)


class LogitQueryOracle:
    """Logit-query access to a sequence model, exact or with additive error ξ.

    Parameters
    ----------
    model : SequenceModel
        The target model M.
    noise : float, default 0
        Additive error ξ ≥ 0: each answered entry is ``L[z | p] + e_z`` with
        ``e_z ~ Uniform[−ξ, ξ]`` independently (fresh on every query, so asking the same
        prefix twice gives two different answers; learners should cache).
    rng : numpy.random.Generator, optional
        Source of the noise; required when ``noise > 0``.
    budget : int or None
        Maximum number of prefixes that may be queried in total. A batch that would go
        over it raises :class:`BudgetExhaustedError` and is not answered (nor counted).

    Attributes
    ----------
    n_queries : int
        Number of prefixes answered so far (a batch of n prefixes counts n).
    n_calls : int
        Number of batches answered.

    References
    ----------
    Golowich, Liu, Shetty (2025b), §1.2 and Thm. 5.11 (logit oracle with error ξ).
    """

    def __init__(self, model: SequenceModel, *, noise: float = 0.0,
                 rng: np.random.Generator | None = None, budget: int | None = None) -> None:
        self.model = _check_model(model)
        if not np.isfinite(noise) or noise < 0:
            raise InvalidInputError(f"oracle noise ξ must be a finite number >= 0, got {noise}")
        if noise > 0 and not isinstance(rng, np.random.Generator):
            raise InvalidInputError("a noisy oracle (noise > 0) needs rng=np.random.default_rng(seed)")
        self.noise = float(noise)
        self.rng = rng
        self.budget = _check_budget(budget, "query")
        self.n_queries = 0
        self.n_calls = 0

    @property
    def vocab_size(self) -> int:
        """|Σ| of the target."""
        return self.model.vocab_size

    @property
    def horizon(self) -> int | None:
        """T of the target (None for an unbounded model)."""
        return self.model.horizon

    @property
    def remaining(self) -> int | None:
        """Queries left in the budget (None if unlimited)."""
        return None if self.budget is None else self.budget - self.n_queries

    def query(self, prefixes: Any) -> np.ndarray:
        """Centered next-token logits (± ξ) for an ``(n, t)`` prefix batch, shape ``(n, |Σ|)``."""
        arr = self.model.validate_prefixes(prefixes)
        n = arr.shape[0]
        if self.budget is not None and self.n_queries + n > self.budget:
            raise BudgetExhaustedError(
                f"logit-query budget exhausted: {self.n_queries} of {self.budget} queries used, "
                f"a batch of {n} more was refused; raise the budget or ask for fewer queries")
        logits = self.model.next_token_logits(arr)
        if logits.shape != (n, self.vocab_size) or not np.all(np.isfinite(logits)):
            raise ModelOutputError(
                f"the target model returned unusable logits (shape {logits.shape}, finite: "
                f"{bool(np.all(np.isfinite(logits)))}) for a batch of {n} prefixes of length "
                f"{arr.shape[1]}; check the model (overflow, NaN weights)")
        out = center_logits(logits)
        if self.noise > 0:
            out = out + self.rng.uniform(-self.noise, self.noise, size=out.shape)
        self.n_queries += n
        self.n_calls += 1
        return out

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return (f"LogitQueryOracle({self.model!r}, noise={self.noise}, budget={self.budget}, "
                f"n_queries={self.n_queries})")


class SampleOracle:
    """I.i.d. complete sequences from a sequence model, counted.

    Parameters
    ----------
    model : SequenceModel
        The target model M.
    rng : numpy.random.Generator
        Source of the samples.
    length : int, optional
        Length of each sample; defaults to the model's horizon T (required if it has none).
    budget : int or None
        Maximum number of sequences that may be drawn in total.

    Attributes
    ----------
    n_samples : int
        Number of sequences drawn so far.
    """

    def __init__(self, model: SequenceModel, rng: np.random.Generator, *,
                 length: int | None = None, budget: int | None = None) -> None:
        self.model = _check_model(model)
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
        length = model.horizon if length is None else length
        if length is None:
            raise InvalidInputError("the model has no horizon; pass length=T to the sample oracle")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1 \
                or (model.horizon is not None and length > model.horizon):
            raise InvalidInputError(
                f"sample length T={length} is out of range: need 1 <= T <= horizon ({model.horizon})")
        self.rng = rng
        self.length = int(length)
        self.budget = _check_budget(budget, "sample")
        self.n_samples = 0

    @property
    def vocab_size(self) -> int:
        """|Σ| of the target."""
        return self.model.vocab_size

    @property
    def remaining(self) -> int | None:
        """Samples left in the budget (None if unlimited)."""
        return None if self.budget is None else self.budget - self.n_samples

    def sample(self, n: int) -> np.ndarray:
        """Draw ``n`` i.i.d. sequences, shape ``(n, length)`` int64."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidInputError(f"number of samples must be a positive integer, got {n!r}")
        if self.budget is not None and self.n_samples + n > self.budget:
            raise BudgetExhaustedError(
                f"sample budget exhausted: {self.n_samples} of {self.budget} samples used, "
                f"{n} more were refused; raise the budget or ask for fewer samples")
        out = self.model.sample(int(n), self.length, self.rng)
        self.n_samples += int(n)
        return out

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"SampleOracle({self.model!r}, length={self.length}, n_samples={self.n_samples})"
