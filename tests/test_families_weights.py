"""The weights lens on every causal-LM family transformers ships (tests/_model_zoo.py).

For each family: the typed matrices cover every element of every matrix-shaped parameter
exactly once (tied parameters once); the family's matrices get the types of the hand-written
table below (the most common families) or, for the rest, at least one known type; the fused
splits equal the projections recomputed from the modeling files' layouts or from the
experts modules themselves; and the random-init twin has the same config, names and shapes,
other values, and the same values for the same seed. A family the zoo cannot build is
listed too: its test checks that building it still raises ``UnbuildableFamily``.
"""

import functools
import re
import warnings

import numpy as np
import pytest
import torch
from _model_zoo import FAMILIES, UNBUILDABLE, UnbuildableFamily, build_tiny

from logitrank.real_models._weight_types import MATRIX_TYPES, is_matrix, weight_type_map
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.weights import UnknownMatrixTypeWarning, extract_weight_matrices

_ATTN = {"query", "key", "value", "attention_output"}
_GLU = {"gate", "up", "down"}
_MLP = {"up", "down"}
_SSM1 = {"ssm_in", "ssm_x", "ssm_dt", "ssm_a", "ssm_out", "conv"}

#: family -> the exact set of types of its matrices (embeddings and LM head left out).
EXPECTED = {
    "llama": _ATTN | _GLU, "mistral": _ATTN | _GLU, "gemma": _ATTN | _GLU, "gemma2": _ATTN | _GLU,
    "qwen2": _ATTN | _GLU, "qwen3": _ATTN | _GLU, "olmo": _ATTN | _GLU, "olmo2": _ATTN | _GLU,
    "stablelm": _ATTN | _GLU, "cohere": _ATTN | _GLU, "granite": _ATTN | _GLU,
    "phi3": _ATTN | _GLU, "gpt2": _ATTN | _MLP, "gpt_neox": _ATTN | _MLP, "opt": _ATTN | _MLP,
    "bloom": _ATTN | _MLP, "falcon": _ATTN | _MLP, "phi": _ATTN | _MLP, "gptj": _ATTN | _MLP,
    "gpt_bigcode": _ATTN | _MLP, "starcoder2": _ATTN | _MLP, "mpt": _ATTN | _MLP,
    "gpt_neo": _ATTN | _MLP, "xglm": _ATTN | _MLP, "persimmon": _ATTN | _MLP,
    "codegen": {"qkv", "attention_output"} | _MLP,
    "bert": _ATTN | _MLP | {"head_transform"}, "roberta": _ATTN | _MLP | {"head_transform"},
    "mixtral": _ATTN | _GLU | {"router"}, "qwen2_moe": _ATTN | _GLU | {"router"},
    "llama4": _ATTN | _GLU | {"router"}, "dbrx": _ATTN | _GLU | {"router"},
    "gpt_oss": _ATTN | {"gate_up", "down", "router", "bias"},
    "deepseek_v3": {"query_a", "query_b", "kv_a", "kv_b", "attention_output", "router"} | _GLU,
    "mamba": _SSM1, "falcon_mamba": _SSM1, "mamba2": {"ssm_in", "ssm_out", "conv"},
    "rwkv": {"time_mix_key", "time_mix_value", "time_mix_receptance", "time_mix_output",
             "channel_mix_key", "channel_mix_value", "channel_mix_receptance"},
    "jamba": _SSM1 | _ATTN | _GLU | {"router"},
    "bamba": {"ssm_in", "ssm_out", "conv"} | _ATTN | _GLU,
    "falcon_h1": {"ssm_in", "ssm_out", "conv"} | _ATTN | _GLU,
    "recurrent_gemma": {"ssm_in", "ssm_gate", "ssm_out", "conv", "bias"} | _ATTN | _GLU,
    "qwen3_next": {"qkv", "attention_gate", "conv"} | _ATTN | _GLU | {"router"},
}


@functools.cache
def _model(mt):
    return build_tiny(mt)


def _matrices(model):
    with warnings.catch_warnings(record=True) as caught:      # 'other' matrices warn by design
        warnings.simplefilter("always")
        mats = extract_weight_matrices(model, include_embeddings=True)
    others = [wm.name for wm in mats if wm.matrix_type == "other"]
    warned = [w for w in caught if issubclass(w.category, UnknownMatrixTypeWarning)]
    assert bool(others) == bool(warned)
    return mats


def test_zoo_lists_every_family():
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    assert FAMILIES == tuple(sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES))
    assert set(EXPECTED) <= set(FAMILIES) - set(UNBUILDABLE)
    assert {t for ts in EXPECTED.values() for t in ts} <= set(MATRIX_TYPES)


