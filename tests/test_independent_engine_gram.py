"""The engine's Gram, centering, columns and token count pinned against raw forward passes.

Expected values are computed here from the transformers model alone, one forward pass per
h∘f after the BOS prefix: L[z | p] = log P(z | p) − mean_z' log P(z' | p) (Golowich, Liu,
Shetty 2025, Def. 2.1, from ``log_softmax`` — not the logits the engine centers), columns
(f, z) future-major (Def. 2.2), the Gram G = L Lᵀ in float64 and its singular values
√eig(G). The column rule "topk_average" is the k largest of (1/|H|) Σ_h P(z | h∘f), ties to
the smaller id. Eleven histories (more than the engine's 8-history softmax batch) and five
futures in chunks of two, so every loop runs more than once.
"""

import re

import numpy as np
import pytest
import torch
from _tiny_llama import tiny_llama

from logitrank.errors import InvalidInputError
from logitrank.real_models.engine import LogitGram, LogitMatrixEngine
from logitrank.real_models.runtime import torch_threads

H = [[5, 9, 3], [7], [12, 40, 2, 8], [33, 33], [20, 4, 60], [], [61, 2, 2, 9, 30], [8, 8],
     [41], [3, 14, 15], [50, 6]]
F = [[17], [], [3, 50], [61, 7, 7], [9, 22]]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):        # many tiny forward passes: 2 spinning threads are far slower on 2 loaded cores
        yield


@pytest.fixture(scope="module")
def lm():
    return tiny_llama(seed=2)


def _log_probs(lm, seq):
    ids = torch.tensor([lm.prefix_tokens + [int(t) for t in seq]], dtype=torch.long)
    with torch.no_grad():
        return torch.log_softmax(lm.model(input_ids=ids).logits[0, -1].double(), dim=-1).numpy()


@pytest.fixture(scope="module")
def rows(lm):
    """Centered log-probabilities of every h∘f: array (|H|, |F|, V)."""
    out = np.zeros((len(H), len(F), lm.vocab_size))
    for i, h in enumerate(H):
        for j, f in enumerate(F):
            lp = _log_probs(lm, list(h) + list(f))
            out[i, j] = lp - lp.mean()
    return out


def _matrix(rows, cols=None):
    """L(H, F) with columns (f, z) future-major; ``cols[j]`` the tokens of future j (all if None)."""
    blocks = [rows[:, j] if cols is None else rows[:, j, cols[j]] for j in range(len(F))]
    return np.concatenate(blocks, axis=1)


def _topk_average(rows, k):
    p = np.exp(rows)
    p /= p.sum(axis=2, keepdims=True)                           # P(z | h∘f)
    avg = p.mean(axis=0)                                        # (|F|, V)
    return np.array([sorted(sorted(range(avg.shape[1]), key=lambda z: (-avg[j, z], z))[:k])
                     for j in range(len(F))])


def _close(got, want, rel=2e-5):
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= rel * np.abs(want).max()


EXPLICIT = np.random.default_rng(0).integers(0, 64, size=(len(F), 6))


@pytest.mark.parametrize("head", ["auto", "logits"])
@pytest.mark.parametrize("rule", ["full", "topk_average", "explicit"])
def test_gram_is_l_l_transpose_of_the_raw_matrix(lm, rows, head, rule):
    eng = LogitMatrixEngine(lm, future_chunk=2, max_batch_tokens=20, head=head, progress=False)
    assert eng.head_mode == ("identity" if head == "auto" else "logits")
    if rule == "full":
        cols, g = None, eng.gram(H, F)
    elif rule == "topk_average":
        cols = _topk_average(rows, 5)
        g = eng.gram(H, F, rule="topk_average", k=5)
    else:
        cols, g = EXPLICIT, eng.gram(H, F, column_tokens=EXPLICIT)
    L = _matrix(rows, cols)
    assert g.gram.dtype == np.float64
    _close(g.gram, L @ L.T)
    np.testing.assert_allclose(g.gram, g.gram.T, rtol=1e-12)
    assert (g.n_histories, g.n_futures, g.rule) == (11, 5, rule)
    # packing is the default: each history once after BOS, then every future token once per history
    assert g.tokens == sum(1 + len(h) for h in H) + len(H) * sum(len(f) for f in F)
    want_cols = np.tile(np.arange(64), (5, 1)) if cols is None else cols
    np.testing.assert_array_equal(g.column_tokens, want_cols)
    np.testing.assert_allclose(g.singular_values()[:11], np.linalg.svd(L, compute_uv=False), rtol=1e-4,
                               atol=1e-5 * np.abs(L).max())


