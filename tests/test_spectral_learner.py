"""Spectral (Hankel/WFA) baseline from samples, and the noisy-parity comparison."""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import random_hmm, random_isan
from logitrank.sim.learning import parity_comparison
from logitrank.theory.enumeration import enumerate_distribution, exact_tv_distance
from logitrank.theory.oracles import SampleOracle
from logitrank.theory.restricted import RestrictedVocabularyModel
from logitrank.theory.spectral_learner import SpectralLearner, SpectralModel
from logitrank.theory.tv_estimation import sampled_tv_distance, tv_distance


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spectral_recovers_a_small_hmm(seed):
    """Balle et al. 2014 / HKZ 2012: the spectral WFA is consistent for an HMM with k states.

    k = 2, |Σ| = 3, T = 5, rank 2, 20 000 samples: exact TV ≤ 0.05 (the baseline works
    where its assumptions hold, so the parity comparison below is fair).
    """
    M = random_hmm(2, 3, np.random.default_rng(seed), horizon=5)
    learner = SpectralLearner(20_000, rank=2).fit(SampleOracle(M, np.random.default_rng(seed + 10)))
    assert learner.n_samples_ == 20_000 and learner.n_queries_ == 0
    assert isinstance(learner.model_, SpectralModel)
    assert exact_tv_distance(M, learner.model_) <= 0.05
    # More samples, smaller error (consistency), on the same seed.
    few = SpectralLearner(300, rank=2).fit(SampleOracle(M, np.random.default_rng(seed + 10)))
    assert exact_tv_distance(M, few.model_) > exact_tv_distance(M, learner.model_)


def test_spectral_model_is_a_distribution_even_with_negative_wfa_scores():
    M = random_isan(3, 4, 3, np.random.default_rng(0))      # not an HMM: rank-1 WFA is wrong
    sp = SpectralLearner(200, rank=1).fit(SampleOracle(M, np.random.default_rng(0))).model_
    _, p = enumerate_distribution(sp)
    assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-9


def test_noisy_parity_n12_query_learner_beats_spectral_at_equal_budget():
    """Paper 2 §5.6: noisy parity is hard from samples (LPN) but easy with logit queries.

    n = 12, η = 0.1: the query learner reaches exact TV ≤ 0.05; the spectral learner with
    the same budget in samples (queries + samples of the query learner) stays above 0.05
    (close to the 0.4 of a model that ignores the parity).
    """
    res = parity_comparison(12, seed=0)
    assert res["tv_method"] == "exact"
    assert res["query_tv"] <= 0.05
    assert res["spectral_samples"] == res["budget"] == res["query_queries"] + res["query_samples"]
    assert res["spectral_tv"] > 0.05
    assert res["budget"] < 20_000                       # poly(n) queries, far below 2^13


def test_sample_budget_exhaustion_flags_and_returns_a_model():
    M = random_hmm(2, 2, np.random.default_rng(0), horizon=3)
    so = SampleOracle(M, np.random.default_rng(0), budget=50)
    learner = SpectralLearner(1000, rank=2).fit(so)
    assert learner.budget_exhausted_ and learner.n_samples_ == 50
    learner2 = SpectralLearner(1000, rank=2).fit(so)            # nothing left: the uniform model
    assert learner2.budget_exhausted_ and learner2.n_samples_ == 0
    np.testing.assert_allclose(enumerate_distribution(learner2.model_)[1], 1 / 8)


@pytest.mark.parametrize("kwargs", [dict(n_samples=0), dict(rank=0), dict(horizon=0), dict(horizon=7),
                                    dict(n_basis=0)])
def test_spectral_bad_input(kwargs):
    M = random_hmm(2, 2, np.random.default_rng(0), horizon=3)
    kw = {"n_samples": 10, **kwargs}
    with pytest.raises(InvalidInputError):
        SpectralLearner(**kw).fit(SampleOracle(M, np.random.default_rng(0)))


def test_sampled_tv_is_unbiased_against_exact():
    rng = np.random.default_rng(0)
    A = random_isan(3, 4, 2, rng)
    B = random_isan(3, 4, 2, rng)
    exact = exact_tv_distance(A, B)
    est, se = sampled_tv_distance(A, B, 4000, np.random.default_rng(1))
    assert abs(est - exact) <= 4 * se + 1e-3
    tv, se2, how = tv_distance(A, B, exact_limit=10, n_samples=500, rng=np.random.default_rng(2))
    assert how == "sampled" and se2 > 0


def test_restricted_vocabulary_model_conditions_the_base():
    base = random_isan(6, 5, 3, np.random.default_rng(0))
    R = RestrictedVocabularyModel(base, [4, 1, 5], horizon=3, prompt=[2])
    prefixes = np.array([[0, 2], [1, 1]])
    lp = R.log_probs(prefixes)
    full = base.log_probs(np.array([[2, 4, 5], [2, 1, 1]]))[:, [4, 1, 5]]
    np.testing.assert_allclose(lp, full - np.log(np.exp(full).sum(axis=1, keepdims=True)), atol=1e-12)
    assert R.vocab_size == 3 and R.horizon == 3
    with pytest.raises(InvalidInputError):
        RestrictedVocabularyModel(base, [1, 1])
    with pytest.raises(InvalidInputError):
        RestrictedVocabularyModel(base, [1, 99])
    with pytest.raises(InvalidInputError, match="horizon"):
        RestrictedVocabularyModel(base, [1, 2], horizon=5, prompt=[0])
