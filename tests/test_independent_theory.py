"""Core theory definitions pinned against computations written in this file.

Every expected value here is recomputed from the paper's formula in a few lines of
NumPy/SciPy (or taken from a reference library such as ``scipy.linalg.subspace_angles``),
never through another path of the helper under test. Directions and normalisations (KL
direction, 1/(|H||F|), last-m tokens, top-k not bottom-k) use small hand-checkable cases.
"""

import itertools

import numpy as np
import pytest
import scipy.linalg

from logitrank.theory.lingen import LinGen, lingen_evaluate, lingen_generate, lingen_step_logits
from logitrank.theory.logit_matrix import cutwise_futures, cutwise_logit_matrix, extended_logit_matrix, numerical_rank
from logitrank.theory.models import HiddenMarkovModel, NoisyParity, TabularSequenceModel, TimeVaryingISAN
from logitrank.theory.representation import isan_from_low_rank_model
from logitrank.theory.sequence_model import center_logits, log_softmax, sample_from_logits, softmax
from logitrank.theory.spectrum import (
    PowerLawFit,
    average_kl_vs_rank,
    principal_angle_cosines,
    principal_angle_cosines_by_rank,
    rank_for_relative_error,
    relative_tail_error,
    singular_values,
)


def _kl(p, q):
    """KL(p ‖ q) for probability vectors, written out."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    return float(np.sum(p * np.log(p / q)))


def _sm(x):
    e = np.exp(np.asarray(x, float) - np.max(x))
    return e / e.sum()


# ---------------------------------------------------------------- sequence_model

def test_center_softmax_log_softmax_by_hand():
    x = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(center_logits(x), [[-4 / 3, -1 / 3, 5 / 3], [-1.0, -1.0, 2.0]])
    np.testing.assert_allclose(softmax(x)[0], np.exp([1, 2, 4]) / np.exp([1, 2, 4]).sum())
    np.testing.assert_allclose(log_softmax(x)[1], [0, 0, 3] - np.log(2 + np.exp(3)))
    big = np.array([[1000.0, 1000.0]])               # stability: no overflow
    np.testing.assert_allclose(softmax(big), [[0.5, 0.5]])


def test_sample_from_logits_is_inverse_cdf_of_one_uniform_draw():
    logits = np.log(np.array([[0.2, 0.5, 0.3]] * 6))
    u = np.random.default_rng(7).random(6)
    want = np.searchsorted(np.cumsum([0.2, 0.5, 0.3]), u, side="right")
    np.testing.assert_array_equal(sample_from_logits(logits, np.random.default_rng(7)), want)
    # frequencies follow softmax (not e.g. the reversed vector)
    many = sample_from_logits(np.log(np.array([[0.1, 0.9]] * 4000)), np.random.default_rng(0))
    assert abs(many.mean() - 0.9) < 0.03


# ---------------------------------------------------------------- models

def test_isan_logits_are_B_times_the_product_of_A():
    rng = np.random.default_rng(0)
    T, V, d = 3, 2, 2
    A, B, x0 = rng.normal(size=(T, V, d, d)), rng.normal(size=(T, V, d)), rng.normal(size=d)
    m = TimeVaryingISAN(A, B, x0)
    z = [1, 0]
    x = A[1, 0] @ (A[0, 1] @ x0)                       # x_2 = A_{z2,2} A_{z1,1} x0
    np.testing.assert_allclose(m.next_token_logits([z])[0], B[2] @ x)
    np.testing.assert_allclose(m.next_token_logits(np.zeros((1, 0), int))[0], B[0] @ x0)


def test_hmm_next_token_probabilities_by_forward_algorithm():
    pi = np.array([0.6, 0.4])
    Tm = np.array([[0.7, 0.3], [0.2, 0.8]])
    O = np.array([[0.9, 0.1], [0.3, 0.7]])
    m = HiddenMarkovModel(pi, Tm, O)
    # P(z2 | z1=1) = Σ π_s O[s,1] T[s,s'] O[s',z2] / P(z1=1)
    joint = np.array([sum(pi[s] * O[s, 1] * Tm[s, t] * O[t, z] for s in range(2) for t in range(2))
                      for z in range(2)])
    np.testing.assert_allclose(np.exp(m.log_probs([[1]])[0]), joint / joint.sum())
    np.testing.assert_allclose(np.exp(m.log_probs(np.zeros((1, 0), int))[0]), pi @ O)


def test_noisy_parity_logits_by_hand():
    m = NoisyParity(3, 0.2, [1, 0, 1])
    half = 0.5 * np.log(0.8 / 0.2)
    # parity of bits 0 and 2 of (1, 1, 0) is 1 → token 1 has probability 0.8
    np.testing.assert_allclose(m.next_token_logits([[1, 1, 0]])[0], [-half, half])
    np.testing.assert_allclose(np.exp(m.log_probs([[1, 0, 1]])[0]), [0.8, 0.2])
    np.testing.assert_allclose(m.next_token_logits([[1, 1]])[0], [0.0, 0.0])


def test_tabular_model_reproduces_its_source():
    rng = np.random.default_rng(1)
    src = TimeVaryingISAN(rng.normal(size=(3, 2, 2, 2)), rng.normal(size=(3, 2, 2)), rng.normal(size=2))
    tab = TabularSequenceModel.from_model(src)
    seqs = np.array(list(itertools.product(range(2), repeat=2)))
    np.testing.assert_allclose(tab.next_token_logits(seqs), src.next_token_logits(seqs))


# ---------------------------------------------------------------- logit_matrix

def _paper_matrix(model, H, F, V):
    """L(H, F)[h, (f, z)] = centered log P(z | h∘f), written entry by entry (Def. 2.2)."""
    out = np.zeros((len(H), len(F) * V))
    for i, h in enumerate(H):
        for j, f in enumerate(F):
            lp = model.log_probs([list(h) + list(f)])[0]
            out[i, j * V:(j + 1) * V] = lp - lp.mean()
    return out


def test_extended_logit_matrix_entries_by_definition():
    rng = np.random.default_rng(2)
    m = HiddenMarkovModel(np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.4, 0.6]]),
                          rng.dirichlet(np.ones(3), size=2))
    H, F = [[0], [2, 1], [1, 1]], [[], [2], [0, 1]]
    M = extended_logit_matrix(m, H, F)
    np.testing.assert_allclose(M.values, _paper_matrix(m, H, F, 3), atol=1e-12)
    assert M.blocks().shape == (3, 3, 3) and M.k == 3


def test_topk_bare_selects_the_top_k_tokens_of_the_bare_future():
    """Column rule 'topk_bare': the k largest centered logits of L[· | f] (f alone)."""
    V = 5
    bare = {(): [0.0, 3.0, 1.0, -2.0, 2.0], (1,): [5.0, -1.0, 0.5, 4.0, 0.0]}
    table = {(): np.array(bare[()]), (1,): np.array(bare[(1,)])}
    for h in range(V):
        table[(h,)] = np.arange(V, dtype=float) * (h + 1)
        for z in range(V):
            table[(h, z)] = np.zeros(V)
    table[(1,)] = np.array(bare[(1,)])
    m = TabularSequenceModel(table, V, 3)
    M = extended_logit_matrix(m, [[0], [2]], [[], [1]], rule="topk_bare", k=2)
    np.testing.assert_array_equal(M.column_tokens, [[1, 4], [0, 3]])      # top-2, sorted ids


def test_topk_average_selects_top_k_of_the_mean_probability():
    V = 4
    table = {(): np.zeros(V), (0,): np.log([0.7, 0.1, 0.1, 0.1]), (1,): np.log([0.1, 0.1, 0.2, 0.6])}
    m = TabularSequenceModel(table, V, 2)
    # mean probability over h ∈ {0, 1} of token z after h∘() = [0.4, 0.1, 0.15, 0.35] → top-2 = {0, 3}
    M = extended_logit_matrix(m, [[0], [1]], [[]], rule="topk_average", k=2)
    np.testing.assert_array_equal(M.column_tokens, [[0, 3]])
    np.testing.assert_allclose(M.values[0], center_logits(np.log([0.7, 0.1, 0.1, 0.1]))[[0, 3]])


def test_cutwise_futures_and_matrix_shape():
    F = cutwise_futures(2, 3, 1)                     # lengths 0 and 1
    assert [f.tolist() for f in F] == [[], [0], [1]]
    m = NoisyParity(2, 0.1, [1, 1])
    M = cutwise_logit_matrix(m, 1)
    assert M.values.shape == (2, 3 * 2)
    np.testing.assert_allclose(M.values, _paper_matrix(m, [[0], [1]], [list(f) for f in F], 2))


def test_numerical_rank_matches_matrix_rank_and_exact_ranks():
    rng = np.random.default_rng(3)
    for r in (0, 1, 3, 5):
        X = rng.normal(size=(8, r)) @ rng.normal(size=(r, 11)) if r else np.zeros((8, 11))
        assert numerical_rank(X) == np.linalg.matrix_rank(X) == r
    X = np.diag([1.0, 1e-3, 1e-8])
    assert numerical_rank(X, rtol=1e-5) == 2 and numerical_rank(X, rtol=1e-2) == 1


def test_noisy_parity_cutwise_rank_is_exactly_one():
    """Paper 1 §4: noisy parity is an ISAN of dimension 1: the last cut has rank exactly 1."""
    m = NoisyParity(3, 0.1, [1, 0, 1])
    ranks = [numerical_rank(cutwise_logit_matrix(m, t).values) for t in range(4)]
    assert ranks == [1, 1, 1, 1]


# ---------------------------------------------------------------- representation

def test_isan_construction_reproduces_an_hmm_free_low_rank_model():
    rng = np.random.default_rng(4)
    src = TimeVaryingISAN(rng.normal(size=(4, 2, 2, 2)), rng.normal(size=(4, 2, 2)), rng.normal(size=2))
    con = isan_from_low_rank_model(src, dim=2)
    assert con.ranks == [1, 2, 2, 1]          # last cut: one centered 2-token block → rank 1
    for t in range(4):
        P = np.array(list(itertools.product(range(2), repeat=t)), dtype=np.int64).reshape(2 ** t, t)
        np.testing.assert_allclose(con.isan.centered_logits(P), src.centered_logits(P), atol=1e-9)
        # basis histories are histories of length t
        assert all(len(h) == t for h in con.basis_histories[t])


def test_isan_construction_refuses_too_small_dim():
    rng = np.random.default_rng(5)
    src = TimeVaryingISAN(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=(3, 2, 3)), rng.normal(size=3))
    with pytest.raises(ValueError, match="dim"):
        isan_from_low_rank_model(src, dim=1)


# ---------------------------------------------------------------- spectrum

def test_relative_tail_error_and_rank_by_hand():
    s = np.array([3.0, 2.0, 1.0])
    # e_r² = Σ_{i>r} σ_i² / 14
    np.testing.assert_allclose(relative_tail_error(s), np.sqrt([14 / 14, 5 / 14, 1 / 14, 0.0]))
    assert rank_for_relative_error(s, np.sqrt(5 / 14)) == 1
    assert rank_for_relative_error(s, 0.5) == 2 and rank_for_relative_error(s, 0.2) == 3
    np.testing.assert_allclose(singular_values(np.diag([1.0, 3.0, 2.0])), [3, 2, 1])


def test_power_law_fit_recovers_alpha_and_scale_exactly():
    i = np.arange(1, 401, dtype=float)
    fit = PowerLawFit().fit(2.5 * i ** -0.6)
    assert fit.alpha_ == pytest.approx(0.6, abs=1e-10)
    assert np.exp(fit.log_scale_) == pytest.approx(2.5, rel=1e-9)
    assert fit.fit_range_ == (4, 200)                  # max(2, ⌈0.01·400⌉) … ⌊0.5·400⌋
    np.testing.assert_allclose(fit.predict([1, 10]), 2.5 * np.array([1, 10]) ** -0.6)


def test_power_law_fit_weights_are_one_over_i():
    """Weighted least squares with weights 1/i, against np.polyfit(w=sqrt(weights))."""
    rng = np.random.default_rng(6)
    i = np.arange(1, 301, dtype=float)
    s = np.sort(i ** -0.7 * np.exp(0.1 * rng.normal(size=300)))[::-1]
    fit = PowerLawFit(fit_range=(2, 150)).fit(s)
    idx = np.arange(2, 151, dtype=float)
    slope, _ = np.polyfit(np.log(idx), np.log(s[1:150]), 1, w=np.sqrt(1 / idx))
    assert fit.alpha_ == pytest.approx(-slope, rel=1e-9)


def test_average_kl_direction_and_bound_normalisation_by_hand():
    """Def. 3.1: D = (1/(|H||F|)) Σ KL(softmax(L_hf) ‖ softmax(A_hf)); Fact B.2 bound ‖L−A‖²/(|H||F|)."""
    rng = np.random.default_rng(8)
    nH, nF, k = 5, 3, 4
    L = rng.normal(size=(nH, nF * k)) * 2
    res = average_kl_vs_rank(L, k, [1, 2])
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    for j, r in enumerate([1, 2]):
        A = U[:, :r] @ np.diag(s[:r]) @ Vt[:r]
        kls = [_kl(_sm(L[h, f * k:(f + 1) * k]), _sm(A[h, f * k:(f + 1) * k])) for h in range(nH) for f in range(nF)]
        rev = [_kl(_sm(A[h, f * k:(f + 1) * k]), _sm(L[h, f * k:(f + 1) * k])) for h in range(nH) for f in range(nF)]
        assert res.average_kl[j] == pytest.approx(np.mean(kls), rel=1e-10)
        assert abs(np.mean(kls) - np.mean(rev)) > 1e-3 * np.mean(kls)      # the direction matters here
        assert res.frobenius_bound[j] == pytest.approx(np.linalg.norm(L - A) ** 2 / (nH * nF), rel=1e-10)
    assert res.average_kl[0] <= res.frobenius_bound[0]


def test_average_kl_per_history_is_the_mean_over_that_historys_futures():
    """AverageKL.per_history[h, j] = (1/|F|) Σ_f KL(softmax(L_hf) ‖ softmax(A_r,hf)), by hand."""
    rng = np.random.default_rng(18)
    nH, nF, k = 6, 4, 3
    L = rng.normal(size=(nH, nF * k)) * 2
    ranks = [1, 3]
    res = average_kl_vs_rank(L, k, ranks)
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    assert res.per_history.shape == (nH, len(ranks))
    for j, r in enumerate(ranks):
        A = U[:, :r] @ np.diag(s[:r]) @ Vt[:r]
        for h in range(nH):
            want = np.mean([_kl(_sm(L[h, f * k:(f + 1) * k]), _sm(A[h, f * k:(f + 1) * k])) for f in range(nF)])
            assert res.per_history[h, j] == pytest.approx(want, rel=1e-10)


def test_log_log_slope_matches_scipy_linregress():
    import scipy.stats

    from logitrank.theory.spectrum import log_log_slope
    rng = np.random.default_rng(19)
    x = np.array([1, 2, 3, 5, 8, 13, 20, 0])                  # the 0 is left out (no logarithm)
    y = 0.3 * np.maximum(x, 1) ** -1.3 * np.exp(0.1 * rng.normal(size=x.size))
    ref = scipy.stats.linregress(np.log(x[:-1]), np.log(y[:-1]))
    slope, r2 = log_log_slope(x, y)
    assert slope == pytest.approx(ref.slope, rel=1e-12)
    assert r2 == pytest.approx(ref.rvalue ** 2, rel=1e-12)


def test_kl_slope_bootstrap_is_the_percentile_interval_of_resampled_history_means():
    """Resample rows with replacement (same draws), refit log mean-KL vs log r with np.polyfit,
    take the 2.5% / 97.5% quantiles: written out here without the library's helpers."""
    from logitrank.theory.intervals import kl_slope_bootstrap
    rng = np.random.default_rng(20)
    ranks = np.array([1, 2, 4, 8, 16])
    ph = np.exp(rng.normal(size=(40, 1))) * ranks ** -0.8 * np.exp(0.3 * rng.normal(size=(40, 5)))
    iv = kl_slope_bootstrap(ranks, ph, np.random.default_rng(3), n_boot=300)
    idx = np.random.default_rng(3).integers(0, 40, size=(300, 40))
    slopes = [np.polyfit(np.log(ranks), np.log(ph[i].mean(axis=0)), 1)[0] for i in idx]
    assert iv.estimate == pytest.approx(np.polyfit(np.log(ranks), np.log(ph.mean(axis=0)), 1)[0], rel=1e-12)
    assert (iv.low, iv.high) == pytest.approx(tuple(np.quantile(slopes, [0.025, 0.975])), rel=1e-12)
    assert iv.low < iv.estimate < iv.high


