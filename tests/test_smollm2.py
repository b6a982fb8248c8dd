"""The embedded SmolLM2-135M-Instruct: offline load, a known answer, and the engine on it."""

import numpy as np
import pytest

pytestmark = pytest.mark.realmodel


@pytest.fixture(scope="module")
def lm():
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.runtime import torch_threads
    with torch_threads(2):
        yield HFCausalLM.load("smollm2", device="cpu")


def test_paris_ranks_first(lm):
    logits = lm.next_token_logits(lm.encode("The capital of France is")[None])
    assert lm.decode([int(np.argmax(logits[0]))]) == " Paris"
    assert lm.vocab_size == 49152


def test_engine_identity_and_values_on_smollm2(lm):
    """Tied-embedding Llama: the centering identity holds and the engine matches the generic path."""
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.theory.logit_matrix import extended_logit_matrix
    eng = LogitMatrixEngine(lm, progress=False)
    assert eng.head_mode == "identity"
    H = [lm.encode("The capital of France is"), lm.encode("My favourite colour")]
    F = [[], lm.encode(" and the"), lm.encode(" because")]
    ref = extended_logit_matrix(lm, H, F, rule="topk_bare", k=10)
    got = eng.matrix(H, F, rule="topk_bare", k=10)
    np.testing.assert_array_equal(got.column_tokens, ref.column_tokens)
    assert np.abs(got.values - ref.values).max() / np.abs(ref.values).max() < 1e-4


def test_random_twin_is_untrained(lm):
    twin = lm.twin(seed=0)
    assert twin.n_parameters == lm.n_parameters
    logits = twin.next_token_logits(lm.encode("The capital of France is")[None])
    assert lm.decode([int(np.argmax(logits[0]))]) != " Paris"
    assert np.array_equal(twin.next_token_logits([[5, 6]]), lm.twin(seed=0).next_token_logits([[5, 6]]))


def test_unknown_model_path_is_a_clear_error():
    from logitrank.errors import ModelLoadError
    from logitrank.real_models.adapter import HFCausalLM
    with pytest.raises(ModelLoadError, match="neither an existing path"):
        HFCausalLM.load("./no-such-model-dir")
    with pytest.raises(ModelLoadError, match="(?s)could not load model 'no-such-model'.*local Hugging Face cache"):
        HFCausalLM.load("no-such-model")                    # a hub id without owner (like gpt2), not cached
    with pytest.raises(ModelLoadError, match="does not exist"):
        HFCausalLM.load("/nonexistent/model.gguf")
