"""The fast engine's centering, Gram and column rules pinned against raw forward passes.

Expected values come from the transformers model itself, one forward pass per h∘f with the
BOS prefix, centered as in Def. 2.1 (ℓ − mean ℓ), assembled as Def. 2.2 — not through
``extended_logit_matrix`` or the shared column chooser, so a wrong rule in the shared code
(e.g. bottom-k for ``topk_bare``) or a wrong centering is caught here.
Tested through ``engine.matrix`` / ``engine.singular_values`` (the stable public API).
"""

import numpy as np
import pytest
import torch
from _tiny_llama import tiny_llama

from logitrank.real_models.engine import LogitMatrixEngine


@pytest.fixture(scope="module")
def lm():
    return tiny_llama(seed=1)


def _raw_logits(lm, seq):
    ids = torch.tensor([lm.prefix_tokens + [int(t) for t in seq]], dtype=torch.long)
    with torch.no_grad():
        return lm.model(input_ids=ids).logits[0, -1].double().numpy()


def _expected(lm, H, F, cols=None):
    rows = []
    for h in H:
        blocks = []
        for j, f in enumerate(F):
            x = _raw_logits(lm, list(h) + list(f))
            x = x - x.mean()                                           # Def. 2.1 centering
            blocks.append(x if cols is None else x[cols[j]])
        rows.append(np.concatenate(blocks))
    return np.array(rows)


H = [[5, 9, 3], [7], [12, 40, 2, 8], [33, 33], [20, 4, 60]]
F = [[], [17], [3, 50], [61]]


def test_engine_full_matrix_equals_raw_forward_passes(lm):
    eng = LogitMatrixEngine(lm, future_chunk=2, max_batch_tokens=16, progress=False)
    got = eng.matrix(H, F)
    want = _expected(lm, H, F)
    assert np.abs(got.values - want).max() < 1e-4 * np.abs(want).max()
    np.testing.assert_allclose(got.values.reshape(5, 4, -1).sum(axis=2), 0.0, atol=1e-3)   # centered blocks


def test_engine_singular_values_are_those_of_the_raw_matrix(lm):
    eng = LogitMatrixEngine(lm, future_chunk=3, progress=False)
    s = eng.singular_values(H, F)
    want = np.linalg.svd(_expected(lm, H, F), compute_uv=False)
    np.testing.assert_allclose(s[:len(want)], want, rtol=1e-3, atol=1e-4 * want[0])


def test_engine_topk_bare_uses_the_top_k_of_the_bare_future(lm):
    k = 5
    cols = []
    for f in F:
        x = _raw_logits(lm, f)
        cols.append(np.sort(np.argsort(-x, kind="stable")[:k]))
    eng = LogitMatrixEngine(lm, progress=False)
    got = eng.matrix(H, F, rule="topk_bare", k=k)
    np.testing.assert_array_equal(got.column_tokens, np.array(cols))
    want = _expected(lm, H, F, cols)
    assert np.abs(got.values - want).max() < 1e-4 * np.abs(want).max()


def test_engine_topk_average_uses_the_mean_probability_over_histories(lm):
    k = 4
    probs = np.zeros((len(F), lm.vocab_size))
    for h in H:
        for j, f in enumerate(F):
            x = _raw_logits(lm, list(h) + list(f))
            probs[j] += np.exp(x - x.max()) / np.exp(x - x.max()).sum() / len(H)
    cols = np.sort(np.argsort(-probs, axis=1, kind="stable")[:, :k], axis=1)
    got = LogitMatrixEngine(lm, progress=False).matrix(H, F, rule="topk_average", k=k)
    np.testing.assert_array_equal(got.column_tokens, cols)
