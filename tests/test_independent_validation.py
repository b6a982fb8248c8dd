"""Bad input to the theory models and the logit matrix: one-line messages, exact boundaries.

Each case states the rule it pins (what is accepted at the boundary, what is refused and
with which message), so a flipped comparison or a wrong message is caught.
"""

import numpy as np
import pytest

from logitrank.theory.logit_matrix import (
    COLUMN_RULES,
    cutwise_logit_matrix,
    cutwise_ranks,
    extended_logit_matrix,
    numerical_rank,
)
from logitrank.theory.models import HiddenMarkovModel, NoisyParity, TabularSequenceModel, TimeVaryingISAN


def _isan(T=3, V=2, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return TimeVaryingISAN(rng.normal(size=(T, V, d, d)), rng.normal(size=(T, V, d)), rng.normal(size=d))


def test_column_rules_boundaries_and_messages():
    m = _isan()
    assert COLUMN_RULES == ("full", "topk_average", "topk_bare", "random")
    for k in (1, 2):                                                   # 1 <= k <= |Σ|
        assert extended_logit_matrix(m, [[0]], [[]], rule="topk_bare", k=k).values.shape == (1, k)
    for k in (0, 3, None):
        with pytest.raises(ValueError, match=rf"^k={k} is out of range for the 'topk_bare' rule: need 1 <= k <= "
                                             r"vocabulary size 2$"):
            extended_logit_matrix(m, [[0]], [[]], rule="topk_bare", k=k)
    with pytest.raises(ValueError, match=r"^unknown column rule 'top'; choose one of \('full', "):
        extended_logit_matrix(m, [[0]], [[]], rule="top", k=1)
    with pytest.raises(ValueError, match=r"^the 'random' column rule needs rng=np.random.default_rng\(seed\)$"):
        extended_logit_matrix(m, [[0]], [[]], rule="random", k=1)
    for H, name in (([], "histories"), (None, "histories")):
        with pytest.raises(ValueError, match=rf"^{name} is empty: pass at least one token sequence$"):
            extended_logit_matrix(m, H, [[]])
    with pytest.raises(ValueError, match=r"^futures is empty"):
        extended_logit_matrix(m, [[0]], [])
    with pytest.raises(ValueError, match=r"outside the vocabulary"):
        extended_logit_matrix(m, [[0, 2]], [[]])
    M = extended_logit_matrix(m, np.array([[0, 1], [1, 1]]), [[]])     # a 2-D array of histories
    assert [h.tolist() for h in M.histories] == [[0, 1], [1, 1]]


def test_random_rule_draws_k_distinct_sorted_tokens_per_future_from_rng():
    m = _isan(T=3, V=5, d=2)
    M = extended_logit_matrix(m, [[0], [3]], [[], [1]], rule="random", k=3, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    want = np.stack([np.sort(rng.choice(5, size=3, replace=False)) for _ in range(2)])
    np.testing.assert_array_equal(M.column_tokens, want)
    full = extended_logit_matrix(m, [[0], [3]], [[], [1]]).blocks()
    np.testing.assert_allclose(M.blocks(), np.take_along_axis(full, want[None], axis=2))
    assert M.rule == "random" and M.k == 3


def test_explicit_column_tokens():
    m = _isan(V=3)
    M = extended_logit_matrix(m, [[0], [1]], [[], [2]], column_tokens=[[2, 0], [1, 1]])
    full = extended_logit_matrix(m, [[0], [1]], [[], [2]]).blocks()
    np.testing.assert_allclose(M.values, np.stack([full[:, 0, [2, 0]], full[:, 1, [1, 1]]], axis=1).reshape(2, 4))
    assert M.rule == "explicit"
    for cols, msg in (([[0, 1]], r"^column_tokens must have shape \(\|F\|=2, k\), got \(1, 2\)$"),
                      ([[0], [3]], r"^column_tokens must lie in \[0, 3\)$"),
                      ([[0], [-1]], r"^column_tokens must lie in \[0, 3\)$"),
                      (np.zeros((2, 0), int), r"column_tokens must have shape"),
                      ([0, 1], r"column_tokens must have shape")):
        with pytest.raises(ValueError, match=msg):
            extended_logit_matrix(m, [[0]], [[], [2]], column_tokens=cols)
    M = extended_logit_matrix(m, [[0]], [[], [2]], column_tokens=[[0], [2]])       # boundary ids 0 and V−1
    assert M.column_tokens.tolist() == [[0], [2]]


def test_cuts_and_numerical_rank_rules():
    m = _isan(T=3)
    assert cutwise_logit_matrix(m, 2).values.shape == (4, 2)         # t = T − 1 is the last cut
    assert cutwise_logit_matrix(m, 0, T=2).values.shape == (1, 3 * 2)
    with pytest.raises(ValueError, match=r"^cut t=3 is out of range: need 0 <= t <= T-1 = 2$"):
        cutwise_logit_matrix(m, 3)
    with pytest.raises(ValueError, match=r"^cut t=-1 is out of range"):
        cutwise_logit_matrix(m, -1)
    with pytest.raises(ValueError, match=r"^T=4 exceeds the model's horizon 3$"):
        cutwise_logit_matrix(m, 0, T=4)
    unbounded = HiddenMarkovModel(np.array([1.0]), np.array([[1.0]]), np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"^the model has no horizon; pass T$"):
        cutwise_ranks(unbounded)
    assert cutwise_ranks(unbounded, T=2) == [0, 0]                   # constant logits: rank 0
    X = np.diag([1.0, 1e-6])
    assert cutwise_ranks(m, rtol=0.99) == [1, 1, 1]                 # rtol is passed through
    assert numerical_rank(X) == 2 and numerical_rank(X, rtol=1e-6) == 1   # strictly above rtol·σ₁
    assert numerical_rank(np.zeros((3, 2))) == 0 and numerical_rank(np.zeros((0, 2))) == 0
    assert numerical_rank(np.ones((1, 1))) == 1
    with pytest.raises(ValueError, match=r"^matrix must be 2-D, got shape \(3,\)$"):
        numerical_rank(np.ones(3))
    # default tolerance max(m, n)·ε·σ₁: a value just above it counts, one just below does not
    eps = np.finfo(np.float64).eps
    assert numerical_rank(np.diag([1.0, 3 * eps * 1.5, 0.0])) == 2
    assert numerical_rank(np.diag([1.0, 3 * eps * 0.5, 0.0])) == 1


def test_isan_validation():
    rng = np.random.default_rng(1)
    A, B, x0 = rng.normal(size=(2, 2, 3, 3)), rng.normal(size=(2, 2, 3)), rng.normal(size=3)
    for args, msg in (((A[..., :2], B, x0), r"^A must have shape \(T, V, d, d\), got \(2, 2, 3, 2\)$"),
                      ((A[0], B, x0), r"^A must have shape \(T, V, d, d\)"),
                      ((A, B[..., :2], x0), r"^B must have shape \(T, V, d\) = \(2, 2, 3\), got \(2, 2, 2\)$"),
                      ((A, B, x0[:2]), r"^x0 must have shape \(d,\) = \(3,\), got \(2,\)$"),
                      ((A[:, :1], B[:, :1], x0), r"^need T >= 1, V >= 2, d >= 1, got T=2, V=1, d=3$"),
                      ((A * np.nan, B, x0), r"A")):
        with pytest.raises(ValueError, match=msg):
            TimeVaryingISAN(*args)
    m = TimeVaryingISAN(A, B, x0)
    assert (m.vocab_size, m.horizon, m.dim) == (2, 2, 3)
    np.testing.assert_allclose(m.states([[1]])[0], A[0, 1] @ x0)


def test_hmm_validation_and_beliefs():
    pi, T, O = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.1, 0.9]])
    for args, msg in (((pi, T[:1], O), r"^shapes disagree: initial \(2,\), transition \(1, 2\), emission \(2, 2\); "),
                      ((pi, T, O[:1]), r"^shapes disagree"),
                      ((pi, T, O[0]), r"^shapes disagree"),
                      ((np.array([0.6, 0.6]), T, O), r"^initial must be non-negative with rows summing to 1$"),
                      ((pi, np.array([[1.1, -0.1], [0.2, 0.8]]), O), r"^transition must be non-negative"),
                      ((pi, T, np.array([[0.6, 0.5], [0.1, 0.9]])), r"^emission must be non-negative")):
        with pytest.raises(ValueError, match=msg):
            HiddenMarkovModel(*args)
    with pytest.raises(ValueError, match=r"^horizon must be >= 1 or None, got 0$"):
        HiddenMarkovModel(pi, T, O, horizon=0)
    m = HiddenMarkovModel(pi, T, O, horizon=1)
    assert (m.horizon, m.n_states, m.vocab_size) == (1, 2, 2)
    # beliefs after z1 = 1: filter then predict
    post = pi * O[:, 1] / (pi * O[:, 1]).sum()
    np.testing.assert_allclose(HiddenMarkovModel(pi, T, O).beliefs([[1]])[0], post @ T)
    zero = HiddenMarkovModel(np.array([1.0, 0.0]), np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0]]))
    lp = zero.log_probs([[]])[0]                                         # P(z=1) = 0 → clipped, finite
    assert lp[0] == pytest.approx(0.0) and lp[1] < -600


