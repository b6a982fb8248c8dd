"""choose_column_tokens: each column rule of L_{M,k} (Golowich et al. 2025, §3) on a hand-checkable model."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logitrank.theory.logit_matrix import _top_k_tokens, choose_column_tokens
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


@settings(max_examples=200, deadline=None)
@given(scores=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
                         elements=st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e-300, 7.0, np.inf, -np.inf])
                         | st.floats(-5, 5)),
       data=st.data())
def test_top_k_tokens_is_the_stable_argsort_prefix(scores, data):
    """Theorem: the partition-based selection returns the ids of the stable descending sort's first k, ascending
    (ties to the smaller id), for any scores with repeated values, ±0 and ±inf."""
    k = data.draw(st.integers(1, scores.shape[1]))
    want = np.sort(np.argsort(-scores, axis=1, kind="stable")[:, :k], axis=1)
    np.testing.assert_array_equal(_top_k_tokens(scores, k), want)