def test_principal_angles_match_scipy_subspace_angles():
    rng = np.random.default_rng(9)
    A, B = rng.normal(size=(30, 12)), rng.normal(size=(30, 9))
    for r in (1, 3, 6):
        UA = np.linalg.svd(A, full_matrices=False)[0][:, :r]      # singular vectors 1..r
        UB = np.linalg.svd(B, full_matrices=False)[0][:, :r]
        want = np.sort(np.cos(scipy.linalg.subspace_angles(UA, UB)))[::-1]
        np.testing.assert_allclose(principal_angle_cosines(A, B, r), want, atol=1e-10)
    C = A @ rng.normal(size=(12, 12))             # same column space as A
    np.testing.assert_allclose(principal_angle_cosines(A[:, :5] @ np.diag([9, 8, 7, 6, 5.0]), A[:, :5], 5),
                               np.ones(5), atol=1e-8)
    assert principal_angle_cosines(A, C, 12).min() > 1 - 1e-8


@pytest.mark.parametrize("shape", [(40, 600), (600, 40)])
def test_rank_r_kl_and_angles_of_wide_and_tall_matrices_match_a_full_svd(shape):
    """The Gram-eigenvector route (wide: L Lᵀ, tall: Lᵀ L) against numpy's full SVD on a matrix
    whose singular values decay as i^(-1.2) over nine decades of σ² (the precision it must keep)."""
    rng = np.random.default_rng(21)
    m = min(shape)
    U, _ = np.linalg.qr(rng.normal(size=(shape[0], m)))
    V, _ = np.linalg.qr(rng.normal(size=(shape[1], m)))
    L = 30 * (U * np.arange(1, m + 1) ** -1.2) @ V.T
    k = 5 if shape[1] % 5 == 0 else 4
    ranks = [1, 3, 10, 25, m]
    res = average_kl_vs_rank(L, k, ranks)
    Us, s, Vt = np.linalg.svd(L, full_matrices=False)
    nH, nF = L.shape[0], L.shape[1] // k
    for j, r in enumerate(ranks):
        A = Us[:, :r] @ np.diag(s[:r]) @ Vt[:r]
        want = np.mean([_kl(_sm(L[h, f * k:(f + 1) * k]), _sm(A[h, f * k:(f + 1) * k]))
                        for h in range(nH) for f in range(nF)])
        assert res.average_kl[j] == pytest.approx(want, rel=1e-7, abs=1e-15)
        assert res.frobenius_bound[j] == pytest.approx((s[r:] ** 2).sum() / (nH * nF), rel=1e-7, abs=1e-13)
    B = L + 0.05 * rng.normal(size=L.shape)
    by_rank = principal_angle_cosines_by_rank(L, B, [20, 1, 5])
    assert sorted(by_rank) == [1, 5, 20]
    for r in (1, 5, 20):
        UB = np.linalg.svd(B, full_matrices=False)[0][:, :r]
        want = np.sort(np.cos(scipy.linalg.subspace_angles(Us[:, :r], UB)))[::-1]
        np.testing.assert_allclose(principal_angle_cosines(L, B, r), want, atol=1e-9)
        np.testing.assert_allclose(by_rank[r], want, atol=1e-9)