@pytest.mark.parametrize("packing", [True, False])
@pytest.mark.parametrize("head", ["identity", "logits"])
def test_matrix_entries_are_centered_log_probabilities(lm, rows, packing, head):
    eng = LogitMatrixEngine(lm, future_chunk=2, max_batch_tokens=20, packing=packing, head=head, progress=False)
    got = eng.matrix(H, F)
    _close(got.values, _matrix(rows))
    cols = _topk_average(rows, 4)
    got = eng.matrix(H, F, rule="topk_average", k=4)
    np.testing.assert_array_equal(got.column_tokens, cols)
    _close(got.values, _matrix(rows, cols))


def test_singular_values_of_a_hand_made_gram():
    """√eig(G), descending; a negative eigenvalue from rounding becomes exactly 0."""
    def gram(values):
        return LogitGram(values, np.zeros((1, 1), dtype=np.int64), "full", len(values), 1)
    np.testing.assert_allclose(gram(np.diag([1.0, 16.0, 4.0])).singular_values(), [4.0, 2.0, 1.0], rtol=1e-15)
    q = np.array([[0.6, -0.8], [0.8, 0.6]])
    s = gram(q @ np.diag([9.0, -1e-12]) @ q.T).singular_values()
    assert s[1] == 0.0 and s[0] == pytest.approx(3.0, rel=1e-14)
    g = gram(np.diag([2.0, 3.0]))
    assert (g.k, g.frobenius_norm_sq) == (1, 5.0)


@pytest.mark.parametrize("packing", [True, False])
def test_tokens_counted_once_per_forward_token(lm, packing):
    """Packed: each history once with its prefix, then every history × every future token once.
    Repeat strategy: the futures of a chunk padded to the chunk's longest, for every history."""
    eng = LogitMatrixEngine(lm, future_chunk=2, packing=packing, progress=False)
    g = eng.gram(H, F, rule="topk_average", k=3)
    prefix = sum(1 + len(h) for h in H)
    if packing:
        fut = len(H) * sum(len(f) for f in F)
    else:
        chunks = [F[i:i + 2] for i in range(0, len(F), 2)]
        fut = len(H) * sum(sum(1 for f in c if f) * max(len(f) for f in c) for c in chunks)
    assert g.tokens == prefix + fut
    assert eng.tokens_processed == g.tokens


def test_chunk_callback_progress_and_shards(lm, rows, capsys):
    """on_chunk sees (done, total) after each chunk; two shards' Grams add up to the whole;
    progress=False writes nothing, progress=True draws the chunk bar on stderr."""
    seen = []
    eng = LogitMatrixEngine(lm, future_chunk=2, progress=False)
    whole = eng.gram(H, F, rule="topk_average", k=3, on_chunk=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert capsys.readouterr().err == ""
    parts = [eng.gram(H, F, rule="topk_average", k=3, shard=(r, 2)) for r in (0, 1)]
    _close(parts[0].gram + parts[1].gram, whole.gram, rel=1e-12)
    np.testing.assert_array_equal(parts[0].column_tokens[2:4], -1)          # chunk 1 is the other shard's
    np.testing.assert_array_equal(parts[1].column_tokens[2:4], whole.column_tokens[2:4])
    L = _matrix(rows, _topk_average(rows, 3))
    mine = np.concatenate([L[:, :6], L[:, 12:15]], axis=1)        # chunks 0 (futures 0, 1) and 2 (future 4)
    _close(parts[0].gram, mine @ mine.T)
    LogitMatrixEngine(lm, future_chunk=2).gram(H, F, rule="topk_average", k=3)      # progress=True by default
    assert "L(H,F) chunks" in capsys.readouterr().err


def _raises(message):
    return pytest.raises(InvalidInputError, match="^" + re.escape(message) + "$")


def test_constructor_rejections_and_forced_heads(lm, rows):
    for kw in ({"future_chunk": 0}, {"max_batch_tokens": 0}, {"history_batch": 0}):
        with _raises("future_chunk, max_batch_tokens and history_batch must be >= 1"):
            LogitMatrixEngine(lm, **kw)
    with _raises("head must be 'auto', 'identity' or 'logits', got 'bias'"):
        LogitMatrixEngine(lm, head="bias")
    eng = LogitMatrixEngine(lm, head="identity", history_batch=3, max_batch_tokens=5, progress=False)
    assert eng.head_mode == "identity"
    _close(eng.matrix(H, F).values, _matrix(rows))
    one = LogitMatrixEngine(lm, future_chunk=1, max_batch_tokens=1, history_batch=1, progress=False)
    _close(one.matrix(H, F).values, _matrix(rows))                # 1 is a valid size for every knob
    no_decoder = tiny_llama(seed=2)
    no_decoder.model.get_decoder = lambda: None
    with _raises("head='identity' needs a model with get_decoder(); use head='logits'"):
        LogitMatrixEngine(no_decoder, head="identity")
    auto = LogitMatrixEngine(no_decoder, progress=False)
    assert auto.head_mode == "logits"
    _close(auto.matrix(H, F).values, _matrix(rows))