@pytest.mark.parametrize("mt", FAMILIES)
def test_family_weights(mt):
    if mt in UNBUILDABLE:
        with pytest.raises(UnbuildableFamily):
            build_tiny(mt)
        return
    model = _model(mt)
    mats = _matrices(model)
    # exact cover: per parameter, the pieces' values are the parameter's values (random
    # init: all distinct), so nothing is lost or counted twice
    params = {n: p for n, p in model.named_parameters() if is_matrix(p)}     # tied: once
    by_param: dict = {}
    for wm in mats:
        by_param.setdefault(wm.name.split("[", 1)[0], []).append(wm.weight)
    assert set(by_param) == set(params)
    for name, pieces in by_param.items():
        got = np.sort(np.concatenate([w.detach().reshape(-1).numpy() for w in pieces]))
        np.testing.assert_array_equal(got, np.sort(params[name].detach().reshape(-1).numpy()), err_msg=name)
    types = {wm.matrix_type for wm in mats} - {"embedding"}
    assert types <= set(MATRIX_TYPES)
    assert types - {"other", "bias"}, f"{mt}: only unknown matrices {types}"
    if mt in EXPECTED:
        assert types == EXPECTED[mt]
    assert set(weight_type_map(model)) == set(params)


@pytest.mark.parametrize("mt", [m for m in FAMILIES if m not in UNBUILDABLE][::12])
def test_family_twin(mt):
    lm = HFCausalLM(_model(mt), None, prefix_tokens=[0], name=f"tiny-{mt}")
    a, a2, b = lm.twin(1).model, lm.twin(1).model, lm.twin(2).model
    assert a.config.to_dict() == lm.model.config.to_dict()
    ref = {n: p.shape for n, p in lm.model.named_parameters()}
    for t in (a, a2, b):
        assert {n: p.shape for n, p in t.named_parameters()} == ref
    pa, pa2, pb = (dict(t.named_parameters()) for t in (a, a2, b))
    assert all(torch.equal(pa[n], pa2[n]) for n in ref)                     # same seed, same values
    mat = [n for n, p in lm.model.named_parameters() if is_matrix(p)]
    assert any(not torch.equal(pa[n], pb[n]) for n in mat)                   # other seed, other values
    assert any(not torch.equal(pa[n], dict(lm.model.named_parameters())[n]) for n in mat)


# --- fused splits against the modeling files' layouts ---------------------------------------

def _split(model, prefix):
    return {wm.matrix_type: wm.weight.detach().numpy() for wm in extract_weight_matrices(model)
            if wm.name.startswith(prefix + "[")}


def _x(n_in, seed=0):
    return np.random.default_rng(seed).standard_normal((5, n_in))


def test_gpt2_c_attn_thirds():
    m = _model("gpt2")
    w = m.transformer.h[0].attn.c_attn.weight.detach().numpy()          # Conv1D: x @ w, (in, 3h)
    x = _x(w.shape[0])
    fused = x @ w
    parts = _split(m, "transformer.h.0.attn.c_attn.weight")
    h = w.shape[0]
    for i, t in enumerate(("query", "key", "value")):
        np.testing.assert_allclose(x @ parts[t].T, fused[:, i * h:(i + 1) * h], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mt,prefix", [("gpt_neox", "gpt_neox.layers.0.attention.query_key_value.weight"),
                                       ("bloom", "transformer.h.0.self_attention.query_key_value.weight"),
                                       ("persimmon", "model.layers.0.self_attn.query_key_value.weight")])
