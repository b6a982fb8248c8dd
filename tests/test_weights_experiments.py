"""Activation covariance/overlaps and decile removal on a tiny Llama (real_models/)."""

import numpy as np
import pytest
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.activations import activation_covariances, activation_overlaps
from logitrank.real_models.removal import decile_indices, decile_removal, perplexity
from logitrank.real_models.weights import extract_weight_matrices

from test_weights_extraction import tiny_llama


def test_covariance_matches_manual_hook():
    model = tiny_llama()
    lm = HFCausalLM(model, None)
    tokens = torch.randint(0, 64, (3, 12), generator=torch.Generator().manual_seed(0))
    mats = [wm for wm in extract_weight_matrices(model) if wm.layer == 1 and wm.matrix_type in ("down", "query")]
    covs = activation_covariances(lm, mats, tokens, batch_size=2)
    seen = {}
    mod = model.model.layers[1].mlp.down_proj

    def grab(_m, a):
        seen["x"] = a[0].detach().reshape(-1, a[0].shape[-1])   # returns None: input unchanged

    h = mod.register_forward_pre_hook(grab)
    with torch.no_grad():
        model(tokens)
    h.remove()
    x = seen["x"].double().numpy()
    ref = np.cov(x.T, bias=True)
    name = next(wm.name for wm in mats if wm.matrix_type == "down")
    np.testing.assert_allclose(covs[name][0], ref, atol=1e-10)
    assert covs[name][1] == 36


def test_overlaps_in_range():
    model = tiny_llama()
    lm = HFCausalLM(model, None)
    tokens = torch.randint(0, 64, (4, 20), generator=torch.Generator().manual_seed(1))
    mats = [wm for wm in extract_weight_matrices(model) if wm.layer == 0]
    res = activation_overlaps(lm, mats, tokens, rng=np.random.default_rng(0))
    for r in res:
        assert np.all(r.overlap <= 1 + 1e-9) and np.all(r.overlap >= 1 / np.sqrt(r.input_dim) - 1e-9)
        assert r.band[1] < r.band[0] < r.band[2]


def test_decile_indices_partition():
    parts = [decile_indices(37, d) for d in range(1, 11)]
    assert np.array_equal(np.concatenate(parts), np.arange(37))
    with pytest.raises(InvalidInputError):
        decile_indices(10, 11)


def test_removal_restores_weights():
    model = tiny_llama()
    lm = HFCausalLM(model, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tokens = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(2))
    res = decile_removal(lm, extract_weight_matrices(model), tokens, types=["down"], deciles=[1, 10])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k                  # restored exactly
    assert res.perplexity.shape == (1, 2)
    assert res.base_perplexity == pytest.approx(perplexity(lm, tokens))
    assert res.delta_perplexity[0, 1] != 0                   # the largest decile changed the model (random: any sign)


def test_removal_zeroes_smallest_decile(monkeypatch):
    """While decile 1 is removed, the matrix has exactly its smallest 10% singular values at 0."""
    import logitrank.real_models.removal as rem
    model = tiny_llama()
    lm = HFCausalLM(model, None)
    mats = extract_weight_matrices(model)
    wm = next(w for w in mats if w.matrix_type == "up" and w.layer == 0)
    s0 = np.linalg.svd(wm.weight.double().numpy(), compute_uv=False)
    seen = []
    monkeypatch.setattr(rem, "perplexity", lambda m_, t_, batch_size=8: seen.append(
        np.linalg.svd(wm.weight.detach().double().numpy(), compute_uv=False)) or 1.0)
    rem.decile_removal(lm, mats, torch.randint(0, 64, (1, 8)), types=["up"], deciles=[1])
    s_mod = np.sort(seen[1])                                  # seen[0] is the base evaluation
    k = len(decile_indices(s0.size, 1))
    np.testing.assert_allclose(s_mod[k:], np.sort(s0)[k:], rtol=1e-5)
    np.testing.assert_allclose(s_mod[:k], 0, atol=1e-5)


def test_removal_unknown_type():
    model = tiny_llama()
    lm = HFCausalLM(model, None)
    with pytest.raises(InvalidInputError, match="no matrices of type"):
        decile_removal(lm, extract_weight_matrices(model), torch.randint(0, 64, (1, 8)), types=["nope"])
