"""Incremental LINGEN decoding equals the generic path (same samples, same per-step logits)."""

import copy

import numpy as np
import pytest
import torch
from _tiny_llama import tiny_llama

from logitrank.errors import InvalidInputError
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.lingen_decoder import LinGenDecoder, lingen_generate_incremental
from logitrank.theory.lingen import lingen_evaluate, lingen_generate, lingen_step_logits


def _kl(p_logits, q_logits):
    """KL(softmax p ‖ softmax q) per row, written out in NumPy (independent of the package)."""
    lp = p_logits - p_logits.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    lq = q_logits - q_logits.max(1, keepdims=True)
    lq = lq - np.log(np.exp(lq).sum(1, keepdims=True))
    return (np.exp(lp) * (lp - lq)).sum(1)


def _plain_forward_logits(lm, seqs):
    """Last-position logits of full forwards of BOS∘seq (no cache of any kind; one batch per length)."""
    out = np.empty((len(seqs), lm.vocab_size))
    with torch.no_grad():
        for n in {len(s) for s in seqs}:
            idx = [i for i, s in enumerate(seqs) if len(s) == n]
            ids = torch.tensor([lm.prefix_tokens + [int(t) for t in seqs[i]] for i in idx])
            out[idx] = lm.model(input_ids=ids, use_cache=False).logits[:, -1].double().numpy()
    return out


@pytest.fixture(scope="module", params=["float32", "float64"])
def lm(request):
    base = tiny_llama(seed=2)
    if request.param == "float64":
        return HFCausalLM(copy.deepcopy(base.model).double(), None, prefix_tokens=[0], name="tiny64")
    return base


def _problem(seed=1):
    rng = np.random.default_rng(seed)
    # Two history lengths (two banks), more histories than one batch (several chunks).
    H = [rng.integers(2, 64, 6) for _ in range(19)] + [rng.integers(2, 64, 4) for _ in range(5)]
    return H, rng.normal(size=len(H)) / 4


def test_same_samples_and_step_logits_as_the_generic_path(lm):
    """Same rng draws give the same samples, and at every step the combined logits
    Σ_h v_h L[·|h∘z] of the decoder and of independent full forwards agree: KL < 1e-6."""
    H, coef = _problem()
    n_steps, n_samples = 6, 3
    generic = lingen_generate(lm, H, coef, n_steps, np.random.default_rng(5), n_samples=n_samples)
    dec = LinGenDecoder(lm, H, history_batch=8)
    ours = lingen_generate(dec, H, coef, n_steps, np.random.default_rng(5), n_samples=n_samples)
    np.testing.assert_array_equal(ours, generic)
    dec.clear()
    for t in range(n_steps):
        z = ours[:, :t]
        step = lingen_step_logits(dec, H, coef, z)
        rows = _plain_forward_logits(lm, [np.concatenate([h, zz]) for zz in z for h in H])
        rows = rows - rows.mean(1, keepdims=True)
        ref = np.einsum("h,nhv->nv", coef, rows.reshape(n_samples, len(H), -1))
        assert np.all(np.abs(_kl(ref, step)) < 1e-6)
        assert np.all(np.abs(_kl(step, ref)) < 1e-6)


def test_tokens_through_the_model_are_the_minimum(lm):
    """BOS∘h once per history, then one token per history per sample per step."""
    H, coef = _problem()
    n_steps, n_samples = 5, 2
    dec = LinGenDecoder(lm, H, history_batch=8)
    lingen_generate(dec, H, coef, n_steps, np.random.default_rng(0), n_samples=n_samples)
    bank = sum(1 + len(h) for h in H)
    assert dec.tokens_ == bank + len(H) * n_samples * (n_steps - 1)


def test_evicted_suffixes_are_recomputed_with_the_same_samples(lm):
    H, coef = _problem(3)
    generic = lingen_generate(lm, H, coef, 5, np.random.default_rng(9), n_samples=2)
    dec = LinGenDecoder(lm, H, history_batch=8, max_cache_bytes=0)
    np.testing.assert_array_equal(lingen_generate(dec, H, coef, 5, np.random.default_rng(9), n_samples=2),
                                  generic)
    bank = sum(1 + len(h) for h in H)
    assert dec.tokens_ == bank + len(H) * 2 * sum(range(1, 5))   # every suffix in full, every step


