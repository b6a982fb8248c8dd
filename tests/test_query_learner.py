"""The query learner of Golowich, Liu, Shetty (2025b), Algorithms 1–2."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.errors import BudgetExhaustedError, InvalidInputError, ModelOutputError
from logitrank.sim.ensembles import random_isan
from logitrank.theory.enumeration import exact_tv_distance
from logitrank.theory.oracles import LogitQueryOracle, SampleOracle
from logitrank.theory.query_learner import (LearnedLogitModel, QueryLearner, barycentric_spanner,
                                            solve_bounded_lp)
from logitrank.theory.sequence_model import SequenceModel

N_SEEDS = 100  # 100 random ISANs take ≈1 s on 2 cores; ≥ 95% must reach TV ≤ 0.05.


def _fit(M, seed=0, **kw):
    return QueryLearner(**kw).fit(LogitQueryOracle(M), SampleOracle(M, np.random.default_rng(seed)))


def test_exact_oracle_learns_random_isans_to_tv_005():
    """Paper 2, Thm. 5.11 (exact rank d): TV(M, M̂) ≤ ε with poly(d, |Σ|, T, 1/ε) queries.

    100 random time-varying ISANs with |Σ| ∈ {2,3,4}, T ∈ {2..6}, d ∈ {1..4}; the exact TV
    (enumeration of Σ^T) must be ≤ 0.05 for at least 95% of them.
    """
    tvs, queries = [], []
    for seed in range(N_SEEDS):
        rng = np.random.default_rng(1000 + seed)
        V, T, d = int(rng.integers(2, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 5))
        M = random_isan(V, T, d, rng)
        learner = _fit(M, seed, epsilon=0.05)
        tvs.append(exact_tv_distance(M, learner.model_))
        queries.append(learner.n_queries_)
        assert max(learner.ranks_) <= d          # never more basis rows than the logit rank
    assert np.mean(np.asarray(tvs) <= 0.05) >= 0.95, tvs
    assert max(queries) < 5000


class _TrippingOracle(LogitQueryOracle):
    armed = False

    def query(self, prefixes):
        if self.armed:
            raise AssertionError("the learned model queried the target oracle")
        return super().query(prefixes)


def test_generator_never_calls_the_oracle():
    M = random_isan(3, 5, 3, np.random.default_rng(3))
    oracle = _TrippingOracle(M, noise=0.01, rng=np.random.default_rng(0))
    learner = QueryLearner(epsilon=0.1).fit(oracle, SampleOracle(M, np.random.default_rng(1)))
    oracle.armed = True
    used = oracle.n_queries
    model = learner.model_
    assert isinstance(model, LearnedLogitModel) and isinstance(model, SequenceModel)
    assert not any(v is oracle for v in vars(model).values())
    model.sample(50, 5, np.random.default_rng(2))
    exact_tv_distance(M, model)                  # every prefix of Σ^5: LPs only, no queries
    assert oracle.n_queries == used
    assert model.n_lp_solves > 0                 # the noisy case really went through the LP


def test_noisy_oracle_small_error_small_tv():
    M = random_isan(3, 5, 2, np.random.default_rng(7))
    oracle = LogitQueryOracle(M, noise=0.01, rng=np.random.default_rng(0))
    learner = QueryLearner(epsilon=0.05).fit(oracle, SampleOracle(M, np.random.default_rng(1)))
    assert exact_tv_distance(M, learner.model_) <= 0.05


def _tv_by_enumeration(a, b):
    """½ Σ_x |P_a(x) − P_b(x)| over Σ^T, each P(x) a product of next-token probabilities."""
    import itertools
    V, T = a.vocab_size, a.horizon
    lp = {}
    for t in range(T):
        P = np.array(list(itertools.product(range(V), repeat=t)), dtype=np.int64).reshape(V ** t, t)
        for m, name in ((a, "a"), (b, "b")):
            for p, row in zip(P, m.log_probs(P)):
                lp[name, tuple(p)] = row
    tv = 0.0
    for x in itertools.product(range(V), repeat=T):
        pa = np.exp(sum(lp["a", x[:t]][x[t]] for t in range(T)))
        pb = np.exp(sum(lp["b", x[:t]][x[t]] for t in range(T)))
        tv += abs(pa - pb)
    return tv / 2


def test_budget_exhaustion_returns_a_model_with_a_flag():
    M = random_isan(4, 6, 4, np.random.default_rng(4))
    full = _fit(M, 0)
    assert full.converged_ and not full.budget_exhausted_
    for budget in (3, full.n_queries_ // 2):
        oracle = LogitQueryOracle(M, budget=budget)
        learner = QueryLearner().fit(oracle, SampleOracle(M, np.random.default_rng(0)))
        assert learner.budget_exhausted_ and not learner.converged_
        assert learner.n_queries_ <= budget
        tv = exact_tv_distance(M, learner.model_)  # a usable (if worse) model
        assert tv == pytest.approx(_tv_by_enumeration(M, learner.model_), abs=1e-12)
        assert tv < 1.0 - 1e-6                     # the model shares mass with M
    # Sample budget too.
    learner = QueryLearner().fit(LogitQueryOracle(M), SampleOracle(M, np.random.default_rng(0), budget=5))
    assert learner.budget_exhausted_
    with pytest.raises(BudgetExhaustedError):
        LogitQueryOracle(M, budget=0).query([[]])


class _BadModel(SequenceModel):
    vocab_size, horizon = 2, 3

    def _logits(self, prefixes):
        return np.full((prefixes.shape[0], 2), np.inf)


def test_non_finite_oracle_answers_are_a_clear_error():
    class Fine(SequenceModel):
        vocab_size, horizon = 2, 3

        def _logits(self, prefixes):
            return np.zeros((prefixes.shape[0], 2))
    with pytest.raises(ModelOutputError, match="non-finite"):
        QueryLearner().fit(LogitQueryOracle(_BadModel()), SampleOracle(Fine(), np.random.default_rng(0)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_rank=0), "max_rank"), (dict(horizon=0), "horizon"), (dict(horizon=9), "horizon"),
    (dict(epsilon=0.0), "epsilon"), (dict(coef_bound=0.5), "coef_bound"),
    (dict(n_histories=0), "n_histories"),
])
def test_bad_hyperparameters(kwargs, match):
    M = random_isan(2, 3, 2, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match=match):
        QueryLearner(**kwargs).fit(LogitQueryOracle(M), SampleOracle(M, np.random.default_rng(0)))


def test_shorter_horizon_than_the_model():
    M = random_isan(3, 6, 2, np.random.default_rng(0))
    learner = _fit(M, horizon=3)
    assert learner.model_.horizon == 3 and len(learner.ranks_) == 3


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 6), r=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_barycentric_spanner_bounds_coefficients(n, m, r, seed):
    """Awerbuch–Kleinberg: every row is a combination of the spanner rows with |coef| ≤ 2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, min(r, m))) @ rng.normal(size=(min(r, m), m)) * rng.exponential(size=(n, 1))
    idx = barycentric_spanner(X, coef_bound=2.0)
    assert len(idx) == np.linalg.matrix_rank(X)
    if len(idx):
        coef, *_ = np.linalg.lstsq(X[idx].T, X.T, rcond=None)
        np.testing.assert_allclose(coef.T @ X[idx], X, atol=1e-8 * (1 + np.abs(X).max()))
        assert np.abs(coef).max() <= 2 + 1e-6


