"""Spectrum tools: power-law fit, average KL and its Frobenius bound, principal angles."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import power_law_matrix, power_law_spectrum
from logitrank.theory.spectrum import (
    PowerLawFit,
    alpha_subsample_stability,
    average_kl_vs_rank,
    principal_angle_cosines,
    random_subspace_cosines,
    rank_for_relative_error,
    relative_tail_error,
    singular_values,
)


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.3, 1.0), n=st.integers(200, 3000), noise=st.floats(0.0, 0.05),
       seed=st.integers(0, 10**6))
def test_power_law_fit_recovers_alpha(alpha, n, noise, seed):
    """For a spectrum σ_i = C·i^(−α)·e^{ε_i} (ε_i i.i.d. N(0, noise²), noise ≤ 0.05, re-sorted)
    with α ∈ [0.3, 1.0], the fitted α is within 0.02 of the truth."""
    rng = np.random.default_rng(seed)
    s = power_law_spectrum(n, alpha, scale=rng.uniform(0.1, 10)) * np.exp(rng.normal(0, noise, n))
    fit = PowerLawFit().fit(np.sort(s)[::-1])
    assert abs(fit.alpha_ - alpha) < 0.02


def test_alpha_uncertainty_reflects_fit_range_sensitivity():
    """A spectrum whose slope bends inside the fit range gets a much larger uncertainty than an
    exact power law, and the uncertainty covers the spread between the two slopes."""
    i = np.arange(1, 2001, dtype=float)
    bent = np.where(i < 100, i ** -0.4, 100 ** -0.4 * (i / 100) ** -0.8)
    exact = PowerLawFit().fit(i ** -0.6)
    fit = PowerLawFit().fit(bent)
    assert exact.alpha_err_ < 1e-8
    assert fit.alpha_err_ > 0.1 and 0.4 < fit.alpha_ < 0.8


def test_power_law_fit_on_a_matrix():
    s = singular_values(power_law_matrix(300, 500, 0.7, np.random.default_rng(0)))
    assert abs(PowerLawFit().fit(s).alpha_ - 0.7) < 1e-6


def test_fit_range_errors():
    with pytest.raises(InvalidInputError, match="need at least 3"):
        PowerLawFit(fit_range=(2, 3)).fit(power_law_spectrum(100, 0.5))
    with pytest.raises(InvalidInputError, match="include zeros"):
        PowerLawFit(fit_range=(2, 50)).fit(np.r_[power_law_spectrum(10, 0.5), np.zeros(90)])


@settings(max_examples=30, deadline=None)
@given(h=st.integers(2, 12), f=st.integers(1, 6), k=st.integers(2, 6), scale=st.floats(0.1, 5.0),
       seed=st.integers(0, 10**6))
def test_average_kl_bounded_by_frobenius(h, f, k, scale, seed):
    """Fact B.2: for every rank r, D_KL^avg(L, A_r) ≤ ‖L − A_r‖²_F / (|H||F|) (from Hoeffding's lemma,
    KL(softmax x ‖ softmax y) ≤ ‖x − y‖²_∞/2); the bound is tight at full rank (both 0)."""
    L = np.random.default_rng(seed).normal(scale=scale, size=(h, f * k))
    r = average_kl_vs_rank(L, k, range(0, min(h, f * k) + 1))
    assert np.all(r.average_kl <= r.frobenius_bound + 1e-12)
    assert np.all(r.average_kl >= -1e-12)
    assert r.average_kl[-1] < 1e-10 and r.frobenius_bound[-1] < 1e-10


def test_rank_for_relative_error():
    s = np.array([3.0, 4.0, 0.0])                     # unsorted on purpose
    assert rank_for_relative_error(s, 0.0) == 2
    assert rank_for_relative_error(s, 0.61) == 1      # tail 3/5 = 0.6
    np.testing.assert_allclose(relative_tail_error(s), [1.0, 0.6, 0.0, 0.0])


def test_subsample_stability_of_an_exact_power_law_matrix():
    rng = np.random.default_rng(0)
    M = power_law_matrix(256, 256 * 4, 0.8, rng)
    st_ = alpha_subsample_stability(M, 4, rng, factors=(1, 2, 4))
    assert st_.alpha_mean[0] == pytest.approx(0.8, abs=1e-6)
    assert st_.shapes == [(256, 1024), (128, 512), (64, 256)]


def test_principal_angles():
    rng = np.random.default_rng(0)
    A = power_law_matrix(60, 80, 1.0, rng)
    same = principal_angle_cosines(A, 2 * A[:, rng.permutation(80)] + 1e-6 * rng.normal(size=A.shape), 3)
    assert same.min() > 0.99
    rand = random_subspace_cosines(60, 3, rng, n_draws=50)
    assert rand.max() < 0.6
    with pytest.raises(InvalidInputError, match="same rows"):
        principal_angle_cosines(A, A[:10], 2)


def _power_law_matrix(rng, n, m, alpha):
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(m, n)))
    return (U * np.arange(1, n + 1) ** -alpha) @ V.T


def test_power_law_check_flags_gaussian_matrices_and_passes_power_laws():
    """Theorem-free calibration: Marchenko–Pastur spectra (i.i.d. Gaussian) are not power laws; exact
    power laws and power laws under 10% multiplicative noise are.

    Independent computation: the half-range slopes are refitted here with np.polyfit (weights 1/i,
    i.e. sqrt weights 1/sqrt(i) for polyfit) on log σ vs log i.
    """
    from logitrank.theory.spectrum import power_law_check
    rng = np.random.default_rng(3)
    for shape in [(128, 3200), (256, 1600), (300, 300), (64, 64)]:
        s = np.linalg.svd(rng.normal(size=shape), compute_uv=False)
        chk = power_law_check(s)
        assert not chk.is_power_law, shape
        lo, hi = max(2, int(np.ceil(0.01 * len(s)))), len(s) // 2
        i = np.arange(lo, hi + 1)
        mid = np.sqrt(lo * hi)
        slopes = []
        for sel in (i <= mid, i >= mid):
            x, y = np.log(i[sel]), np.log(s[i[sel] - 1])
            slopes.append(-np.polyfit(x, y, 1, w=1 / np.sqrt(i[sel]))[0])
        assert np.allclose([chk.alpha_lower, chk.alpha_upper], slopes, atol=1e-8)
        assert chk.relative_disagreement > 1.0
    for alpha in (0.3, 0.5, 0.8):
        L = _power_law_matrix(rng, 200, 800, alpha)
        assert power_law_check(np.linalg.svd(L, compute_uv=False)).is_power_law
        s = np.arange(1, 201) ** -alpha * np.exp(0.1 * rng.normal(size=200))
        assert power_law_check(np.sort(s)[::-1]).is_power_law
    with pytest.raises(InvalidInputError):
        power_law_check(np.arange(1, 50) ** -0.5, rtol=0)