def test_interleaved_per_head_qkv(mt, prefix):
    m = _model(mt)
    w = dict(m.named_parameters())[prefix].detach().numpy()
    heads = m.config.num_attention_heads
    x = _x(w.shape[1])
    fused = (x @ w.T).reshape(5, heads, 3, -1)           # modeling: view(..., heads, 3 * head_dim)
    parts = _split(m, prefix)
    for i, t in enumerate(("query", "key", "value")):
        np.testing.assert_allclose(x @ parts[t].T, fused[:, :, i].reshape(5, -1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layout", ["multi_query", "new_decoder_architecture", "per_head"])
def test_falcon_layouts(layout):
    kw = {"multi_query": dict(multi_query=True, new_decoder_architecture=False),
          "new_decoder_architecture": dict(new_decoder_architecture=True, num_kv_heads=2),
          "per_head": dict(multi_query=False, new_decoder_architecture=False)}[layout]
    m = build_tiny("falcon", **kw)
    prefix = "transformer.h.0.self_attention.query_key_value.weight"
    w = dict(m.named_parameters())[prefix].detach().numpy()
    heads, hd = m.config.num_attention_heads, m.config.hidden_size // m.config.num_attention_heads
    x = _x(w.shape[1])
    fused = (x @ w.T).reshape(5, -1, hd)
    if layout == "new_decoder_architecture":            # per kv group: queries, key, value
        g = fused.reshape(5, 2, -1, hd)
        want = g[:, :, :-2].reshape(5, -1), g[:, :, -2].reshape(5, -1), g[:, :, -1].reshape(5, -1)
    elif layout == "multi_query":                       # split([heads, 1, 1]) over heads
        want = fused[:, :heads].reshape(5, -1), fused[:, heads], fused[:, heads + 1]
    else:                                               # (heads, 3) interleaved
        f = fused.reshape(5, heads, 3, hd)
        want = tuple(f[:, :, i].reshape(5, -1) for i in range(3))
    parts = _split(m, prefix)
    for t, ref in zip(("query", "key", "value"), want):
        np.testing.assert_allclose(x @ parts[t].T, ref, rtol=1e-6, atol=1e-6)


def test_phi3_qkv_and_gate_up():
    m = _model("phi3")
    cfg = m.config
    attn = m.model.layers[0].self_attn
    w = attn.qkv_proj.weight.detach().numpy()
    x = _x(w.shape[1])
    q_rows = cfg.num_attention_heads * attn.head_dim
    kv_rows = cfg.num_key_value_heads * attn.head_dim
    fused = x @ w.T                                      # modeling: [:q], [q:q+kv], [q+kv:]
    parts = _split(m, "model.layers.0.self_attn.qkv_proj.weight")
    np.testing.assert_allclose(x @ parts["query"].T, fused[:, :q_rows], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x @ parts["key"].T, fused[:, q_rows:q_rows + kv_rows], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x @ parts["value"].T, fused[:, q_rows + kv_rows:], rtol=1e-6, atol=1e-6)
    mlp = m.model.layers[0].mlp                          # the module itself: act(gate) * up -> down
    xt = torch.from_numpy(x).float()
    g = _split(m, "model.layers.0.mlp.gate_up_proj.weight")
    down = mlp.down_proj.weight.detach().numpy()
    act = mlp.activation_fn(torch.from_numpy(x @ g["gate"].T).float()).numpy()
    np.testing.assert_allclose((act * (x @ g["up"].T)) @ down.T, mlp(xt).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_bigcode_multi_query_and_mpt_thirds():
    m = _model("gpt_bigcode")
    prefix = "transformer.h.0.attn.c_attn.weight"
    w = dict(m.named_parameters())[prefix].detach().numpy()
    h = m.config.n_embd
    hd = h // m.config.n_head
    x = _x(w.shape[1])
    fused = x @ w.T                                      # modeling: split((embed, kv_dim, kv_dim))
    parts = _split(m, prefix)
    for t, sl in zip(("query", "key", "value"), (slice(0, h), slice(h, h + hd), slice(h + hd, h + 2 * hd))):
        np.testing.assert_allclose(x @ parts[t].T, fused[:, sl], rtol=1e-6, atol=1e-6)
    m = _model("mpt")
    prefix = "transformer.blocks.0.attn.Wqkv.weight"
    w = dict(m.named_parameters())[prefix].detach().numpy()
    fused = _x(w.shape[1]) @ w.T                         # modeling: chunk(3)
    parts = _split(m, prefix)
    for i, t in enumerate(("query", "key", "value")):
        np.testing.assert_allclose(_x(w.shape[1]) @ parts[t].T, np.split(fused, 3, axis=1)[i], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mt,path", [("mixtral", "model.layers.0.mlp.experts"),
                                     ("llama4", "model.layers.0.feed_forward.experts"),
                                     ("qwen2_moe", "model.layers.0.mlp.experts")])
def test_expert_matrices_match_the_experts_module(mt, path):
    """Expert e's gate / up / down recompute what the experts module computes for expert e."""
    m = _model(mt)
    experts = m.get_submodule(path)
    mats = {(wm.name.split("[")[1].rstrip("]")): wm.weight.detach().double().numpy()
            for wm in extract_weight_matrices(m) if wm.name.startswith(path + ".")}
    n_exp = sum(1 for k in mats if re.fullmatch(r"expert \d+", k))
    assert n_exp == 4
    x = torch.from_numpy(_x(m.config.hidden_size)).float()
    act = experts.act_fn
    for e in range(n_exp):
        g, u = mats[f"expert {e} gate"], mats[f"expert {e} up"]
        d = mats[f"expert {e}"]
        ref = (act(torch.from_numpy(x.double().numpy() @ g.T)).numpy() * (x.double().numpy() @ u.T)) @ d.T
        if mt == "llama4":                              # all tokens through every expert, stacked
            out = experts(x.repeat(n_exp, 1)).detach().reshape(n_exp, 5, -1)[e].numpy()
        else:
            idx = torch.full((5, 1), e)
            out = experts(x, idx, torch.ones(5, 1)).detach().numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