def test_noisy_parity_validation_and_random():
    for args, msg in (((0, 0.1, []), r"^n_bits must be >= 1, got 0$"),
                      ((2, 0.0, [1, 0]), r"^noise rate η must lie in \(0, 1/2\), got 0.0$"),
                      ((2, 0.5, [1, 0]), r"^noise rate η must lie in \(0, 1/2\), got 0.5$"),
                      ((2, 0.1, [1, 2]), r"^subset must be a 0/1 mask of length n_bits=2$"),
                      ((2, 0.1, [1]), r"^subset must be a 0/1 mask")):
        with pytest.raises(ValueError, match=msg):
            NoisyParity(*args)
    m = NoisyParity(1, 0.1, [1])
    assert (m.vocab_size, m.horizon) == (2, 2)
    r = NoisyParity.random(4, 0.2, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    mask = np.zeros(4, int)
    while not mask.any():
        mask = rng.integers(0, 2, 4)
    np.testing.assert_array_equal(r.subset, mask)
    assert r.noise == 0.2 and r.n_bits == 4
    for seed in range(20):                                               # never the empty subset
        assert NoisyParity.random(1, 0.2, np.random.default_rng(seed)).subset.tolist() == [1]


def test_tabular_model_errors_and_horizon():
    m = TabularSequenceModel({(): np.array([0.0, 1.0])}, 2, 1)
    assert (m.vocab_size, m.horizon) == (2, 1)
    with pytest.raises(ValueError, match=r"^the model has no horizon; pass horizon=T$"):
        TabularSequenceModel.from_model(HiddenMarkovModel(np.array([1.0]), np.array([[1.0]]), np.array([[0.5, 0.5]])))
    src = _isan(T=3)
    tab = TabularSequenceModel.from_model(src, horizon=2)
    assert tab.horizon == 2 and len(tab.table) == 1 + 2
    tab2 = TabularSequenceModel({(): np.zeros(2), (0,): np.zeros(2)}, 2, 2)
    with pytest.raises(ValueError, match=r"^prefix \[1\] is not in the model's table$"):
        tab2.next_token_logits([[1]])


def test_non_finite_parameters_are_named_and_hmm_beliefs_are_per_row():
    rng = np.random.default_rng(2)
    A, B, x0 = rng.normal(size=(2, 2, 2, 2)), rng.normal(size=(2, 2, 2)), rng.normal(size=2)
    for i, name in enumerate(("A", "B", "x0")):
        args = [A, B, x0]
        args[i] = args[i] * np.inf
        with pytest.raises(ValueError, match=rf"^{name} contains NaN or infinite entries; pass finite parameters$"):
            TimeVaryingISAN(*args)
    pi, T, O = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.1, 0.9]])
    for i, name in enumerate(("initial", "transition", "emission")):
        args = [pi, T, O]
        args[i] = args[i] * np.nan
        with pytest.raises(ValueError, match=rf"^{name} contains NaN"):
            HiddenMarkovModel(*args)
    b = HiddenMarkovModel(pi, T, O).beliefs([[0, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(b.sum(axis=1), 1.0)                      # each row a distribution
    post = pi * O[:, 0]
    post = (post / post.sum()) @ T * O[:, 0]
    np.testing.assert_allclose(b[2], (post / post.sum()) @ T)
