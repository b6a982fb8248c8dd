"""Weight extraction by type/layer and batched diagnostics (real_models/weights.py)."""

import csv
import warnings

import numpy as np
import pytest
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.weights import (UnknownMatrixTypeWarning, analyze_weight_matrices,
                                           check_matrix, extract_weight_matrices, write_details_csv)


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=80, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval()


def test_llama_types_and_layers():
    mats = extract_weight_matrices(tiny_llama())
    kinds = [(wm.matrix_type, wm.layer) for wm in mats]
    for layer in (0, 1):
        for t in ("query", "key", "value", "attention_output", "gate", "up", "down"):
            assert (t, layer) in kinds
    assert len(mats) == 14                           # embeddings / head left out by default
    k = next(wm for wm in mats if wm.matrix_type == "key")
    assert k.shape == (16, 32)                       # (out, in), 2 kv heads x 8
    assert any(wm.matrix_type == "embedding" for wm in extract_weight_matrices(tiny_llama(), include_embeddings=True))


def test_bert_types():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    mats = extract_weight_matrices(BertModel(cfg))
    by = {(wm.name.split(".weight")[0].split("layer.0.")[-1]): wm.matrix_type for wm in mats if wm.layer == 0}
    assert by == {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
                  "attention.output.dense": "attention_output", "intermediate.dense": "up", "output.dense": "down"}
    assert [wm.matrix_type for wm in mats if wm.layer == -1] == ["pooler"]


def test_gpt2_fused_qkv_split():
    from transformers import GPT2Config, GPT2LMHeadModel
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=24, n_layer=1, n_head=4, n_positions=32))
    mats = extract_weight_matrices(model)
    types = sorted(wm.matrix_type for wm in mats)
    assert types == sorted(["query", "key", "value", "attention_output", "up", "down"])
    q = next(wm for wm in mats if wm.matrix_type == "query")
    w = model.transformer.h[0].attn.c_attn.weight           # Conv1D: (in, 3*out)
    assert torch.equal(q.weight, w[:, :24].T)
    up = next(wm for wm in mats if wm.matrix_type == "up")
    assert up.shape == (96, 24)


def test_unknown_modules_are_other_with_warning():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 5))
    with pytest.warns(UnknownMatrixTypeWarning, match="analysed as 'other'"):
        mats = extract_weight_matrices(model)
    assert [wm.matrix_type for wm in mats] == ["other", "other"]
    res = analyze_weight_matrices(mats)
    assert len(res.rows) == 2                                # analysed, never skipped


def test_bad_weights_rejected():
    with pytest.raises(InvalidInputError, match="2-D"):
        check_matrix(torch.zeros(3, 4, 5))
    w = torch.randn(6, 4)
    w[1, 2] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        check_matrix(w, "bad")
    model = tiny_llama()
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight[0, 0] = float("inf")
    with pytest.raises(InvalidInputError, match="down_proj"):
        analyze_weight_matrices(extract_weight_matrices(model))
    with pytest.raises(InvalidInputError):
        extract_weight_matrices("not a model")


@pytest.mark.parametrize("method", ["gram", "svd"])
def test_batched_singular_values_match_numpy(method, tmp_path):
    mats = extract_weight_matrices(tiny_llama())
    res = analyze_weight_matrices(mats, method=method, vectors=False, device="cpu")
    for wm in mats:
        ref = np.linalg.svd(wm.weight.double().numpy(), compute_uv=False)
        np.testing.assert_allclose(res.singular_values[wm.name], ref, rtol=1e-7, atol=1e-9)
    path = write_details_csv(res, tmp_path / "d.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(mats) and {"type", "layer", "n_below", "n_above", "ks_distance", "alpha"} <= set(rows[0])


def test_vector_statistics_match_definition():
    mats = extract_weight_matrices(tiny_llama())[:3]
    res = analyze_weight_matrices(mats, vectors=True)
    wm = mats[0]
    _, _, vh = np.linalg.svd(wm.weight.double().numpy(), full_matrices=False)
    st = res.vector_statistics[wm.name]
    np.testing.assert_allclose(st.ipr, np.sum(vh ** 4, axis=1), rtol=1e-8)
    assert "pt_reject_frac" in res.rows[0]
