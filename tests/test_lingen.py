"""LINGEN (Golowich et al. 2025, Alg. 1): exact on ISANs, and its estimator variants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import random_hmm, random_isan
from logitrank.theory.enumeration import all_sequences
from logitrank.theory.lingen import LinGen, lingen_evaluate, lingen_generate
from logitrank.theory.logit_matrix import cutwise_futures


class _CountingModel:
    """Delegates to a model and records every prefix queried."""

    def __init__(self, model):
        self.model, self.seen = model, []
        self.vocab_size, self.horizon = model.vocab_size, model.horizon

    def centered_logits(self, prefixes):
        self.seen.extend(tuple(p) for p in np.asarray(prefixes).tolist())
        return self.model.centered_logits(prefixes)


@settings(max_examples=15, deadline=None)
@given(vocab=st.integers(2, 3), dim=st.integers(1, 3), t=st.integers(2, 3), method=st.sampled_from(["lstsq", "min_norm"]),
       seed=st.integers(0, 10**6))
def test_lingen_is_exact_on_an_isan(vocab, dim, t, method, seed):
    """On a time-varying ISAN, once vᵀ L(H, F) matches the target row on the cut-wise futures
    (H = all other histories of the target's length), Σ_h v_h L[·|h∘z] = L[·|target∘z] for
    every generated z by linearity of the state map, so every per-step KL(P_true ‖ P_LINGEN) < 1e-9."""
    rng = np.random.default_rng(seed)
    T = t + 4
    model = random_isan(vocab, T, dim, rng)
    hist = all_sequences(vocab, t)
    target, H = hist[0], list(hist[1:])
    ev = lingen_evaluate(model, target, H, cutwise_futures(vocab, T, t), n_steps=T - t, n_samples=3,
                         rng=rng, method=method, last_m=1)
    assert ev.residual["lingen"] < 1e-8
    assert np.all(np.abs(ev.per_step_kl["lingen"]) < 1e-9)


def test_lingen_beats_baselines_on_an_isan():
    rng = np.random.default_rng(5)
    model = random_isan(3, 8, 3, rng)
    H = [rng.integers(0, 3, 3) for _ in range(8)]
    ev = lingen_evaluate(model, rng.integers(0, 3, 3), H, cutwise_futures(3, 8, 3)[:13], n_steps=4,
                         n_samples=4, rng=rng, last_m=2)
    assert ev.total_kl["lingen"] < 1e-9 < ev.total_kl["next_token_only"] < ev.total_kl["last_m_tokens"]


def test_generation_never_queries_the_target():
    rng = np.random.default_rng(0)
    inner = random_isan(3, 6, 2, rng)
    spy = _CountingModel(inner)
    H = [np.array([0, 1]), np.array([2, 2]), np.array([1, 0])]
    gen = lingen_generate(spy, H, np.array([0.5, 0.2, 0.3]), 3, rng, n_samples=2)
    assert gen.shape == (2, 3)
    assert all(p[:2] in {(0, 1), (2, 2), (1, 0)} for p in spy.seen)


def test_fit_variants_agree_on_well_posed_problems():
    rng = np.random.default_rng(0)
    L = rng.normal(size=(5, 40))
    v = rng.normal(size=5)
    for method in ("lstsq", "min_norm", "ridge"):
        fit = LinGen(method=method, ridge=1e-12).fit(L, v @ L)
        np.testing.assert_allclose(fit.coef_, v, atol=1e-6)


def test_ridge_shrinks_and_min_norm_is_minimal():
    rng = np.random.default_rng(1)
    L = rng.normal(size=(10, 4))                          # more histories than columns
    y = rng.normal(size=4)
    mn = LinGen(method="min_norm").fit(L, y)
    assert mn.residual_ < 1e-10
    other = mn.coef_ + np.linalg.svd(L.T)[2][-1]          # add a null-space direction
    assert np.linalg.norm(mn.coef_) < np.linalg.norm(other)
    assert np.linalg.norm(LinGen(method="ridge", ridge=1.0).fit(L, y).coef_) < np.linalg.norm(mn.coef_)


def test_lingen_is_not_exact_on_an_hmm():
    """The exactness test can fail: an HMM's logits are not linear in its belief state."""
    rng = np.random.default_rng(2)
    model = random_hmm(3, 3, rng, horizon=8)
    hist = all_sequences(3, 2)
    ev = lingen_evaluate(model, hist[0], list(hist[1:4]), [[]], n_steps=4, n_samples=3, rng=rng, last_m=1,
                         baselines=())
    assert ev.total_kl["lingen"] > 1e-6


def test_bad_input():
    with pytest.raises(InvalidInputError):
        LinGen(method="nope").fit(np.ones((2, 3)), np.ones(3))
    with pytest.raises(InvalidInputError, match="history_matrix"):
        LinGen().fit(np.ones((2, 3)), np.ones(4))


def test_on_step_reports_every_generated_step_and_changes_nothing():
    """``on_step(done, total)`` is called once per step of each method (total = methods × steps,
    done = 1 … total in order); the evaluation equals the one without a callback."""
    rng_model = np.random.default_rng(3)
    model = random_isan(3, 8, 3, rng_model)
    args = (np.array([0, 1, 2]), [np.array([0, 0, 1]), np.array([1, 2, 0]), np.array([2, 2, 2])],
            cutwise_futures(3, 8, 3)[:13])
    calls = []
    ev = lingen_evaluate(model, *args, n_steps=4, n_samples=2, rng=np.random.default_rng(0),
                         on_step=lambda done, total: calls.append((done, total)))
    ref = lingen_evaluate(model, *args, n_steps=4, n_samples=2, rng=np.random.default_rng(0))
    assert calls == [(i, 12) for i in range(1, 13)]           # 3 methods × 4 steps
    for m in ref.per_step_kl:
        np.testing.assert_array_equal(ev.per_step_kl[m], ref.per_step_kl[m])
        np.testing.assert_array_equal(ev.samples[m], ref.samples[m])
