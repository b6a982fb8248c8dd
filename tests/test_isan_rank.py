"""Theorem 4.3 ('only if') and Def. 2.1, checked exactly and numerically."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.sim.ensembles import random_isan
from logitrank.theory.enumeration import enumerate_distribution, sequence_log_prob
from logitrank.theory.exact import (
    RationalISAN,
    centered_log_probs_equal_centered_logits,
    exact_cutwise_logit_matrix,
    exact_cutwise_ranks,
)
from logitrank.theory.logit_matrix import cutwise_logit_matrix, cutwise_ranks
from logitrank.theory.models import NoisyParity


@settings(max_examples=15, deadline=None)
@given(vocab=st.integers(2, 3), horizon=st.integers(1, 4), dim=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_isan_cutwise_rank_exact(vocab, horizon, dim, seed):
    """Theorem 4.3 ('only if'), exact: for a time-varying ISAN of dimension d with rational
    parameters, the cut-wise logit matrix L(Σ^t, Σ^{≤T−t−1}) has rank ≤ d over ℚ at every cut t."""
    isan = RationalISAN.random(vocab, horizon, dim, np.random.default_rng(seed))
    assert max(exact_cutwise_ranks(isan)) <= dim


@settings(max_examples=20, deadline=None)
@given(vocab=st.integers(2, 4), horizon=st.integers(1, 5), dim=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_isan_cutwise_rank_numerical(vocab, horizon, dim, seed):
    """Theorem 4.3 ('only if'), floating point: every cut-wise numerical rank (σ > max(m,n)·ε·σ₁) is ≤ d."""
    isan = random_isan(vocab, horizon, dim, np.random.default_rng(seed))
    assert max(cutwise_ranks(isan)) <= dim


@settings(max_examples=20, deadline=None)
@given(vocab=st.integers(2, 4), horizon=st.integers(1, 5), dim=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_isan_cutwise_rank_is_attained_generically(vocab, horizon, dim, seed):
    """Theorem 4.3 is tight: a random (generic) ISAN of dimension d has cut-wise rank exactly
    min(d, |Σ|^t, (|Σ|−1)·|Σ^{≤T−t−1}|) — d, unless the matrix has fewer histories or
    fewer independent centered columns (each length-|Σ| block loses one to centering).

    Rank counted with rtol = 1e-9: the default threshold max(m, n)·ε·σ₁ is for upper bounds and
    can count the rounding residue of the centering as a direction (hypothesis found |Σ| = 2,
    T = 2, d = 3, seed 370: a 2 × 2 matrix of exact rank 1 reported as rank 2); the generic
    singular values of a random ISAN are many orders of magnitude above 1e-9·σ₁."""
    isan = random_isan(vocab, horizon, dim, np.random.default_rng(seed))
    want = [min(dim, vocab ** t, (vocab - 1) * sum(vocab ** j for j in range(horizon - t))) for t in range(horizon)]
    assert cutwise_ranks(isan, rtol=1e-9) == want


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_exact_matrix_agrees_with_float_matrix(seed):
    """The rational cut-wise matrix and the float64 one are the same matrix (to rounding)."""
    isan = RationalISAN.random(2, 3, 2, np.random.default_rng(seed))
    for t in range(3):
        exact = exact_cutwise_logit_matrix(isan, t).astype(float)
        num = cutwise_logit_matrix(isan.to_float(), t).values
        np.testing.assert_allclose(num, exact, atol=1e-9)


def test_rank_is_attained_not_just_bounded():
    """The bound is tight for generic parameters (the test could fail if ranks collapsed)."""
    isan = RationalISAN.random(3, 4, 2, np.random.default_rng(3))
    assert exact_cutwise_ranks(isan)[1:] == [2, 2, 2]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 7), eta=st.floats(0.01, 0.49), seed=st.integers(0, 10**6))
def test_noisy_parity_has_logit_rank_one(n, eta, seed):
    """Noisy parity over n bits is a time-varying ISAN of dimension 1: every cut-wise logit rank is ≤ 1,
    and the cut at t = n−1 … has rank exactly 1 (the parity is visible)."""
    model = NoisyParity.random(n, eta, np.random.default_rng(seed))
    ranks = cutwise_ranks(model)
    assert max(ranks) <= 1 and max(ranks) == 1


def test_noisy_parity_distribution():
    """P(x, y) = 2^-n · (1−η if y = parity else η)."""
    model = NoisyParity(3, 0.1, [1, 0, 1])
    seqs, p = enumerate_distribution(model)
    parity = (seqs[:, 0] + seqs[:, 2]) % 2
    expected = np.where(seqs[:, 3] == parity, 0.9, 0.1) / 8
    np.testing.assert_allclose(p, expected)
    np.testing.assert_allclose(np.exp(sequence_log_prob(model, seqs)), expected)


@settings(max_examples=4, deadline=None)
@given(vocab=st.integers(1, 4))
def test_centered_log_probs_equal_centered_logits_symbolically(vocab):
    """Def. 2.1: log P(z|p) − mean_z' log P(z'|p) = ℓ_z − mean_z' ℓ_z' identically (SymPy)."""
    assert centered_log_probs_equal_centered_logits(vocab)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_centered_log_probs_equal_centered_logits_numerically(seed):
    """The same identity on a model's outputs: centered log-probs equal centered logits."""
    isan = random_isan(4, 3, 2, np.random.default_rng(seed))
    p = [[1, 2]]
    lp = isan.log_probs(p)
    np.testing.assert_allclose(lp - lp.mean(axis=1, keepdims=True), isan.centered_logits(p), atol=1e-12)
