"""The query learner on SmolLM2 restricted to a few colour tokens (experimental, real model).

The restricted model (:class:`~logitrank.theory.restricted.RestrictedVocabularyModel`) keeps
a handful of single-token texts and a short horizon after a fixed prompt; the learner is fitted
once per rank cap and its TV to the restricted model is estimated from samples (and computed
exactly by enumeration when the alphabet is small).

References
----------
Golowich, Liu, Shetty (2025b): the guarantee is proved for (approximately) low logit rank;
no language-model run is reported.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.experiments._base import Experiment, SavedResult, from_record
from logitrank.io import to_jsonable
from logitrank.real_models import runtime
from logitrank.real_models.adapter import HFCausalLM
from logitrank.theory.enumeration import exact_tv_distance
from logitrank.theory.oracles import LogitQueryOracle, SampleOracle
from logitrank.theory.query_learner import QueryLearner
from logitrank.theory.restricted import RestrictedVocabularyModel
from logitrank.theory.tv_estimation import sampled_tv_distance

__all__ = ["SmolLM2LearningConfig", "RealLearningRun", "SmolLM2LearningResult", "real_model_demo", "compute",
           "EXPERIMENT"]


@dataclasses.dataclass(frozen=True)
class SmolLM2LearningConfig:
    """Alphabet (single-token texts), horizon, rank caps (None: no cap), ε, epochs and TV samples."""

    token_texts: tuple[str, ...] = (" red", " green", " blue", " yellow")
    horizon: int = 5
    max_ranks: tuple[int | None, ...] = (1, 2, 4, 8, None)
    epsilon: float = 0.1
    max_epochs: int = 20
    tv_samples: int = 1000


PROFILES = {"quick": SmolLM2LearningConfig(),
            "full": SmolLM2LearningConfig(token_texts=(" red", " green", " blue", " yellow", " black", " white"),
                                          max_ranks=(1, 2, 4, 8, 16, None), max_epochs=30, tv_samples=4000)}


@dataclasses.dataclass(frozen=True)
class RealLearningRun:
    """One fit at rank cap ``max_rank`` (None: no cap): cost, TV (sampled ± s.e., exact when enumerable)."""

    max_rank: int | None
    queries: int
    samples: int
    tv: float
    tv_stderr: float
    tv_method: str
    tv_exact: float | None
    ranks: tuple[int, ...]
    epochs: int
    converged: bool
    fit_seconds: float
    lp_solves: int


@dataclasses.dataclass(frozen=True)
class SmolLM2LearningResult(SavedResult):
    """The restricted model (tokens, prompt, horizon, prefix count) and one run per rank cap."""

    RECORD = "real.json"

    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    prompt: str
    horizon: int
    vocab_size: int
    all_prefixes: int
    epsilon: float
    tv_samples: int
    base_forward_prefixes: int
    runs: tuple[RealLearningRun, ...]


def real_model_demo(base=None, *, token_texts=(" red", " green", " blue", " yellow"),
                    prompt_text: str = "My favourite colours, in order:", horizon: int = 4,
                    max_ranks=(1, 2, 4, None), epsilon: float = 0.1, max_epochs: int = 4,
                    n_histories: int = 20, tv_samples: int = 400, exact_limit: int = 1 << 12,
                    torch_threads: int | None = 1, seed: int = 0) -> dict:
    """The query learner on a real LM restricted to a few tokens and a short horizon.

    ``base`` is an ``HFCausalLM`` (default: SmolLM2-135M-Instruct, loaded offline). Each
    text in ``token_texts`` must be a single token. For every cap d in ``max_ranks`` the
    learner is fitted with ``max_rank=d`` (None: no cap); its TV to the restricted model is
    estimated from ``tv_samples`` samples (unbiased, standard error reported) and, when
    |Σ|^T ≤ ``exact_limit``, also computed exactly by enumeration.

    The restricted model memoises base logits per prefix, so the fits, the sampling and
    the TV share forward passes (``base_forward_prefixes`` counts them); the learner's
    ``queries`` are still counted per fit by its own oracle. ``torch_threads`` (restored
    afterwards) defaults to 1: on the shared 2-core sandbox two threads were ~15× slower.

    References
    ----------
    Golowich, Liu, Shetty (2025b), the query learner (Alg. 1) and its TV guarantee.

    Examples
    --------
    >>> res = real_model_demo(token_texts=(" red", " blue"), horizon=2, max_ranks=(None,))  # doctest: +SKIP
    >>> res["all_prefixes"]                                                                  # doctest: +SKIP
    3
    """
    with runtime.torch_threads(torch_threads or None):
        if base is None:
            base = HFCausalLM.load()
        ids = []
        for text in token_texts:
            tok = base.encode(text)
            if len(tok) != 1:
                raise InvalidInputError(f"{text!r} is {len(tok)} tokens for this tokenizer; pick single-token texts")
            ids.append(int(tok[0]))
        prompt = base.encode(prompt_text)
        M = RestrictedVocabularyModel(base, ids, horizon=horizon, prompt=prompt, cache=True)
        runs = []
        for d in max_ranks:
            t0 = time.perf_counter()
            q = QueryLearner(epsilon=epsilon, max_rank=d, max_epochs=max_epochs, n_histories=n_histories).fit(
                LogitQueryOracle(M), SampleOracle(M, np.random.default_rng([seed, 1])))
            tfit = time.perf_counter() - t0
            tv, se = sampled_tv_distance(M, q.model_, tv_samples, np.random.default_rng([seed, 2]))
            exact = exact_tv_distance(M, q.model_) if len(ids) ** horizon <= exact_limit else None
            runs.append({"max_rank": d, "queries": q.n_queries_, "samples": q.n_samples_, "tv": tv,
                         "tv_stderr": se, "tv_method": "sampled", "tv_exact": exact, "ranks": list(q.ranks_),
                         "epochs": q.n_epochs_, "converged": q.converged_, "fit_seconds": tfit,
                         "lp_solves": q.model_.n_lp_solves})
    n_prefixes = sum(len(ids) ** t for t in range(horizon))
    return {"tokens": list(token_texts), "token_ids": ids, "prompt": prompt_text, "horizon": horizon,
            "vocab_size": len(ids), "all_prefixes": n_prefixes, "epsilon": epsilon, "tv_samples": tv_samples,
            "base_forward_prefixes": M.n_base_prefixes, "runs": runs}


def compute(config: SmolLM2LearningConfig, out_dir: Path | None = None, inputs=None) -> SmolLM2LearningResult:
    """Fit the learner once per rank cap on the restricted SmolLM2."""
    return from_record(SmolLM2LearningResult, to_jsonable(real_model_demo(**dataclasses.asdict(config))))


EXPERIMENT = Experiment(
    name="learning_smollm2", lens="logits", order=230,
    title="Query learner on SmolLM2 restricted to a few colour tokens, short horizon (experimental)",
    profiles=PROFILES, compute=compute, result_type=SmolLM2LearningResult, figure_module="learning_real")
