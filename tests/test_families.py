"""Every causal-LM family transformers ships gives the logits of its own plain forward through
every fast path: the adapter's logits and sampling caches, the engine's L(H, F) under each column
rule (Golowich, Liu, Shetty 2025, Def. 2.2) with futures longer than any sliding window, its
history states, and the LINGEN decoder over several generation steps (§3, Algorithm 1).

The reference is written here: one sequence at a time, ``model(prefix ∘ h ∘ f).logits[0, -1]`` with
no cache, no batching and no padding — the definition of the next-token logits — centered over
the vocabulary. A family listed in ``_model_zoo.UNBUILDABLE`` is checked to still fail to build
(with its reason), so nothing is skipped silently.
"""

import warnings

import numpy as np
import pytest
import torch
from _model_zoo import FAMILIES, UNBUILDABLE, UnbuildableFamily, build_tiny, tiny_lm

from logitrank.real_models.engine import LogitMatrixEngine
from logitrank.real_models.lingen_decoder import LinGenDecoder
from logitrank.theory.lingen import lingen_generate
from logitrank.theory.sequence_model import SequenceModel

# float32 end to end: the cached and the full forward sum the same terms in another order.
REL_TOL = 1e-5
STATE_REL_TOL_FLOAT32 = 1e-4


@torch.no_grad()
def plain_logits(model, prefix, seq) -> np.ndarray:
    """The definition: one full forward of prefix ∘ seq, last position, float64."""
    ids = torch.tensor([list(prefix) + [int(t) for t in seq]])
    return model(input_ids=ids).logits[0, -1].double().numpy()


class PlainForwards(SequenceModel):
    """The reference sequence model: :func:`plain_logits` for every query."""

    horizon = None

    def __init__(self, model, prefix, vocab):
        self.model, self.prefix, self.vocab_size = model, list(prefix), vocab

    def _logits(self, prefixes):
        return np.stack([plain_logits(self.model, self.prefix, p) for p in prefixes])


def _rel(got, want) -> float:
    return float(np.abs(np.asarray(got) - want).max() / max(np.abs(want).max(), 1e-12))


def _centered(x):
    return x - x.mean(axis=-1, keepdims=True)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _data(vocab: int, seed: int = 0):
    """Histories of 3–9 tokens and futures of 0–12: with BOS, up to 22 tokens — beyond every
    zoo family's sliding window of 8."""
    rng = np.random.default_rng(seed)
    H = [rng.integers(2, vocab, size=n) for n in (9, 6, 9, 3)]
    F = [rng.integers(2, vocab, size=n) for n in (0, 1, 5, 12, 12, 3)]
    return H, F


@pytest.fixture(scope="module")
def quiet():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # width-32 models: one thread is fastest (no spin-waiting)
    with warnings.catch_warnings():
        # transformers warns about tiny configs (rope defaults, fallbacks to its torch kernels);
        # those are about the zoo's sizes, not about what is tested here.
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_every_fast_path_equals_plain_forwards(model_type, quiet):
    if model_type in UNBUILDABLE:
        with pytest.raises(UnbuildableFamily):
            build_tiny(model_type)
        return
    lm = tiny_lm(model_type)
    if lm.family.cache_kind not in ("state", "hybrid"):
        _check_every_path(lm, REL_TOL, torch.float32)
        return
    # A recurrence advanced one token per forward (the cached paths) and the same recurrence run
    # as a scan over the whole sequence (the full forward) round differently, and transformers'
    # state-space steps compute in float32 even in a float64 model (``.float()`` inside the
    # selective-state update): measured up to 2.4e-5 relative here (Mamba), 6.1e-5 on the data of
    # benchmarks/bench_families.py (Zamba2).
    _check_every_path(lm, STATE_REL_TOL_FLOAT32, torch.float32)


