"""The fast engine equals the generic definition of L(H, F) (Golowich et al. 2025, Def. 2.2)."""

import numpy as np
import pytest

from _tiny_llama import tiny_llama
from logitrank.errors import InvalidInputError
from logitrank.real_models.engine import LogitMatrixEngine, engine_logit_matrix, load_matrix_chunks
from logitrank.theory.logit_matrix import extended_logit_matrix


@pytest.fixture(scope="module")
def lm():
    return tiny_llama(seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    H = [rng.integers(2, 64, size=n) for n in [3, 5, 5, 4, 3, 6, 2, 0, 4]]
    F = [rng.integers(2, 64, size=n) for n in [0, 1, 3, 2, 4, 1, 2, 3, 3, 2, 5]]
    return H, F


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("head", ["auto", "logits"])
@pytest.mark.parametrize("rule", ["full", "topk_average", "topk_bare", "random"])
def test_engine_matrix_equals_generic_path(lm, data, head, rule):
    """Same entries and same columns as extended_logit_matrix, for every column rule and both heads."""
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=3, max_batch_tokens=24, head=head, progress=False)
    if head == "auto":
        assert eng.head_mode == "identity"      # bias-free Llama head: the centering identity holds
    k = None if rule == "full" else 7
    ref = extended_logit_matrix(lm, H, F, rule=rule, k=k, rng=np.random.default_rng(3))
    got = eng.matrix(H, F, rule=rule, k=k, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(got.column_tokens, ref.column_tokens)
    assert got.values.shape == ref.values.shape
    assert _rel(got.values, ref.values) < 1e-5


def test_history_states_are_the_final_hidden_states_after_each_history(lm, data):
    """history_states_[i] = the decoder's last hidden state after prefix ∘ h_i (a plain forward of that
    one sequence), in history order; Ψ_c φ(h) is then the empty future's row. None with a logits head."""
    import torch
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=4, history_batch=3, progress=False)
    got = eng.matrix(H, F, rule="full")
    dec = lm.model.get_decoder()
    with torch.no_grad():
        want = np.stack([dec(input_ids=torch.tensor([list(lm.prefix_tokens) + h.tolist()])).last_hidden_state[0, -1]
                         .double().numpy() for h in H])
    assert eng.history_states_.shape == want.shape
    np.testing.assert_allclose(eng.history_states_, want, rtol=1e-5, atol=1e-5)
    W = lm.model.get_output_embeddings().weight.detach().double().numpy()
    empty = [j for j, f in enumerate(F) if len(f) == 0][0]
    np.testing.assert_allclose(eng.history_states_ @ (W - W.mean(axis=0)).T,
                               got.values[:, empty * lm.vocab_size:(empty + 1) * lm.vocab_size], rtol=1e-4, atol=1e-4)
    logits_head = LogitMatrixEngine(lm, head="logits", progress=False)
    logits_head.matrix(H, F, rule="topk_average", k=4)
    assert logits_head.history_states_ is None


@pytest.mark.parametrize("head", ["auto", "logits"])
def test_repeat_strategy_without_packing(lm, data, head):
    """The KV-repeat strategy (no prefix-tree mask) gives the same matrix."""
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=4, max_batch_tokens=24, head=head, packing=False, progress=False)
    ref = extended_logit_matrix(lm, H, F, rule="topk_average", k=6)
    got = eng.matrix(H, F, rule="topk_average", k=6)
    np.testing.assert_array_equal(got.column_tokens, ref.column_tokens)
    assert _rel(got.values, ref.values) < 1e-5


@pytest.mark.parametrize("rule", ["full", "topk_average"])
def test_streaming_gram_singular_values(lm, data, rule):
    """√eig of the streamed float64 Gram equals the dense SVD of the reference matrix."""
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=4, progress=False)
    ref = np.linalg.svd(extended_logit_matrix(lm, H, F, rule=rule, k=6).values, compute_uv=False)
    g = eng.gram(H, F, rule=rule, k=6)
    s = g.singular_values()[:len(ref)]
    assert np.abs(s - ref).max() / ref[0] < 1e-5


def test_explicit_columns_shared_by_target_row(lm, data):
    """A target row built with the history matrix's column_tokens lines up column by column."""
    H, F = data
    hist = engine_logit_matrix(lm, H[:-1], F, rule="topk_average", k=5)
    ref = extended_logit_matrix(lm, [H[-1]], F, rule="topk_average", column_tokens=hist.column_tokens)
    got = engine_logit_matrix(lm, [H[-1]], F, rule="topk_average", column_tokens=hist.column_tokens)
    np.testing.assert_array_equal(ref.column_tokens, hist.column_tokens)
    np.testing.assert_array_equal(got.column_tokens, hist.column_tokens)
    assert _rel(got.values, ref.values) < 1e-5
    with pytest.raises(InvalidInputError, match="column_tokens"):
        extended_logit_matrix(lm, H, F, column_tokens=hist.column_tokens[:-1])
    with pytest.raises(InvalidInputError, match="disagrees"):
        engine_logit_matrix(lm, H, F, k=4, column_tokens=hist.column_tokens)


