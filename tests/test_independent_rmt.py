"""RMT statistics (theory/rmt.py, real_models/activations.py) pinned independently.

Expected values come from the formulas of Staats–Thamm–Rosenow (2024) §3–4, Johnstone
(2001) and Clauset et al. (2009), written out here with SciPy quadrature and plain loops,
or from ``scipy.stats.kstest``; never from another helper of ``theory/rmt.py``.
"""

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
from scipy import stats

from logitrank.theory.rmt import (
    TRACY_WIDOM_1_QUANTILES,
    EigenvaluePowerLawFit,
    MarchenkoPasturFit,
    bbp_threshold,
    marchenko_pastur_cdf,
    marchenko_pastur_edges,
    marchenko_pastur_median,
    marchenko_pastur_pdf,
    noise_scale,
    random_overlap_band,
    singular_vector_statistics,
    spacing_ratio,
    tracy_widom_margins,
)

SHAPE = (300, 100)       # n = 300, m = 100, q = 1/3


def _mp_eig_density(lam, q):
    """Standard MP eigenvalue density (variance 1, ratio q ≤ 1) of (1/n) XᵀX."""
    a, b = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2
    return np.sqrt(max((b - lam) * (lam - a), 0.0)) / (2 * np.pi * q * lam)


def _mp_sv_cdf(nu, n, m, sigma):
    """P(singular value ≤ nu) by quadrature of the eigenvalue density at λ = nu²/(σ² n)."""
    q = m / n
    a, b = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2
    x = min(max(nu ** 2 / (sigma ** 2 * n), a), b)
    return scipy.integrate.quad(_mp_eig_density, a, x, args=(q,), limit=200)[0]


def test_mp_edges_by_hand():
    lo, hi = marchenko_pastur_edges((100, 300), sigma=2.0)       # orientation-free
    assert (lo, hi) == pytest.approx((2 * (np.sqrt(300) - 10), 2 * (np.sqrt(300) + 10)))
    assert marchenko_pastur_edges((50, 50))[0] == pytest.approx(0.0)


def test_mp_pdf_is_the_eigenvalue_density_mapped_through_nu_squared():
    n, m = SHAPE
    sigma = 1.5
    lo, hi = marchenko_pastur_edges(SHAPE, sigma)
    nu = np.linspace(lo, hi, 9)[1:-1]
    # P(nu) = p(λ) dλ/dnu with λ = nu²/(σ² n): dλ/dnu = 2 nu / (σ² n)
    want = [_mp_eig_density(v ** 2 / (sigma ** 2 * n), m / n) * 2 * v / (sigma ** 2 * n) for v in nu]
    np.testing.assert_allclose(marchenko_pastur_pdf(nu, SHAPE, sigma), want, rtol=1e-10)
    assert marchenko_pastur_pdf(np.array([lo * 0.9, hi * 1.1]), SHAPE, sigma).tolist() == [0.0, 0.0]
    total = scipy.integrate.quad(lambda v: marchenko_pastur_pdf(np.array([v]), SHAPE, sigma)[0], lo, hi)[0]
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shape", [SHAPE, (200, 180), (400, 40)])
def test_mp_cdf_and_median_by_quadrature(shape):
    n, m = max(shape), min(shape)
    lo, hi = marchenko_pastur_edges(shape, 0.7)
    for nu in np.linspace(lo, hi, 7)[1:-1]:
        assert marchenko_pastur_cdf(nu, shape, 0.7) == pytest.approx(_mp_sv_cdf(nu, n, m, 0.7), abs=2e-6)
    q = m / n
    a, b = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2
    med = scipy.optimize.brentq(lambda x: scipy.integrate.quad(_mp_eig_density, a, x, args=(q,))[0] - 0.5, a, b)
    assert marchenko_pastur_median(shape) == pytest.approx(med, rel=1e-5)


def test_noise_scale_is_median_over_sqrt_n_mu():
    n, m = SHAPE
    q = m / n
    a, b = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2
    mu = scipy.optimize.brentq(lambda x: scipy.integrate.quad(_mp_eig_density, a, x, args=(q,))[0] - 0.5, a, b)
    nu = np.random.default_rng(0).uniform(5, 30, size=m)
    assert noise_scale(nu, SHAPE) == pytest.approx(np.median(nu) / np.sqrt(n * mu), rel=1e-5)
    W = np.random.default_rng(1).normal(scale=2.0, size=SHAPE)
    assert noise_scale(np.linalg.svd(W, compute_uv=False), SHAPE) == pytest.approx(2.0, rel=0.03)


