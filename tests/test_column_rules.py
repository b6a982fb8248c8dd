"""choose_column_tokens: each column rule of L_{M,k} (Golowich et al. 2025, §3) on a hand-checkable model."""

import numpy as np

from logitrank.theory.logit_matrix import choose_column_tokens
from logitrank.theory.models import TabularSequenceModel

LOGITS = {(): np.array([0.0, 3.0, -1.0, 2.0, 1.0]), (0,): np.array([5.0, 0.0, 0.0, 0.0, 4.0]),
          (1,): np.array([0.0, 0.0, 6.0, 0.0, 0.0]), (2,): np.zeros(5), (3,): np.arange(5.0),
          (4,): -np.arange(5.0)}
MODEL = TabularSequenceModel(LOGITS, vocab_size=5, horizon=2)


def test_topk_bare_is_the_top_not_the_bottom():
    F = [[], [0], [3]]
    got = choose_column_tokens(MODEL, [[]], F, "topk_bare", 2)
    want = [np.sort(np.argsort(LOGITS[tuple(f)])[::-1][:2]) for f in F]
    np.testing.assert_array_equal(got, want)
    assert got.tolist()[0] == [1, 3]


def test_topk_average_uses_the_mean_probability_over_histories():
    full = np.stack([np.stack([LOGITS[(0,)], LOGITS[(1,)]])])          # one history, two futures
    full = np.concatenate([full, full[:, ::-1]])                        # second history swaps them
    p = np.exp(full) / np.exp(full).sum(axis=-1, keepdims=True)
    want = np.sort(np.argsort(-p.mean(axis=0), axis=1, kind="stable")[:, :2], axis=1)
    got = choose_column_tokens(MODEL, [[0], [1]], [[0], [1]], "topk_average", 2, full_rows=full)
    np.testing.assert_array_equal(got, want)


def test_random_and_full_rules():
    got = choose_column_tokens(MODEL, [[]], [[], [0]], "random", 3, rng=np.random.default_rng(4))
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(got, [np.sort(rng.choice(5, 3, replace=False)) for _ in range(2)])
    np.testing.assert_array_equal(choose_column_tokens(MODEL, [[]], [[]], "full"), [np.arange(5)])