def test_head_with_bias_falls_back_to_full_logits(data):
    """An LM head with a bias breaks the centering identity: auto must fall back and stay exact."""
    import torch
    lm = tiny_llama(seed=1)
    old = lm.model.lm_head
    new = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        new.weight.copy_(old.weight)
        new.bias.uniform_(-3, 3)
    lm.model.lm_head = new
    H, F = data
    eng = LogitMatrixEngine(lm, progress=False)
    assert eng.head_mode == "logits"
    ref = extended_logit_matrix(lm, H, F, rule="topk_bare", k=5)
    assert _rel(eng.matrix(H, F, rule="topk_bare", k=5).values, ref.values) < 1e-5


def test_matrix_written_in_chunks(lm, data, tmp_path):
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=4, progress=False)
    g = eng.gram(H, F, rule="random", k=5, rng=np.random.default_rng(0), run_dir=tmp_path, save_matrix=True)
    ref = extended_logit_matrix(lm, H, F, rule="random", k=5, rng=np.random.default_rng(0))
    assert _rel(load_matrix_chunks(tmp_path), ref.values) < 1e-5
    np.testing.assert_array_equal(g.column_tokens, ref.column_tokens)


def test_matrix_with_run_dir_is_the_reference_matrix_and_resumes_without_recomputing(lm, data, tmp_path):
    """matrix(run_dir=…) streams checkpointed chunks: same values and columns as the reference path
    (random columns drawn once from rng), and a second call finds every chunk done (no tokens run)."""
    H, F = data
    eng = LogitMatrixEngine(lm, future_chunk=4, progress=False)
    got = eng.matrix(H, F, rule="random", k=5, rng=np.random.default_rng(0), run_dir=tmp_path)
    ref = extended_logit_matrix(lm, H, F, rule="random", k=5, rng=np.random.default_rng(0))
    assert _rel(got.values, ref.values) < 1e-5
    np.testing.assert_array_equal(got.column_tokens, ref.column_tokens)
    np.testing.assert_array_equal(got.values, eng.matrix(H, F, rule="random", k=5, rng=np.random.default_rng(0)).values)
    assert eng.head_mode == "identity" and eng.history_states_ is not None
    before = eng.tokens_processed
    again = eng.matrix(H, F, rule="random", k=5, rng=np.random.default_rng(0), run_dir=tmp_path)
    assert eng.tokens_processed == before
    assert eng.history_states_ is None                   # no history pass: no (stale) states
    np.testing.assert_array_equal(again.values, got.values)


def test_bad_inputs_raise_clear_errors(lm, data, tmp_path):
    H, F = data
    eng = LogitMatrixEngine(lm, progress=False)
    with pytest.raises(InvalidInputError, match="k=100 is out of range"):
        eng.gram(H, F, rule="topk_average", k=100, run_dir=tmp_path / "a")
    with pytest.raises(InvalidInputError, match="context"):
        eng.gram([np.arange(2, 62)], F, rule="topk_average", k=3, run_dir=tmp_path / "b")
    with pytest.raises(InvalidInputError, match="unknown column rule"):
        eng.gram(H, F, rule="top5", k=3, run_dir=tmp_path / "c")
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        eng.gram([[2, 64]], F, rule="topk_average", k=3, run_dir=tmp_path / "d")
    # Nothing was written that a resume could trust.
    assert not any(tmp_path.iterdir())


def test_engine_cache_lives_on_the_model_and_follows_its_weights(data):
    """engine_logit_matrix caches per model object: each model gets its own matrix, an in-place weight
    update invalidates the cache, and a deleted model is freed (no module-level table keeps it alive)."""
    import gc
    import weakref

    import torch
    H, F = data
    a, b = tiny_llama(seed=0), tiny_llama(seed=2)
    ma = engine_logit_matrix(a, H, F, rule="topk_bare", k=4)
    mb = engine_logit_matrix(b, H, F, rule="topk_bare", k=4)
    assert _rel(mb.values, extended_logit_matrix(b, H, F, rule="topk_bare", k=4).values) < 1e-5
    assert engine_logit_matrix(a, H, F, rule="topk_bare", k=4) is ma           # memo hit, same model
    with torch.no_grad():
        a.model.model.layers[0].mlp.down_proj.weight.mul_(3.0)
    ma2 = engine_logit_matrix(a, H, F, rule="topk_bare", k=4)
    assert ma2 is not ma
    assert _rel(ma2.values, extended_logit_matrix(a, H, F, rule="topk_bare", k=4).values) < 1e-5
    assert _rel(ma2.values, ma.values) > 1e-3
    gone = weakref.ref(b)
    del b, mb
    gc.collect()
    assert gone() is None