def test_tracy_widom_scales_follow_from_johnstone_through_nu_equals_sqrt_lambda():
    """Johnstone: λ_max scale σ²(√n+√m)(1/√n+1/√m)^{1/3}; dν = dλ / (2ν) at ν = σ(√n+√m)."""
    n, m, sigma = 400, 100, 1.3
    lam_scale = sigma ** 2 * (np.sqrt(n) + np.sqrt(m)) * (1 / np.sqrt(n) + 1 / np.sqrt(m)) ** (1 / 3)
    up = lam_scale / (2 * sigma * (np.sqrt(n) + np.sqrt(m)))
    lam_scale_lo = sigma ** 2 * (np.sqrt(n) - np.sqrt(m)) * (1 / np.sqrt(m) - 1 / np.sqrt(n)) ** (1 / 3)
    low = lam_scale_lo / (2 * sigma * (np.sqrt(n) - np.sqrt(m)))
    assert tracy_widom_margins((m, n), sigma) == pytest.approx((low, up), rel=1e-12)
    assert tracy_widom_margins((50, 50))[0] == 0.0


def test_bbp_threshold_by_hand():
    assert bbp_threshold((400, 100), 2.0) == pytest.approx(2.0 * (400 * 100) ** 0.25)


def _planted(sigma=1.0):
    """Singular values: a bulk, two far outliers above, one far below (shape SHAPE)."""
    n, m = SHAPE
    lo, hi = marchenko_pastur_edges(SHAPE, sigma)
    bulk = np.sort(np.random.default_rng(2).uniform(lo * 1.02, hi * 0.98, m - 3))
    return np.concatenate([bulk, [lo * 0.5, hi * 1.5, hi * 2.0]]), bulk


def test_mp_fit_margins_counts_and_ks_on_the_bulk_only():
    nu, bulk = _planted()
    fit = MarchenkoPasturFit(tw_quantile=0.95, margin_factor=1.0).fit(nu, SHAPE, sigma=1.0)
    low, up = tracy_widom_margins(SHAPE, 1.0)
    assert fit.upper_margin_ == pytest.approx(0.9793 * up)
    assert fit.lower_margin_ == pytest.approx(0.9793 * low)
    assert (fit.n_above_, fit.n_below_, fit.n_above_band_, fit.n_below_band_) == (2, 1, 2, 1)
    assert fit.n_bulk_ == len(bulk)
    ref = stats.kstest(bulk, lambda x: np.array([_mp_sv_cdf(v, *SHAPE, 1.0) for v in np.atleast_1d(x)]))
    assert fit.ks_distance_ == pytest.approx(ref.statistic, abs=1e-5)
    assert fit.ks_pvalue_ == pytest.approx(ref.pvalue, rel=1e-3)
    assert not fit.consistent_


def test_mp_fit_margin_decides_which_values_are_outliers():
    """A value 1.5 TW margins above the edge is an outlier at factor 1, not at factor 2."""
    nu, _ = _planted()
    hi = marchenko_pastur_edges(SHAPE, 1.0)[1]
    up = TRACY_WIDOM_1_QUANTILES[0.99] * tracy_widom_margins(SHAPE, 1.0)[1]
    nu = np.concatenate([nu[:-3], [hi + 0.5 * up, hi + 1.5 * up, hi + 3 * up]])
    f1 = MarchenkoPasturFit(margin_factor=1.0).fit(nu, SHAPE, sigma=1.0)
    f2 = MarchenkoPasturFit(margin_factor=2.0).fit(nu, SHAPE, sigma=1.0)
    assert (f1.n_above_, f2.n_above_, f1.n_above_band_) == (2, 1, 3)


def test_mp_fit_on_gaussian_matrix_is_consistent():
    W = np.random.default_rng(3).normal(size=(600, 200))
    fit = MarchenkoPasturFit().fit(np.linalg.svd(W, compute_uv=False), W.shape)
    assert fit.consistent_ and fit.n_above_ == fit.n_below_ == 0 and fit.ks_pvalue_ > 0.01


def test_spacing_ratio_by_hand():
    nu, _ = _planted()
    nu = np.sort(nu[:-3])
    res = spacing_ratio(nu, SHAPE, 1.0, trim=0.1)
    xi = np.array([SHAPE[1] * _mp_sv_cdf(v, *SHAPE, 1.0) for v in nu])
    k = int(0.1 * len(xi))
    s = np.diff(xi[k:len(xi) - k])
    r = np.minimum(s[:-1], s[1:]) / np.maximum(s[:-1], s[1:])
    assert res.n_ratios == len(r)
    assert res.mean_ratio == pytest.approx(r.mean(), rel=1e-4)


