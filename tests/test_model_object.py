"""The one real-model object: loader, validation before loading, and what each lens needs.

Each quantity is checked against an independent computation written here (torch/transformers
calls on the raw model), not against another path through the object.
"""

import numpy as np
import pytest
import torch
from _tiny_llama import tiny_llama

from logitrank.errors import InvalidInputError, LogitRankError, ModelLoadError
from logitrank.real_models import loading
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.runtime import resolve_device, torch_threads


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The tiny Llama saved with save_pretrained (no tokenizer files)."""
    d = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(seed=3).model.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return HFCausalLM.load(tiny_dir, device="cpu", tokenizer=False, prefix_tokens=[0])


def test_loads_local_dir_with_same_weights(tiny, tiny_dir):
    ref = tiny_llama(seed=3).model
    assert tiny.is_causal and tiny.device.type == "cpu" and tiny.name == str(tiny_dir)
    for (k, a), (_, b) in zip(tiny.model.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    x = np.array([[0, 5, 9, 3]])
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).logits[:, -1].double().numpy()
    np.testing.assert_allclose(tiny.next_token_logits(x[:, 1:]), want, rtol=1e-5, atol=1e-5)


def test_unembedding_is_lm_head(tiny):
    np.testing.assert_array_equal(tiny.unembedding(), tiny.model.lm_head.weight.detach().double().numpy())


def test_final_hidden_states_are_last_normed_hidden_state(tiny):
    """φ(p) = output_hidden_states[-1] at the last position (HF applies the final norm there)."""
    prompts = [[0, 4, 7], [0, 2], [0, 9, 9], [1]]
    got = tiny.final_hidden_states(prompts, batch_size=1)
    for p, row in zip(prompts, got):
        with torch.no_grad():
            out = tiny.model(torch.tensor([p]), output_hidden_states=True)
        np.testing.assert_allclose(row, out.hidden_states[-1][0, -1].double().numpy(), rtol=1e-5, atol=1e-6)
        # and the LM head applied to it gives the model's logits
        np.testing.assert_allclose(tiny.unembedding() @ row, out.logits[0, -1].double().numpy(),
                                   rtol=1e-4, atol=1e-4)


def test_weight_matrices_by_type(tiny):
    mats = tiny.weight_matrices()
    layers = tiny.model.model.layers
    want = {}
    for i, blk in enumerate(layers):
        for t, mod in (("query", blk.self_attn.q_proj), ("key", blk.self_attn.k_proj),
                       ("value", blk.self_attn.v_proj), ("attention_output", blk.self_attn.o_proj),
                       ("gate", blk.mlp.gate_proj), ("up", blk.mlp.up_proj), ("down", blk.mlp.down_proj)):
            want[(t, i)] = mod.weight
    got = {(wm.matrix_type, wm.layer): wm.weight for wm in mats}
    assert got.keys() == want.keys()
    assert all(got[k] is want[k] or torch.equal(got[k], want[k]) for k in want)
    emb = tiny.weight_matrices(include_embeddings=True)
    assert len(emb) == len(mats) + 2 and sum(wm.matrix_type == "embedding" for wm in emb) == 2


def test_twin_is_seeded_random_init(tiny):
    a, b, c = tiny.twin(0), tiny.twin(0), tiny.twin(1)
    wa, wb, wc = (m.model.model.layers[0].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert not torch.equal(wa, tiny.model.model.layers[0].mlp.up_proj.weight)
    assert a.prefix_tokens == tiny.prefix_tokens and "random-init-seed0" in a.name
    twin = HFCausalLM.load(tiny.name, device="cpu", tokenizer=False, prefix_tokens=[0], twin_seed=0)
    assert torch.equal(twin.model.model.layers[0].mlp.up_proj.weight, wa)


@pytest.mark.parametrize("method", ["categorical", "generate", "multinomial"])
def test_sample_tokens_seeded(tiny, method):
    a = tiny.sample_tokens(3, 6, seed=4, method=method)
    assert a.shape == (3, 6) and a.dtype == np.int64
    assert np.array_equal(a, tiny.sample_tokens(3, 6, seed=4, method=method))
    assert not np.array_equal(a, tiny.sample_tokens(3, 6, seed=5, method=method))


def test_categorical_sampling_is_sequence_model_sample(tiny):
    """The default method is SequenceModel.sample with default_rng(seed): the lens-1 samples."""
    want = tiny.sample(4, 5, np.random.default_rng(11))
    np.testing.assert_array_equal(tiny.sample_tokens(4, 5, seed=11), want)
    with pytest.raises(InvalidInputError, match="sampling method"):
        tiny.sample_tokens(2, 3, seed=0, method="nucleus")


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def _never_load(*a, **k):
    raise AssertionError("the loader was reached before validation failed")


@pytest.mark.parametrize("case", ["missing", "no_config", "truncated_gguf", "not_gguf", "dtype", "cuda",
                                  "device_name", "not_hub_id", "model_object"])
def test_bad_inputs_fail_before_loading(case, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "load_weights", _never_load)
    import logitrank.real_models.adapter as adapter
    monkeypatch.setattr(adapter, "load_weights", _never_load)
    kw = {}
    if case == "missing":
        src, err = tmp_path / "nope", ModelLoadError
    elif case == "no_config":
        (tmp_path / "weights.bin").write_bytes(b"x")
        src, err = tmp_path, ModelLoadError
    elif case == "truncated_gguf":
        src, err = tmp_path / "m.gguf", ModelLoadError
        src.write_bytes(b"GGUF\x03\x00")
    elif case == "not_gguf":
        src, err = tmp_path / "m.gguf", ModelLoadError
        src.write_bytes(b"not a gguf file at all, just text" * 4)
    elif case == "dtype":
        src, err, kw = "smollm2", InvalidInputError, {"dtype": "float8"}
    elif case == "cuda":
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        src, err, kw = "smollm2", InvalidInputError, {"device": "cuda"}
    elif case == "device_name":
        src, err, kw = "smollm2", InvalidInputError, {"device": "tpu9"}
    elif case == "model_object":
        src, err = torch.nn.Linear(2, 2), InvalidInputError
    else:
        src, err = "just a name", ModelLoadError          # spaces: no hub id ("gpt2" is one)
    with pytest.raises(err) as info:
        HFCausalLM.load(src, **kw)
    assert isinstance(info.value, LogitRankError) and "\n" not in str(info.value)


def test_resolve_device_default_rule():
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_cli_cuda_without_cuda_exits_2(monkeypatch, capsys):
    """``--device cuda`` without CUDA: the package's one-line error and exit code 2, nothing loaded."""
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from logitrank import cli
    monkeypatch.setattr(loading, "load_weights", _never_load)
    monkeypatch.setattr("sys.argv", ["logitrank", "real", "spectrum", "--device", "cuda"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "CUDA is not available" in err and "Traceback" not in err


@pytest.mark.realmodel
def test_smollm2_by_alias_and_minilm_encoder():
    with torch_threads(1):
        lm = HFCausalLM.load("smollm2", device="cpu")
        assert lm.is_causal and lm.vocab_size == 49152 and lm.name == "smollm2"
        np.testing.assert_array_equal(lm.unembedding(), lm.model.lm_head.weight.detach().double().numpy())
        enc = HFCausalLM.load("minilm", device="cpu")
    assert not enc.is_causal and len(enc.weight_matrices()) == 6 * 6 + 1      # 6 BERT blocks + pooler
    for call in (lambda: enc.next_token_logits([[1, 2]]), enc.unembedding,
                 lambda: enc.final_hidden_states(["hi"]), lambda: enc.sample_tokens(1, 3, seed=0)):
        with pytest.raises(InvalidInputError, match="encoder"):
            call()


def test_dequantised_gguf_cache_is_keyed_by_content_not_path(tmp_path, monkeypatch):
    """Two copies of one file share a cache entry; a change in the header, the last MiB or the size does not.
    (The middle is not hashed: the key reads 2 MiB, not the whole file.)"""
    import hashlib
    monkeypatch.setenv("LOGITRANK_CACHE", str(tmp_path / "cache"))
    data = bytearray(np.random.default_rng(0).integers(0, 256, 3 * 2**20 + 17, dtype=np.uint8).tobytes())
    a, b = tmp_path / "venv1" / "m.gguf", tmp_path / "venv2" / "m.gguf"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(data)
    expected = hashlib.sha256(str(len(data)).encode() + bytes(data[:2**20]) + bytes(data[-2**20:])).hexdigest()
    assert loading.gguf_content_key(a) == loading.gguf_content_key(b) == expected
    assert loading._gguf_cache_path(a) == loading._gguf_cache_path(b)
    assert loading._gguf_cache_path(a).parent == tmp_path / "cache" / "gguf-dequantised"

    def key_after(edit):
        changed = bytearray(data)
        edit(changed)
        p = tmp_path / "edited.gguf"
        p.write_bytes(changed)
        return loading.gguf_content_key(p)
    assert key_after(lambda d: d.__setitem__(10, d[10] ^ 1)) != expected              # header
    assert key_after(lambda d: d.__setitem__(len(d) - 5, d[-5] ^ 1)) != expected      # tail
    assert key_after(lambda d: d.extend(b"\0")) != expected                            # size
    assert key_after(lambda d: d.__setitem__(len(d) // 2, d[len(d) // 2] ^ 1)) == expected   # the middle: not read
