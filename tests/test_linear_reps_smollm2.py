"""Concept directions in SmolLM2-135M (Park et al. 2024; Jiang et al. 2024 Sec. 5.2) and the bridge identity."""

import numpy as np
import pytest

from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.linear_reps import (
    causal_whitening,
    centered_logit_identity_error,
    concept_cosine_tables,
    filter_single_token_pairs,
    steering_ranks,
)
from logitrank.real_models.runtime import torch_threads
from logitrank.real_models.word_pairs import WORD_PAIRS

pytestmark = pytest.mark.realmodel


@pytest.fixture(scope="module")
def smollm2():
    with torch_threads(1):        # a loaded 2-core box: 1 thread is ~50x faster than 2 spinning ones
        lm = HFCausalLM.load("smollm2", device="cpu")
        yield lm, lm.tokenizer


def test_centered_logit_identity_smollm2(smollm2):
    """L[z|p] = φ(p)ᵀ(ψ(z) − ψ̄) on SmolLM2 (tied embeddings, no LM-head bias), every position."""
    model, tok = smollm2
    ids = np.array([tok.encode("The capital of France is Paris, and the capital of Italy is")])
    res = centered_logit_identity_error(model, ids)
    assert res["max_rel_error"] < 1e-5, res


def test_concepts_within_exceed_across_both_inner_products(smollm2):
    model, tok = smollm2
    pairs = filter_single_token_pairs(tok, WORD_PAIRS)
    counts = pairs.counts()
    assert len(pairs.concepts) >= 10
    assert sum(c["skipped"] for c in counts.values()) > 0          # skips are recorded, not silent
    gamma = model.unembedding()
    euc = concept_cosine_tables(gamma, pairs)
    cau = concept_cosine_tables(causal_whitening(gamma).whiten(gamma), pairs)
    assert euc.within > euc.across_abs + 0.1
    assert cau.within > cau.across_abs + 0.1
    assert cau.across_abs < euc.across_abs                           # Park et al.: causal separates better


def test_steering_male_female_moves_king_to_queen(smollm2):
    model, tok = smollm2
    pairs = filter_single_token_pairs(tok, {"male⇒female": WORD_PAIRS["male⇒female"]})
    gamma = model.unembedding()
    tp = pairs.token_pairs["male⇒female"]
    v = causal_whitening(gamma).steering_vector((gamma[tp[:, 1]] - gamma[tp[:, 0]]).mean(0))
    rows = steering_ranks(model, "Long live the", v, [0.0, 0.4, 0.8], watch=[" king", " queen", " King"])
    q = [r["watch"][" queen"]["rank"] for r in rows]
    k = [r["watch"][" king"]["rank"] for r in rows]
    assert q[0] > q[1] > q[2] and k[0] < k[2]
