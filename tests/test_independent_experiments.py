"""sim/experiments.py pinned against computations written here.

Each test recomputes the quantity from the paper's formula in a few lines of NumPy
(paper 1 note §2.1: squared relative Frobenius error of the best rank-r approximation
of σ_i = i^(−α) is ≈ (r^{1−2α} − N^{1−2α}) / (1 − N^{1−2α}); at α = 1/2 the sums are
logarithms and r = N^{1−ε²}).
"""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError
from logitrank.sim.experiments import continuum_rank_prediction, cutwise_rank_vs_dimension, phase_transition_ranks


def _exact_rank(n: int, alpha: float, eps: float) -> int:
    """Smallest r with Σ_{i>r} σ_i² ≤ ε² Σ_i σ_i², σ_i = i^{-α} (written out, no helper)."""
    s2 = np.arange(1, n + 1, dtype=np.float64) ** (-2 * alpha)
    tail = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])      # tail[r] = Σ_{i>r} σ_i²
    return int(np.flatnonzero(tail <= eps ** 2 * s2.sum() + 1e-15)[0])


def test_alpha_half_continuum_rank_is_n_to_one_minus_eps_squared():
    """A former bug: at α = 1/2 the prediction was N^{ε²} (2.29 at N = 10⁴, ε = 0.3)."""
    pred = continuum_rank_prediction(0.5, np.array([1e4]), 0.3)[0]
    assert pred == pytest.approx(1e4 ** 0.91, rel=1e-12)          # 4365.2
    # The continuum value is within 10 % of the exact discrete rank (4144).
    assert abs(pred - _exact_rank(10_000, 0.5, 0.3)) / _exact_rank(10_000, 0.5, 0.3) < 0.1


def test_alpha_half_is_the_limit_of_the_general_formula():
    """(ε²(1 − N^a) + N^a)^{1/a} → N^{1−ε²} as a = 1 − 2α → 0, from both sides."""
    n = np.array([1e3, 1e5])
    at_half = continuum_rank_prediction(0.5, n, 0.2)
    for alpha in (0.5 - 1e-6, 0.5 + 1e-6):
        np.testing.assert_allclose(continuum_rank_prediction(alpha, n, 0.2), at_half, rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.2])
def test_continuum_prediction_matches_the_closed_form_and_the_exact_rank(alpha):
    n = np.array([100.0, 1000.0, 20000.0])
    eps = 0.25
    a = 1 - 2 * alpha
    closed = (eps ** 2 * (1 - n ** a) + n ** a) ** (1 / a)
    np.testing.assert_allclose(continuum_rank_prediction(alpha, n, eps), np.maximum(1.0, closed), rtol=1e-12)
    # The continuum tracks the discrete rank within a factor 2 (integral vs sum).
    exact = np.array([_exact_rank(int(N), alpha, eps) for N in n])
    assert np.all(np.abs(np.log(np.maximum(closed, 1) / exact)) < np.log(2.0))


def test_continuum_prediction_saturates_above_half_and_grows_below():
    big = np.array([1e6, 1e8])
    hi = continuum_rank_prediction(0.8, big, 0.1)
    # N-independent limit ε^{−2/(2α−1)}; the N^{1−2α} correction is 4 % at 10⁶, 0.3 % at 10⁸.
    assert hi[1] == pytest.approx(0.1 ** (-2 / (2 * 0.8 - 1)), rel=1e-2)
    assert hi[0] < hi[1]
    lo = continuum_rank_prediction(0.3, big, 0.1)
    assert lo[1] / lo[0] == pytest.approx(100.0, rel=1e-3)                          # ∝ N


def test_phase_transition_ranks_are_the_exact_ranks():
    alphas, sizes = [0.3, 0.5, 0.9], [50, 500, 5000]
    res = phase_transition_ranks(alphas=alphas, sizes=sizes, rel_err=0.3)
    want = np.array([[_exact_rank(N, a, 0.3) for N in sizes] for a in alphas])
    np.testing.assert_array_equal(res["ranks"], want)
    np.testing.assert_allclose(res["predicted"], [continuum_rank_prediction(a, np.array(sizes), 0.3) for a in alphas])
    # Slope of log r vs log N over the last decade (sizes 500 and 5000), written out.
    slope = np.log(want[:, 2] / want[:, 1]) / np.log(10.0)
    np.testing.assert_allclose(res["last_decade_slope"], slope, rtol=1e-9)
    assert slope[0] > 0.9 and slope[2] < 0.1          # linear growth below 1/2, saturation above


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1])
def test_phase_transition_rejects_bad_rel_err(bad):
    with pytest.raises(InvalidInputError, match="rel_err"):
        phase_transition_ranks(alphas=[0.5], sizes=[10], rel_err=bad)