def test_singular_vector_statistics_match_scipy_kstest():
    rng = np.random.default_rng(4)
    V = rng.normal(size=(3, 50))
    V[2] = 0.0
    V[2, :2] = 1.0                                   # localised: IPR 1/2, max entry 1/√2
    st = singular_vector_statistics(V)
    for i in range(3):
        u = V[i] / np.linalg.norm(V[i])
        ref = stats.kstest(50 * u ** 2, stats.chi2(1).cdf, method="exact")
        assert st.porter_thomas_ks[i] == pytest.approx(ref.statistic, rel=1e-9)
        assert st.porter_thomas_pvalue[i] == pytest.approx(ref.pvalue, rel=1e-6)
        assert st.ipr[i] == pytest.approx(np.sum(u ** 4))
        assert st.max_entry[i] == pytest.approx(np.abs(u).max())
    assert st.ipr[2] == pytest.approx(0.5) and st.random_ipr == pytest.approx(3 / 52)


def test_random_overlap_band_in_two_dimensions():
    """For d = 2, v = (cos θ, sin θ): E max(|cos θ|, |sin θ|) = 2√2/π."""
    mu, lo, hi = random_overlap_band(2, np.random.default_rng(5), n_samples=40000, n_sigma=2.0)
    assert mu == pytest.approx(2 * np.sqrt(2) / np.pi, abs=3e-3)
    # std of max(|cos|,|sin|) over θ ~ U[0, π/4]: E[cos²θ] = 1/2 + 1/π
    sd = np.sqrt(0.5 + 1 / np.pi - (2 * np.sqrt(2) / np.pi) ** 2)
    assert (hi - mu, mu - lo) == pytest.approx((2 * sd, 2 * sd), rel=2e-2)


def _clauset_brute_force(x):
    """Clauset–Shalizi–Newman: for each x_min (all but the largest), MLE α and KS; best KS."""
    x = np.sort(x)
    best = (np.inf, None, None)
    for i in range(len(x) - 1):
        tail = x[i:]
        a = 1 + len(tail) / np.sum(np.log(tail / x[i]))
        model = 1 - (tail / x[i]) ** (1 - a)
        emp = np.arange(len(tail)) / len(tail)
        ks = np.max(np.abs(model - emp))
        if ks < best[0]:
            best = (ks, a, x[i])
    return best


def test_eigenvalue_power_law_fit_matches_a_brute_force_clauset_fit():
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.uniform(0.1, 1.0, 40), (1 - rng.random(80)) ** (-1 / 1.5)])
    fit = EigenvaluePowerLawFit().fit(x)
    ks, a, xmin = _clauset_brute_force(x)
    assert (fit.ks_distance_, fit.alpha_, fit.xmin_) == pytest.approx((ks, a, xmin), rel=1e-10)
    assert fit.n_tail_ == int(np.sum(x >= xmin))
    assert fit.alpha_err_ == pytest.approx((a - 1) / np.sqrt(fit.n_tail_))


def test_mp_fit_scales_with_sigma_and_square_matrices_have_no_lower_outliers():
    nu, bulk = _planted(sigma=1.0)
    fit = MarchenkoPasturFit(tw_quantile=0.90).fit(2.5 * nu, SHAPE, sigma=2.5)
    lo, hi = 2.5 * (np.sqrt(300) - 10), 2.5 * (np.sqrt(300) + 10)
    low, up = tracy_widom_margins(SHAPE, 2.5)
    assert (fit.lower_edge_, fit.upper_edge_) == pytest.approx((lo, hi))
    assert (fit.lower_margin_, fit.upper_margin_) == pytest.approx((0.4501 * low, 0.4501 * up))
    assert (fit.n_above_, fit.n_below_) == (2, 1)
    ref = stats.kstest(2.5 * bulk, lambda x: np.array([_mp_sv_cdf(v, *SHAPE, 2.5) for v in np.atleast_1d(x)]))
    assert fit.ks_distance_ == pytest.approx(ref.statistic, abs=1e-5)
    sq = np.linalg.svd(np.random.default_rng(7).normal(size=(120, 120)), compute_uv=False)
    sq[-1] = 0.0                                              # hard edge: tiny values are not outliers
    f = MarchenkoPasturFit().fit(sq, (120, 120), sigma=1.0)
    assert f.n_below_ == 0 and f.n_below_band_ == 0 and f.lower_margin_ == 0.0