def test_bounded_lp_respects_the_bound_and_is_optimal():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 8))
    c_true = np.array([[3.0, 0.5, -1.0], [0.2, -0.1, 1.9]])
    C, res = solve_bounded_lp(A, c_true @ A, 2.0)
    assert np.abs(C).max() <= 2 + 1e-9
    assert res[1] < 1e-6                         # feasible target: exact
    assert res[0] > 0.1                          # the bound binds: residual > 0
    # No bounded coefficient does better than the LP on row 0 (random search).
    trials = rng.uniform(-2, 2, size=(20000, 3))
    assert np.abs(trials @ A - c_true[0] @ A).max(axis=1).min() >= res[0] - 1e-6


def _tiny_llama():
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def test_query_learner_on_a_restricted_tiny_llama():
    """The learner runs unchanged on a wrapped causal LM restricted to 3 tokens (exact TV)."""
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.theory.restricted import RestrictedVocabularyModel
    base = HFCausalLM(_tiny_llama(), None, prefix_tokens=[1])
    M = RestrictedVocabularyModel(base, [3, 5, 7], horizon=3, prompt=[2, 9], cache=True)
    learner = _fit(M, epsilon=0.05)
    assert exact_tv_distance(M, learner.model_) <= 0.05
    assert M.n_base_prefixes == 1 + 3 + 9          # the cache: each prefix reaches the LM once


@pytest.mark.realmodel
def test_smollm2_demo_small():
    """SmolLM2 restricted to 3 colour tokens, T = 3: the uncapped learner is exact (all prefixes)."""
    from logitrank.experiments.learning_smollm2 import real_model_demo
    res = real_model_demo(token_texts=(" red", " green", " blue"), horizon=3, max_ranks=(2, None),
                          tv_samples=200, max_epochs=10)
    capped, full = res["runs"]
    assert full["tv_exact"] < 1e-6 and full["queries"] <= res["all_prefixes"] == 13
    assert max(capped["ranks"]) <= 2 and 0 <= capped["tv"] <= 1


def test_learn_cli():
    from typer.testing import CliRunner

    from logitrank.cli import app
    res = CliRunner().invoke(app, ["learn", "isan", "--vocab", "2", "--horizon", "3", "--dim", "1"])
    assert res.exit_code == 0 and "exact TV" in res.output
    bad = CliRunner().invoke(app, ["learn", "isan", "--dim", "0"])
    assert bad.exit_code != 0 and isinstance(bad.exception, InvalidInputError)
    res = CliRunner().invoke(app, ["learn", "parity", "--n-bits", "6"])
    assert res.exit_code == 0 and "spectral learner" in res.output