# ---------------------------------------------------------------- lingen

def test_lingen_fit_methods_solve_the_normal_equations():
    rng = np.random.default_rng(10)
    L, y = rng.normal(size=(4, 12)), rng.normal(size=12)
    v_ls = np.linalg.pinv(L.T) @ y
    np.testing.assert_allclose(LinGen().fit(L, y).coef_, v_ls, atol=1e-10)
    np.testing.assert_allclose(LinGen(method="min_norm").fit(L, y).coef_, v_ls, atol=1e-10)
    lam = 0.1 * np.trace(L @ L.T) / 4
    v_r = np.linalg.solve(L @ L.T + lam * np.eye(4), L @ y)
    np.testing.assert_allclose(LinGen(method="ridge", ridge=0.1).fit(L, y).coef_, v_r, atol=1e-10)
    fit = LinGen().fit(L, y)
    assert fit.residual_ == pytest.approx(np.linalg.norm(v_ls @ L - y) / np.linalg.norm(y))


def _tiny_table_model():
    """V=2, T=4 tabular model with distinct, hand-chosen logits at every prefix."""
    rng = np.random.default_rng(11)
    table = {}
    for t in range(4):
        for p in itertools.product(range(2), repeat=t):
            table[p] = np.array([0.0, rng.normal() * 2])
    return TabularSequenceModel(table, 2, 4)