def _check_every_path(lm, tol: float, head_dtype) -> None:
    model, prefix, V = lm.model, lm.prefix_tokens, lm.vocab_size
    H, F = _data(V)
    # --- the reference rows L[· | h ∘ f], (|H|, |F|, V)
    raw = np.stack([np.stack([plain_logits(model, prefix, np.concatenate([h, f])) for f in F]) for h in H])
    ref = _centered(raw)

    # --- the adapter: batched logits, then the kept caches of a prefix-plus-one-token batch
    seqs = [np.concatenate([H[0], F[3]]), np.concatenate([H[2], F[4]])]
    assert _rel(lm.next_token_logits(np.stack(seqs)), np.stack([raw[0, 3], raw[2, 4]])) <= tol
    longer = np.stack([np.concatenate([s, [5]]) for s in seqs])
    want = np.stack([plain_logits(model, prefix, s) for s in longer])
    assert _rel(lm.next_token_logits(longer), want) <= tol
    lm.clear_kv_cache()

    # --- the engine, every column rule, one engine (its path is checked once per request)
    eng = LogitMatrixEngine(lm, future_chunk=4, max_batch_tokens=64, history_batch=3, head_dtype=head_dtype,
                            progress=False)
    full = eng.matrix(H, F, rule="full")
    assert _rel(full.values.reshape(len(H), len(F), V), ref) <= tol, eng.path_notes_
    if eng.head_mode == "identity":
        # φ(h) Ψ_cᵀ is the empty future's row (the bridge identity, on this family's head)
        W = model.get_output_embeddings().weight.detach().double().numpy()
        assert _rel(eng.history_states_ @ (W - W.mean(axis=0)).T, ref[:, 0]) <= tol
    else:
        assert eng.history_states_ is None
    k = 5
    avg = eng.matrix(H, F, rule="topk_average", k=k)
    want_cols = np.sort(np.argsort(-_softmax(raw).mean(axis=0), axis=-1, kind="stable")[:, :k], axis=1)
    np.testing.assert_array_equal(avg.column_tokens, want_cols)
    want_vals = np.take_along_axis(ref, np.broadcast_to(want_cols, (len(H),) + want_cols.shape), axis=2)
    assert _rel(avg.values.reshape(len(H), len(F), k), want_vals) <= tol
    bare = eng.matrix(H, F, rule="topk_bare", k=k)
    bare_raw = np.stack([plain_logits(model, prefix, f) for f in F])
    np.testing.assert_array_equal(bare.column_tokens,
                                  np.sort(np.argsort(-bare_raw, axis=-1, kind="stable")[:, :k], axis=1))
    rnd = eng.matrix(H, F, rule="random", k=k, rng=np.random.default_rng(1))
    cols = rnd.column_tokens
    assert cols.shape == (len(F), k) and all(len(set(r)) == k for r in cols.tolist())
    got = rnd.values.reshape(len(H), len(F), k)
    assert _rel(got, np.take_along_axis(ref, np.broadcast_to(cols, (len(H),) + cols.shape), axis=2)) <= tol

    # --- LINGEN decoding: the queries h ∘ z_{1:t} of four steps, then whole generations
    dec = LinGenDecoder(lm, H, history_batch=3)
    z = [7, 3, 11, 2]
    for t in range(len(z) + 1):
        queries = np.stack([np.concatenate([h, z[:t]]) for h in H if len(h) == 9])
        want = np.stack([plain_logits(model, prefix, q) for q in queries])
        assert _rel(dec.next_token_logits(queries), want) <= tol, (t, dec.mode)
    coef = np.array([0.6, -0.2, 0.4, 0.2])
    plain = PlainForwards(model, prefix, V)
    a = lingen_generate(LinGenDecoder(lm, H, history_batch=3), H, coef, 4, np.random.default_rng(5), n_samples=2)
    b = lingen_generate(plain, H, coef, 4, np.random.default_rng(5), n_samples=2)
    np.testing.assert_array_equal(a, b)

    # --- sampling from the model itself goes through the adapter's caches: same draws as plain
    s1 = lm.sample(2, 6, np.random.default_rng(2))
    lm.clear_kv_cache()
    s2 = plain.sample(2, 6, np.random.default_rng(2))
    np.testing.assert_array_equal(s1, s2)


def test_a_misjudged_family_costs_speed_not_numbers(quiet):
    """A description that wrongly admits the packed path (a sliding-window Mistral described as
    full attention) is caught by the engine's check against plain forwards on the request itself:
    the packed path is refused with its measured difference and the matrix is still exact."""
    import dataclasses
    lm = tiny_lm("mistral")
    assert lm.family.sliding_window == 8 and "packed" not in lm.family.engine_paths(22)
    lm.family = dataclasses.replace(lm.family, cache_kind="kv", sliding_window=None)
    assert lm.family.engine_paths(22)[0] == "packed"
    H, F = _data(lm.vocab_size)
    ref = _centered(np.stack([np.stack([plain_logits(lm.model, lm.prefix_tokens, np.concatenate([h, f]))
                                        for f in F]) for h in H]))
    eng = LogitMatrixEngine(lm, future_chunk=4, progress=False)
    got = eng.matrix(H, F, rule="full").values.reshape(ref.shape)
    assert "packed" in eng.path_notes_ and eng.path_ != "packed"
    assert _rel(got, ref) <= REL_TOL


def test_a_family_whose_forward_fails_gets_one_package_error(quiet):
    """Where no path can work (the plain forward itself raises), one ModelOutputError names the family."""
    from logitrank.errors import ModelOutputError
    lm = tiny_lm("llama")

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel for this input")

    lm.model.forward = broken
    eng = LogitMatrixEngine(lm, progress=False)
    assert eng.head_mode == "logits"
    with pytest.raises(ModelOutputError, match="LlamaForCausalLM .llama.: a plain forward"):
        eng.matrix([np.array([3, 4])], [np.array([5])], rule="full")
