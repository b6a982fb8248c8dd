"""Latent-concept model (Jiang et al. 2024): exact conditionals, encodings, log-odds matching (Thm 3)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.errors import InvalidInputError
from logitrank.theory.concepts import (
    LatentConceptModel,
    all_concept_vectors,
    all_contexts,
    context_index,
    log_odds_matching_residual,
    log_odds_matching_tables,
    mean_pairwise_cosine,
    projected_steering_vectors,
    steering_cosines,
    token_index,
    unembedding_steering_vectors,
)


def test_encodings_roundtrip():
    for m in (1, 3, 5):
        c = all_concept_vectors(m)
        d = all_contexts(m)
        assert np.array_equal(token_index(c), np.arange(2 ** m))
        assert np.array_equal(context_index(d), np.arange(3 ** m))


def test_conditionals_match_bruteforce_dag():
    rng = np.random.default_rng(3)
    model = LatentConceptModel.random(4, rng)
    p = model.joint()
    assert np.isclose(p.sum(), 1) and (p > 0).all()
    T = model.conditional_table()
    c = all_concept_vectors(4)
    for k, d in enumerate(all_contexts(4)):
        fixed = d != -1
        mask = (c[:, fixed] == d[fixed]).all(1)
        want = np.where(mask, p, 0) / p[mask].sum()
        assert np.allclose(T[k], want)
    # Sampling agrees with the exact context weights.
    ctx, _ = model.sample(200000, rng)
    emp = np.bincount(ctx, minlength=81) / len(ctx)
    assert np.abs(emp - model.context_weights()).max() < 0.01


def test_dag_parameters_in_range():
    model = LatentConceptModel.random(6, np.random.default_rng(0))
    for th in model.bernoulli:
        assert ((th >= 0.3) & (th <= 0.7)).all()
    assert not model.is_independent


def test_bad_input():
    with pytest.raises(InvalidInputError):
        LatentConceptModel(parents=((1,), ()), bernoulli=(np.array([0.5, 0.5]), np.array([0.5])))
    with pytest.raises(InvalidInputError):
        LatentConceptModel.independent([0.5, 1.0])
    with pytest.raises(InvalidInputError):
        steering_cosines(np.zeros((9, 2)), np.zeros((8, 2)))
    with pytest.raises(InvalidInputError):
        mean_pairwise_cosine(np.ones((1, 3)))


# derandomized: the non-triviality guard below (raw vectors not parallel) can fail by chance on a
# rare draw (seen: m=2, extra=1, seed=121908 gives cosine 0.99935); fixed examples keep CI stable.
@settings(max_examples=25, deadline=None, derandomize=True)
@given(m=st.integers(2, 5), extra=st.integers(1, 4), seed=st.integers(0, 10 ** 6))
def test_log_odds_matching_implies_parallel_projected_steering(m, extra, seed):
    """Jiang et al. Thm 3: if ln p̂(c^(i→0)|d)/p̂(c^(i→1)|d) = ln p(C^i=0)/p(C^i=1) for all c and all
    d with d_i = ⋄, then the projections Π_i Δ_{c,i} onto span{f(d): d_i = ⋄} are parallel for all c.
    The tables satisfy the condition with extra noise dimensions, so raw Δ are not parallel."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.3, 0.7, size=m)
    q = np.where(np.abs(q - 0.5) < 0.02, 0.4, q)          # α^(i) = 0 makes Π_i Δ vanish
    model = LatentConceptModel.independent(q)
    F, G = log_odds_matching_tables(model, extra_dims=extra, rng=rng)
    assert log_odds_matching_residual(F, G, model).max() < 1e-9
    for i in range(m):
        P = projected_steering_vectors(F, G, i)
        U = P / np.linalg.norm(P, axis=1, keepdims=True)
        assert np.allclose(U, U[0], atol=1e-8)
        assert mean_pairwise_cosine(unembedding_steering_vectors(G, i)) < 1 - 1e-3
    # The check can fail: perturbing g breaks log-odds matching.
    Gp = G + 0.1 * rng.standard_normal(G.shape)
    assert log_odds_matching_residual(F, Gp, model).max() > 1e-3


def test_exact_construction_fits_conditionals():
    model = LatentConceptModel.independent([0.35, 0.6, 0.45])
    F, G = log_odds_matching_tables(model, margin=30.0)
    logits = F @ G.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.abs(p - model.conditional_table()).max() < 1e-5
    # Corollary 8 in this construction: steering vectors of different concepts are orthogonal.
    h = steering_cosines(F, G).heatmap
    assert np.abs(h[~np.eye(3, dtype=bool)]).max() < 1e-9