def test_lingen_step_logits_is_the_coefficient_combination():
    m = _tiny_table_model()
    H, v = [[0], [1]], np.array([0.3, -1.2])
    gen = np.array([[1], [0]])
    want = np.array([sum(v[i] * center_logits(m.table[tuple(H[i] + [int(z)])]) for i in range(2)) for z in gen[:, 0]])
    np.testing.assert_allclose(lingen_step_logits(m, H, v, gen), want)


def test_lingen_generate_samples_from_lingen_logits():
    m = _tiny_table_model()
    H, v = [[0], [1]], np.array([0.5, 0.5])
    got = lingen_generate(m, H, v, 2, np.random.default_rng(3), n_samples=4)
    rng = np.random.default_rng(3)
    gen = np.zeros((4, 0), int)
    for _ in range(2):
        gen = np.concatenate([gen, sample_from_logits(lingen_step_logits(m, H, v, gen), rng)[:, None]], axis=1)
    np.testing.assert_array_equal(got, gen)


def test_lingen_evaluate_kl_direction_sampling_source_and_last_m_by_hand():
    """Per-step KL(P_true(·|target∘z) ‖ P_method(·|z)), z sampled from the METHOD;
    the last-m baseline conditions on the LAST m tokens of the target."""
    m = _tiny_table_model()
    target, H, F = np.array([1, 0]), [[0, 0], [0, 1], [1, 1]], [[]]
    ev = lingen_evaluate(m, target, H, F, n_steps=2, n_samples=3, rng=np.random.default_rng(5), last_m=1,
                         baselines=("last_m_tokens",))
    rng = np.random.default_rng(5)
    # replay the rng exactly: the only draw before sampling is none (rule 'full'); fit by lstsq.
    MH = np.array([center_logits(m.table[tuple(h)]) for h in H])
    row = center_logits(m.table[(1, 0)])
    v = np.linalg.lstsq(MH.T, row, rcond=None)[0]

    def method_logits(name, z):
        if name == "lingen":
            return sum(v[i] * center_logits(m.table[tuple(H[i]) + z]) for i in range(3))
        return center_logits(m.table[(0,) + z])           # last m = 1 token of [1, 0] is [0]

    for name in ("lingen", "last_m_tokens"):
        gen = [()] * 3
        per_step = []
        for _ in range(2):
            q = np.array([method_logits(name, z) for z in gen])
            p = np.array([center_logits(m.table[(1, 0) + z]) for z in gen])
            per_step.append(np.mean([_kl(_sm(p[i]), _sm(q[i])) for i in range(3)]))
            toks = sample_from_logits(q, rng)               # sampled from the method
            gen = [z + (int(t),) for z, t in zip(gen, toks)]
        np.testing.assert_allclose(ev.per_step_kl[name], per_step, rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(ev.samples[name], np.array(gen))
    assert ev.total_kl["last_m_tokens"] == pytest.approx(float(np.sum(ev.per_step_kl["last_m_tokens"])))


def test_alpha_subsample_stability_replays_the_subsamples():
    """§3.1 scale test: α of |H|/f rows × |F|/f future blocks, f = 1 uses the whole matrix once."""
    from logitrank.theory.spectrum import alpha_subsample_stability
    rng = np.random.default_rng(12)
    nH, nF, k = 48, 12, 4
    L = rng.normal(size=(nH, nF * k)) * np.arange(1, nF * k + 1) ** -0.3
    res = alpha_subsample_stability(L, k, np.random.default_rng(3), factors=(1, 2), n_repeats=2, fit_range=(2, 0.5))
    replay = np.random.default_rng(3)
    blocks = L.reshape(nH, nF, k)
    want = {}
    for f, reps in ((1, 1), (2, 2)):
        a = []
        for _ in range(reps):
            rows = np.sort(replay.choice(nH, nH // f, replace=False))
            futs = np.sort(replay.choice(nF, nF // f, replace=False))
            sub = blocks[rows][:, futs].reshape(len(rows), -1)
            a.append(PowerLawFit(fit_range=(2, 0.5)).fit(np.linalg.svd(sub, compute_uv=False)).alpha_)
        want[f] = (np.mean(a), np.std(a))
    np.testing.assert_allclose(res.alpha_mean, [want[1][0], want[2][0]], rtol=1e-10)
    np.testing.assert_allclose(res.alpha_std, [0.0, want[2][1]], atol=1e-12, rtol=1e-10)
    assert res.alpha_std[1] > 0 and res.shapes == [(48, 48), (24, 24)]
    assert res.alpha_mean[0] == pytest.approx(
        PowerLawFit(fit_range=(2, 0.5)).fit(np.linalg.svd(L, compute_uv=False)).alpha_)
    with pytest.raises(ValueError, match="too small"):
        alpha_subsample_stability(L, k, rng, factors=(8,))
    with pytest.raises(ValueError, match="does not divide"):
        alpha_subsample_stability(L, 5, rng)


def test_spectrum_input_errors():
    with pytest.raises(ValueError, match="2-D"):
        singular_values(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        singular_values(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="rel_err"):
        rank_for_relative_error([1.0], 1.0)
    with pytest.raises(ValueError, match="ranks"):
        average_kl_vs_rank(np.ones((2, 4)), 2, [3])
    with pytest.raises(ValueError, match="does not divide"):
        average_kl_vs_rank(np.ones((2, 4)), 3, [1])
    with pytest.raises(ValueError, match="same rows"):
        principal_angle_cosines(np.ones((3, 2)), np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match="rank"):
        principal_angle_cosines(np.ones((3, 2)), np.ones((3, 2)), 3)
    with pytest.raises(ValueError, match="at least 3"):
        PowerLawFit(fit_range=(2, 3)).fit(np.arange(10.0, 0, -1))
    with pytest.raises(ValueError, match="zeros"):
        PowerLawFit(fit_range=(2, 6)).fit([3.0, 2.0, 1.0, 0.0, 0.0, 0.0])


def test_power_law_fit_uncertainties_by_independent_weighted_least_squares():
    """alpha_stderr_: WLS standard error (weights 1/i, σ² = Σ w r² / (n − 2)), from np.polyfit's
    scaled covariance; alpha_range_sensitivity_: |α(lower half) − α(upper half)| split at
    √(lo·hi) in index; alpha_err_ = hypot(se, Δ/2)."""
    rng = np.random.default_rng(13)
    i = np.arange(1, 101, dtype=float)
    s = np.sort(3.0 * i ** -0.7 * np.exp(0.05 * rng.normal(size=100)))[::-1]

    def wls(idx):
        slope_c, cov = np.polyfit(np.log(idx), np.log(s[idx.astype(int) - 1]), 1, w=np.sqrt(1 / idx), cov=True)
        return -slope_c[0], np.sqrt(cov[0, 0])

    for rng_, lo_pts, hi_pts in (((2, 8), (2, 3, 4), (4, 5, 6, 7, 8)), ((2, 6), None, (4, 5, 6))):
        fit = PowerLawFit(fit_range=rng_).fit(s)
        idx = np.arange(rng_[0], rng_[1] + 1, dtype=float)
        a, se = wls(idx)
        assert fit.alpha_ == pytest.approx(a, rel=1e-10)
        assert fit.alpha_stderr_ == pytest.approx(se, rel=1e-8)
        a_lo = wls(np.array(lo_pts, float))[0] if lo_pts else a          # < 3 points: falls back to α
        a_hi = wls(np.array(hi_pts, float))[0]
        assert fit.alpha_range_sensitivity_ == pytest.approx(abs(a_lo - a_hi), rel=1e-8)
        assert fit.alpha_err_ == pytest.approx(np.hypot(se, abs(a_lo - a_hi) / 2), rel=1e-8)


def test_power_law_fit_range_rules():
    s = np.arange(1, 101, dtype=float) ** -0.5
    assert PowerLawFit().fit(s).fit_range_ == (2, 50)             # max(2, ⌈0.01·100⌉) = 2
    assert PowerLawFit(fit_range=(0.5, 1.0)).fit(s).fit_range_ == (50, 100)
    assert PowerLawFit(fit_range=(1, 10)).fit(s).fit_range_ == (1, 10)          # ints are indices
    assert PowerLawFit(fit_range=(2, 4)).fit(s).fit_range_ == (2, 4)            # exactly 3 values is enough
    assert PowerLawFit(fit_range=(1, 3)).fit(s[:3]).alpha_ == pytest.approx(0.5)      # 3 values suffice
    with pytest.raises(ValueError, match=r"^fit range \(2, 3\) leaves 2 singular values of 100; "):
        PowerLawFit(fit_range=(2, 3)).fit(s)
    with pytest.raises(ValueError, match="^need at least 3 finite singular values$"):
        PowerLawFit().fit([1.0, 0.5])
    with pytest.raises(ValueError, match="^need at least 3 finite singular values$"):
        PowerLawFit().fit([4.0, np.nan, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"\(the matrix has rank 3\)"):
        PowerLawFit(fit_range=(2, 6)).fit([3.0, 2.0, 1.0, 0.0, 0.0, 0.0])


def test_spectrum_edge_cases_that_must_work():
    np.testing.assert_allclose(singular_values([[2.0]]), [2.0])                  # a 1×1 matrix is fine
    assert rank_for_relative_error([3.0, 2.0, 1.0], 0.0) == 3                    # exact: full rank
    L = np.random.default_rng(14).normal(size=(3, 6))
    one = average_kl_vs_rank(L, 1, [0, 3])                    # k = 1: every softmax is 1 → KL 0
    np.testing.assert_allclose(one.average_kl, 0.0, atol=1e-15)
    np.testing.assert_array_equal(one.ranks, [0, 3])
    res = average_kl_vs_rank(L, 3, [0])                       # rank 0: A = 0 → KL(softmax(L) ‖ uniform)
    want = np.mean([_kl(_sm(L[h, f * 3:(f + 1) * 3]), np.ones(3) / 3) for h in range(3) for f in range(2)])
    assert res.average_kl[0] == pytest.approx(want)
    assert res.frobenius_bound[0] == pytest.approx((L ** 2).sum() / 6)
    full = average_kl_vs_rank(L, 3, [3])                      # full rank: A = L
    assert full.average_kl[0] == pytest.approx(0.0, abs=1e-12) and full.frobenius_bound[0] == pytest.approx(0.0, abs=1e-20)
    with pytest.raises(ValueError, match="ranks"):
        average_kl_vs_rank(L, 3, [])


def test_alpha_subsample_stability_boundaries():
    from logitrank.theory.spectrum import alpha_subsample_stability
    rng = np.random.default_rng(15)
    L = rng.normal(size=(16, 32)) * np.arange(1, 33) ** -0.4
    res = alpha_subsample_stability(L, 4, np.random.default_rng(0), factors=(1, 2), fit_range=(2, 0.5))
    assert res.shapes == [(16, 32), (8, 16)]                  # 8 rows is the smallest allowed
    np.testing.assert_array_equal(res.factors, [1, 2])
    one_future = rng.normal(size=(20, 10))                    # |F| = 1, k = 10: g = max(1, 1 // 2) = 1
    res = alpha_subsample_stability(one_future, 10, np.random.default_rng(0), factors=(1, 2), fit_range=(2, 0.5))
    assert res.shapes == [(20, 10), (10, 10)]
    k1 = alpha_subsample_stability(rng.normal(size=(12, 10)), 1, np.random.default_rng(0), factors=(1,),
                                   fit_range=(2, 0.5))
    assert k1.shapes == [(12, 10)]
    with pytest.raises(ValueError, match=r"factor 4 leaves a 4×8 matrix"):
        alpha_subsample_stability(L, 4, rng, factors=(4,))


def test_principal_angle_rank_limits_and_clipping():
    rng = np.random.default_rng(16)
    with pytest.raises(ValueError, match=r"3 vs 4"):
        principal_angle_cosines(np.ones((3, 2)), np.ones((4, 2)), 1)
    for a, b, r in (((3, 5), (3, 5), 4), ((6, 2), (6, 5), 3), ((6, 5), (6, 2), 3)):
        with pytest.raises(ValueError, match="out of range"):
            principal_angle_cosines(rng.normal(size=a), rng.normal(size=b), r)
    A = np.random.default_rng(0).normal(size=(20, 6))
    c = principal_angle_cosines(A, A, 6)          # unclipped, rounding gives 1 + 1e-15 here
    assert c.max() <= 1.0 and c.min() == pytest.approx(1.0)


def test_random_subspace_cosines_baseline():
    """Haar-random lines in R²: |cos θ| with θ uniform has mean 2/π; r = n gives all ones."""
    from logitrank.theory.spectrum import fit_power_law, random_subspace_cosines
    c = random_subspace_cosines(2, 1, np.random.default_rng(17), n_draws=4000)
    assert c.shape == (1,) and c[0] == pytest.approx(2 / np.pi, abs=0.015)
    np.testing.assert_allclose(random_subspace_cosines(4, 4, np.random.default_rng(0), n_draws=3), 1.0)
    # the default averages 20 draws: replay them
    rng = np.random.default_rng(5)
    want = np.zeros(2)
    for _ in range(20):
        Q1, _ = np.linalg.qr(rng.normal(size=(6, 2)))
        Q2, _ = np.linalg.qr(rng.normal(size=(6, 2)))
        want += np.sort(np.cos(scipy.linalg.subspace_angles(Q1, Q2)))[::-1]
    np.testing.assert_allclose(random_subspace_cosines(6, 2, np.random.default_rng(5)), want / 20, rtol=1e-10)
    for bad in ((3, 0), (3, 4)):
        with pytest.raises(ValueError, match=r"^need 1 <= rank <= n, got rank="):
            random_subspace_cosines(*bad, np.random.default_rng(0))
    s = np.arange(1, 201, dtype=float) ** -0.8
    assert fit_power_law(s, fit_range=(2, 50)).alpha_ == pytest.approx(0.8)
    assert fit_power_law(s, fit_range=(2, 50)).fit_range_ == (2, 50)


def _table_model(T, seed=21):
    """V=2 tabular model of horizon T with random, distinct logits at every prefix."""
    rng = np.random.default_rng(seed)
    table = {p: np.array([0.0, rng.normal() * 2]) for t in range(T)
             for p in itertools.product(range(2), repeat=t)}
    return TabularSequenceModel(table, 2, T)


def _replay_kl(m, target, context_logits, n_steps, n_samples, rng):
    """Per-step mean KL(P_true(·|target∘z) ‖ P_method(·|z)) with z sampled from the method."""
    gen, per_step = [()] * n_samples, []
    for _ in range(n_steps):
        q = np.array([context_logits(z) for z in gen])
        p = np.array([center_logits(m.table[tuple(target) + z]) for z in gen])
        per_step.append(np.mean([_kl(_sm(a), _sm(b)) for a, b in zip(p, q)]))
        gen = [z + (int(t),) for z, t in zip(gen, sample_from_logits(q, rng))]
    return np.array(per_step), np.array(gen)


def test_lingen_evaluate_last_m_is_a_suffix_and_next_token_baseline_by_hand():
    """Target of length 3 with m = 1: the last-m context is [target[2]] (not target[1:]);
    the next-token-only baseline regresses the target's next-token logits on the histories'."""
    m = _table_model(6)
    target, H = [1, 0, 1], [[0, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]
    M0 = np.array([center_logits(m.table[tuple(h)]) for h in H])
    v0 = np.linalg.lstsq(M0.T, center_logits(m.table[tuple(target)]), rcond=None)[0]

    def lingen0(z):      # with F = {∅}, LINGEN and next-token-only share these coefficients
        return sum(v0[i] * center_logits(m.table[tuple(H[i]) + z]) for i in range(4))

    for last_m, ctx in ((1, (1,)), (0, ())):            # m = 0: the empty prefix
        ev = lingen_evaluate(m, target, H, [[]], n_steps=2, n_samples=3, rng=np.random.default_rng(1),
                             last_m=last_m, baselines=("last_m_tokens",))
        rng = np.random.default_rng(1)
        _replay_kl(m, target, lingen0, 2, 3, rng)       # LINGEN is scored first and advances the rng
        want, gen = _replay_kl(m, target, lambda z, ctx=ctx: center_logits(m.table[ctx + z]), 2, 3, rng)
        np.testing.assert_allclose(ev.per_step_kl["last_m_tokens"], want, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(ev.samples["last_m_tokens"], gen)
        assert "next_token_only" not in ev.per_step_kl
    # next-token-only: fit on the empty future only
    ev1 = lingen_evaluate(m, target, H, [[], [0]], n_steps=2, n_samples=3, rng=np.random.default_rng(2),
                          baselines=("next_token_only",))
    rng = np.random.default_rng(2)
    _replay_kl(m, target, lambda z: sum(v0[i] * center_logits(m.table[tuple(H[i]) + z]) for i in range(4)),
               2, 3, rng)                                            # lingen is scored first: advance rng
    want1, _ = _replay_kl(m, target, lambda z: sum(v0[i] * center_logits(m.table[tuple(H[i]) + z])
                                                   for i in range(4)), 2, 3, rng)
    np.testing.assert_allclose(ev1.per_step_kl["next_token_only"], want1, rtol=1e-10, atol=1e-12)
    assert (ev1.n_steps, ev1.n_samples) == (2, 3)
    assert ev1.residual["next_token_only"] == pytest.approx(
        np.linalg.norm(v0 @ M0 - center_logits(m.table[tuple(target)])) / np.linalg.norm(center_logits(m.table[tuple(target)])))


def test_lingen_evaluate_passes_its_options_to_the_matrix_and_the_fit():
    m = _table_model(6)
    target, H, F = [1, 0], [[0, 0], [0, 1], [1, 1]], [[], [1]]
    calls = []

    def spy(model, histories, futures, **kw):
        calls.append(kw)
        return extended_logit_matrix(model, histories, futures, **kw)

    rng = np.random.default_rng(3)
    ev = lingen_evaluate(m, target, H, F, n_steps=1, rng=rng, rule="random", k=1, method="ridge", ridge=0.5,
                         matrix_fn=spy)
    assert calls[0]["rule"] == "random" and calls[0]["k"] == 1 and calls[0]["rng"] is rng
    MH = extended_logit_matrix(m, H, F, column_tokens=np.asarray(ev_cols := calls[1]["column_tokens"]))
    assert calls[1]["column_tokens"].shape == (2, 1)
    assert [c.get("rule") for c in calls[2:]] == ["full", "full"]
    y = extended_logit_matrix(m, [target], F, column_tokens=ev_cols).values[0]
    G = MH.values @ MH.values.T
    v = np.linalg.solve(G + 0.5 * np.trace(G) / 3 * np.eye(3), MH.values @ y)
    assert ev.residual["lingen"] == pytest.approx(np.linalg.norm(v @ MH.values - y) / np.linalg.norm(y))
    assert ev.n_samples == 5 and ev.samples["lingen"].shape == (5, 1)           # default n_samples
    m8 = _table_model(8)
    ev = lingen_evaluate(m8, [1, 1, 0, 1, 0, 0, 1], [[0] * 7, [1] * 7], [[]], n_steps=1, rng=np.random.default_rng(0),
                         baselines=("last_m_tokens",))
    want, _ = _replay_kl(m8, [1, 1, 0, 1, 0, 0, 1], lambda z: center_logits(m8.table[(0, 1, 0, 0, 1) + z]), 1, 5,
                         np.random.default_rng(0))
    np.testing.assert_allclose(ev.per_step_kl["last_m_tokens"], want, rtol=1e-10, atol=1e-12)       # default m = 5


def test_lingen_input_errors_and_fit_edge_cases():
    m = _table_model(4)
    with pytest.raises(ValueError, match=r"^need n_steps >= 1 and n_samples >= 1, got 0, 1$"):
        lingen_generate(m, [[0]], np.ones(1), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^need n_steps >= 1 and n_samples >= 1, got 1, 0$"):
        lingen_generate(m, [[0]], np.ones(1), 1, np.random.default_rng(0), n_samples=0)
    assert lingen_generate(m, [[0]], np.ones(1), 1, np.random.default_rng(0)).shape == (1, 1)   # defaults
    for kw in ({"n_steps": 0}, {"n_samples": 0}):
        with pytest.raises(ValueError, match=r"^need n_steps >= 1 and n_samples >= 1"):
            lingen_evaluate(m, [0], [[1]], [[]], rng=np.random.default_rng(0), **{"n_steps": 1, "n_samples": 1, **kw})
    with pytest.raises(ValueError, match=r"^unknown baselines \['foo'\]$"):
        lingen_evaluate(m, [0], [[1]], [[]], n_steps=1, rng=np.random.default_rng(0), baselines=("foo",))
    with pytest.raises(ValueError, match=r"^coef has shape \(2,\), expected \(1,\)$"):
        lingen_step_logits(m, [[0]], np.ones(2), np.zeros((1, 0), int))
    with pytest.raises(ValueError, match=r"^history_matrix must be \(\|H\|, C\) and target_row \(C,\); got \(2, 3\) and \(2,\)$"):
        LinGen().fit(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="history_matrix must be"):
        LinGen().fit(np.ones((0, 3)), np.ones(3))
    LinGen().fit(np.ones((1, 3)), np.ones(3))                            # one history is fine
    for L, y in ((np.array([[1.0, np.nan]]), np.ones(2)), (np.ones((1, 2)), np.array([1.0, np.inf]))):
        with pytest.raises(ValueError, match="^history_matrix and target_row must be finite$"):
            LinGen().fit(L, y)
    with pytest.raises(ValueError, match=r"^ridge must be > 0, got 0$"):
        LinGen(method="ridge", ridge=0).fit(np.ones((1, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"^unknown method 'x'; choose one of"):
        LinGen(method="x").fit(np.ones((1, 2)), np.ones(2))
    # min_norm cut: keep s > rtol·σ_1 (strictly), also for σ_1 < 1; zero matrix → v = 0
    L = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(LinGen(method="min_norm", rtol=0.5).fit(L, y).coef_, [0.5, 0.0])
    np.testing.assert_allclose(LinGen(method="min_norm", rtol=0.6).fit(L / 4, y).coef_, [2.0, 0.0])
    z = LinGen(method="min_norm").fit(np.zeros((2, 3)), y)
    np.testing.assert_array_equal(z.coef_, [0.0, 0.0])
    # residual: relative when ‖y‖ > 0 (also below 1), absolute ‖vᵀL‖ when y = 0
    assert LinGen().fit(np.array([[1.0, 0.0]]), np.array([0.3, 0.4])).residual_ == pytest.approx(0.8)
    assert LinGen().fit(np.array([[1.0, 0.0]]), np.zeros(2)).residual_ == 0.0


def test_isan_construction_options_and_rank_zero_cuts():
    """Theorem 4.3 'if' direction: explicit T < horizon, rtol deciding the rank, a cut of rank 0."""
    rng = np.random.default_rng(22)
    A, B, x0 = rng.normal(size=(3, 2, 2, 2)), rng.normal(size=(3, 2, 2)), rng.normal(size=2)
    src = TimeVaryingISAN(A, B, x0)
    short = isan_from_low_rank_model(src, dim=2, T=2)                 # only the first two steps
    assert short.isan.horizon == 2 and short.ranks == [1, 1]        # last cut: one 2-token block
    for t in range(2):
        P = np.array(list(itertools.product(range(2), repeat=t)), dtype=np.int64).reshape(2 ** t, t)
        np.testing.assert_allclose(short.isan.centered_logits(P), src.centered_logits(P), atol=1e-9)
    # a second state direction 1e-7 times weaker: rank 2 at the default rtol, 1 at rtol = 1e-5
    Bw = B.copy()
    Bw[:, :, 1] *= 1e-7
    Aw = np.zeros_like(A)
    Aw[:, 0, 0, 0], Aw[:, 0, 1, 1], Aw[:, 1, 0, 0], Aw[:, 1, 1, 1] = 1.0, 2.0, 2.0, 1.0   # diagonal, token-dependent
    weak = TimeVaryingISAN(Aw, Bw, np.array([1.0, 1.0]))
    assert isan_from_low_rank_model(weak, dim=2).ranks == [1, 2, 1]
    assert isan_from_low_rank_model(weak, dim=2, rtol=1e-5).ranks == [1, 1, 1]
    # B_3 = 0: the last cut has rank 0 and no basis histories
    Bz = B.copy()
    Bz[2] = 0.0
    con = isan_from_low_rank_model(TimeVaryingISAN(A, Bz, x0), dim=2)
    assert con.ranks[2] == 0 and con.basis_histories[2] == []
    P = np.array(list(itertools.product(range(2), repeat=2)), dtype=np.int64)
    np.testing.assert_allclose(con.isan.centered_logits(P), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"^need a horizon T >= 1 \(the model has none; pass T\)$"):
        isan_from_low_rank_model(src, dim=2, T=0)
    with pytest.raises(ValueError, match=r"^dim must be >= 1, got 0$"):
        isan_from_low_rank_model(src, dim=0)
    with pytest.raises(ValueError, match=r"^cut t=1 has logit rank 2 > dim=1: no ISAN of dimension 1 "):
        isan_from_low_rank_model(src, dim=1)