def test_lingen_evaluate_through_the_decoder_equals_generic(lm):
    """The whole evaluation (fit on h∘f, target rows and last-m baseline through the fall-through)
    gives the same samples and the same per-step KL."""
    rng = np.random.default_rng(4)
    H = [rng.integers(2, 64, 5) for _ in range(12)]
    F = [rng.integers(2, 64, 2) for _ in range(3)]
    target = rng.integers(2, 64, 7)
    kw = dict(n_steps=4, n_samples=2, last_m=3)
    a = lingen_evaluate(lm, target, H, F, rng=np.random.default_rng(1), **kw)
    b = lingen_evaluate(LinGenDecoder(lm, H), target, H, F, rng=np.random.default_rng(1), **kw)
    for m in a.samples:
        np.testing.assert_array_equal(a.samples[m], b.samples[m])
        np.testing.assert_allclose(a.per_step_kl[m], b.per_step_kl[m], atol=1e-6, rtol=1e-6)


def test_helper_and_bad_input(lm):
    H, coef = _problem()
    a = lingen_generate(lm, H, coef, 3, np.random.default_rng(2), n_samples=2)
    b = lingen_generate_incremental(lm, H, coef, 3, np.random.default_rng(2), n_samples=2, history_batch=7)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidInputError):
        LinGenDecoder(lm, [])
    with pytest.raises(InvalidInputError):
        LinGenDecoder(lm, H, history_batch=0)
    with pytest.raises(InvalidInputError):
        LinGenDecoder(lm, [np.array([3, 99])])       # token outside the vocabulary, before any forward


@pytest.mark.parametrize("n_hist, method", [(10, "lstsq"), (10, "ridge"), (48, "lstsq"), (48, "min_norm")])
def test_hidden_space_next_token_fit_equals_the_explicit_full_vocabulary_fit(n_hist, method):
    """The next-token-only LINGEN fit done in d_model dimensions equals the fit on the explicit
    |H| × |Σ| matrix of centered next-token logits (built here from the model's own logits,
    centered by hand), below (|H| < d: same coefficients) and above the hidden size (|H| > d: the
    explicit float32 logits carry rounding noise of relative size ~1e-7 outside the d-dim row space,
    which least squares fits; so there the fitted logits vᵀL and residuals are compared, and the
    coefficients of the truncated pseudo-inverse, which cuts that noise, on both sides)."""
    from logitrank.real_models.lingen_decoder import centered_unembedding, next_token_states
    from logitrank.theory.lingen import LinGen, hidden_space_rows
    lm = tiny_llama(seed=3)
    rng = np.random.default_rng(1)
    H = [rng.integers(2, 64, size=5) for _ in range(n_hist)]
    target = rng.integers(2, 64, size=7)
    raw = lm.next_token_logits(np.stack(H))                         # (|H|, V) raw logits
    explicit = raw - raw.mean(axis=1, keepdims=True)
    raw_t = lm.next_token_logits(target[None])[0]
    y = raw_t - raw_t.mean()
    kw = {"rtol": 1e-5} if method == "min_norm" else {}
    ref = LinGen(method=method, **kw).fit(explicit, y)
    Psi_c = centered_unembedding(lm)
    rows, yt = hidden_space_rows(next_token_states(lm, H), next_token_states(lm, [target])[0], Psi_c.T @ Psi_c)
    assert rows.shape == (n_hist, 32)
    got = LinGen(method=method, **kw).fit(rows, yt)
    assert np.allclose(got.coef_ @ explicit, ref.coef_ @ explicit, atol=1e-4 * np.abs(y).max())
    assert abs(got.residual_ - ref.residual_) < 1e-4
    if n_hist < 32 or method == "min_norm":
        assert np.allclose(got.coef_, ref.coef_, atol=1e-4 * max(1.0, np.abs(ref.coef_).max()))
