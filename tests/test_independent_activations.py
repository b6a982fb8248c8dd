"""Activation overlap O_k = max_j |⟨f_j, v_k⟩| pinned independently.

Staats–Thamm–Rosenow (2024) §4: v_k are the right singular vectors of W (rows of Vᵀ),
f_j the eigenvectors of the covariance of W's inputs — the COLUMNS of ``eigh``'s output.
The covariance is rebuilt here from a forward pre-hook; the bound 1/√d ≤ O_k ≤ 1 holds
for any orthonormal basis, so it cannot tell rows from columns — the value is pinned.
"""

import numpy as np
import torch
from test_weights_extraction import tiny_llama

from logitrank.real_models.activations import activation_overlaps
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.weights import extract_weight_matrices


def test_overlap_uses_eigenvector_columns():
    model = tiny_llama()
    tokens = torch.randint(0, 64, (4, 20), generator=torch.Generator().manual_seed(1))
    mats = [wm for wm in extract_weight_matrices(model) if wm.layer == 1 and wm.matrix_type == "down"]
    assert len(mats) == 1
    seen = {}

    def grab(_m, a):
        seen["x"] = a[0].detach().reshape(-1, a[0].shape[-1])    # returns None: input unchanged

    h = model.model.layers[1].mlp.down_proj.register_forward_pre_hook(grab)
    with torch.no_grad():
        model(tokens)
    h.remove()
    x = seen["x"].double().numpy()
    cov = np.cov(x.T, bias=True)
    evals, evecs = np.linalg.eigh(cov)
    W = model.model.layers[1].mlp.down_proj.weight.detach().double().numpy()
    _, _, vt = np.linalg.svd(W, full_matrices=False)
    want = np.array([max(abs(evecs[:, j] @ vt[k]) for j in range(evecs.shape[1])) for k in range(vt.shape[0])])
    wrong = np.array([max(abs(evecs[j, :] @ vt[k]) for j in range(evecs.shape[0])) for k in range(vt.shape[0])])
    assert np.abs(want - wrong).max() > 1e-3                    # rows vs columns is visible here
    res = activation_overlaps(HFCausalLM(model, None), mats, tokens, rng=np.random.default_rng(0))[0]
    np.testing.assert_allclose(res.overlap, want, atol=1e-8)
    np.testing.assert_allclose(res.singular_values, np.linalg.svd(W, compute_uv=False), rtol=1e-10)