def test_cutwise_rank_vs_dimension_ranks_equal_d_for_generic_isans():
    """Theorem 4.3: cut-wise rank ≤ d, and = min(d, shape) for generic random ISANs."""
    res = cutwise_rank_vs_dimension(vocab_size=3, horizon=4, dims=[1, 2, 3], n_seeds=2, seed=0)
    # Matrix shape at cut t: 3^t histories × (Σ_{j<T−t} 3^j futures · 3 tokens) columns.
    cols = [3 * sum(3 ** j for j in range(4 - t)) for t in range(4)]
    np.testing.assert_array_equal(res["max_possible_rank"], [min(3 ** t, c) for t, c in enumerate(cols)])
    # centered logits live in a (V−1)=2 dimensional space per block; the rank is bounded by d.
    for i, d in enumerate([1, 2, 3]):
        assert res["isan_max_rank"][i].max() == d
        assert np.all(res["isan_rank_per_cut"][i] <= d)
        assert np.all(res["isan_rank_per_cut"][i] <= res["max_possible_rank"])


def test_lingen_synthetic_is_exact_on_isans_and_shapes_follow_the_config():
    """Paper 1 §5: on an exact ISAN, LINGEN's per-step KL is 0 once the histories span the
    target's row (here |H| = 6 > d = 2 and all short futures)."""
    from logitrank.sim.experiments import lingen_synthetic
    res = lingen_synthetic(vocab_size=2, horizon=6, dim=2, history_length=3, n_histories=6, n_futures=7,
                           n_models=2, n_steps=2, n_samples=3, last_m=1, seed=0)
    for fam in ("isan", "hmm"):
        for name in ("lingen", "next_token_only", "last_m_tokens"):
            assert res[f"{fam}/{name}"].shape == (2, 2)
            assert np.all(res[f"{fam}/{name}"] >= -1e-12)
    assert res["isan/lingen"].max() < 1e-8
    assert res["isan/last_m_tokens"].max() > 1e-4          # conditioning on 1 token loses information
    assert (res["n_futures"], res["n_models"], res["last_m"], res["dim"]) == (7, 2, 1, 2)
    with pytest.raises(InvalidInputError, match="exceeds horizon"):
        lingen_synthetic(vocab_size=2, horizon=4, dim=2, history_length=3, n_histories=2, n_futures=1,
                         n_models=1, n_steps=2, n_samples=1, last_m=1, seed=0)


def test_synthetic_spectra_curves_are_normalised_and_alpha_fits_the_power_laws():
    from logitrank.sim.experiments import synthetic_spectra
    res = synthetic_spectra(vocab_size=3, history_length=3, n_histories=40, n_futures=20, max_future_length=2,
                            dims=[2], hmm_states=[3], alphas=[0.8], seed=0)
    assert res["labels"].tolist() == ["ISAN d=2", "HMM k=3", "power law α=0.8"]
    n = min(40, 20 * 3)
    assert res["curves"].shape == (3, n) and np.allclose(res["curves"][:, 0], 1.0)
    assert res["shape"].tolist() == [40, 60]
    assert res["curves"][0, 2:].max() < 1e-10              # ISAN of dimension 2: rank 2
    np.testing.assert_allclose(res["curves"][2], np.arange(1, n + 1) ** -0.8)
    assert np.isnan(res["alpha"][0])                        # exactly low rank: no power law
    from logitrank.theory.spectrum import PowerLawFit
    assert res["alpha"][2] == pytest.approx(PowerLawFit().fit(np.arange(1, n + 1) ** -0.8).alpha_)
    assert res["alpha"][2] == pytest.approx(0.8, abs=1e-9)
