"""The RMT fits and statistics of theory/rmt.py pinned on edge cases (mutation testing).

Complements ``test_independent_rmt.py``: the expected values are written out here from the
definitions — Clauset, Shalizi & Newman (2009) for the power-law fit (a plain loop over
x_min), the Marchenko–Pastur band and Tracy–Widom margins (Staats–Thamm–Rosenow 2024 §3,
Johnstone 2001) for the MP fit, Atas et al. (2013) for the spacing ratio — on small cases
whose answer is known by hand, and at the exact boundaries where ``<`` and ``<=`` differ.
Every rejection is checked with its full one-line message.
"""

import math
import re

import numpy as np
import pytest
from scipy import stats
from test_independent_rmt import _mp_eig_density, _mp_sv_cdf

from logitrank.errors import InvalidInputError
from logitrank.theory.rmt import (
    GOE_SPACING_RATIO,
    POISSON_SPACING_RATIO,
    TRACY_WIDOM_1_QUANTILES,
    EigenvaluePowerLawFit,
    MarchenkoPasturFit,
    bbp_threshold,
    marchenko_pastur_cdf,
    marchenko_pastur_edges,
    marchenko_pastur_pdf,
    noise_scale,
    random_overlap_band,
    singular_vector_statistics,
    spacing_ratio,
    tracy_widom_margins,
)


def _raises(message):
    """pytest.raises for InvalidInputError with exactly this message."""
    return pytest.raises(InvalidInputError, match="^" + re.escape(message) + "$")


# --------------------------------------------------------------------------- power law

def _clauset(x):
    """Clauset–Shalizi–Newman (2009), written out: for every x_min but the largest value,
    the continuous MLE α = 1 + n / Σ ln(x / x_min) and the KS distance between the tail's
    empirical CDF (j/n at the j-th tail value, j = 0..n−1, as WeightWatcher) and the fitted
    CDF 1 − (x / x_min)^(1−α); the x_min of smallest KS wins, ties to the smallest x_min.
    Tails whose values are all equal have no finite MLE and are not candidates.
    Returns (ks, alpha, x_min, n_tail, per-candidate KS list)."""
    x = np.sort(np.asarray(x, dtype=float))
    best, all_ks = None, []
    for i in range(len(x) - 1):
        tail = x[i:]
        s = float(np.sum(np.log(tail / x[i])))
        if s <= 0:
            all_ks.append(math.inf)
            continue
        n = len(tail)
        a = 1 + n / s
        d = float(np.max(np.abs(1 - (tail / x[i]) ** (1 - a) - np.arange(n) / n)))
        all_ks.append(d)
        if best is None or d < best[0]:
            best = (d, a, x[i], n)
    return (*best, all_ks)


def _lower_bounds(x, stride):
    """The KS terms at columns 0, stride, 2·stride, … only (j ≥ i): a lower bound of each KS."""
    x = np.sort(np.asarray(x, dtype=float))
    out = []
    for i in range(len(x) - 1):
        tail = x[i:]
        s = float(np.sum(np.log(tail / x[i])))
        if s <= 0:
            out.append(math.inf)
            continue
        a = 1 + len(tail) / s
        j = np.arange(i, len(x))
        j = j[j % stride == 0]                    # the strided columns at or after i
        terms = np.abs(1 - (x[j] / x[i]) ** (1 - a) - (j - i) / len(tail))
        out.append(float(terms.max()) if j.size else 0.0)
    return np.array(out)


def _check_fit(fit, x):
    ks, a, xmin, n_tail, _ = _clauset(x)
    assert fit.xmin_ == xmin
    assert fit.n_tail_ == n_tail
    assert fit.alpha_ == pytest.approx(a, rel=1e-12)
    assert fit.ks_distance_ == pytest.approx(ks, rel=1e-12, abs=1e-15)
    assert fit.alpha_err_ == pytest.approx((a - 1) / math.sqrt(n_tail), rel=1e-12)
    assert fit.xmax_ == np.max(x)


@pytest.mark.parametrize("stride", [1, 3, 16, 1000])
def test_power_law_fit_equals_clauset_for_every_bound_stride(stride):
    """The branch-and-bound search returns Clauset's x_min whatever the bound stride."""
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.uniform(0.2, 1.0, 150), (1 - rng.random(150)) ** (-1 / 1.7)])
    rng.shuffle(x)                                          # input order must not matter
    _check_fit(EigenvaluePowerLawFit(lower_bound_stride=stride).fit(x), x)


def test_power_law_fit_many_blocks_and_chunks():
    """2500 values at stride 1: the lower bounds are computed in two row blocks (4e6 // 2500
    rows each) and the best x_min sits in the last few hundred values (a pure tail on top
    of a non-power-law body), so a block that is skipped or shifted loses it."""
    rng = np.random.default_rng(11)
    body = rng.uniform(1.0, 2.0, 2300)
    tail = 2.5 * (1 - rng.random(200)) ** (-1 / 2.0)
    x = np.concatenate([body, tail])
    fit = EigenvaluePowerLawFit(lower_bound_stride=1).fit(x)
    _check_fit(fit, x)
    assert fit.xmin_ > 2.0                                  # x_min found inside the last block
    # With stride 1 every lower bound is the exact KS distance, so the first candidate in
    # bound order is the answer.
    _check_fit(EigenvaluePowerLawFit(lower_bound_stride=7).fit(x), x)


def test_power_law_fit_evaluates_every_candidate_it_cannot_rule_out():
    """n_exact_ counts the full KS evaluations: at least every candidate whose lower bound
    is below the best KS (those cannot be skipped), at most all candidates."""
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(0.5, 1.0, 200), (1 - rng.random(400)) ** (-1 / 1.5)])
    for stride in (16, 64):
        fit = EigenvaluePowerLawFit(lower_bound_stride=stride).fit(x)
        _check_fit(fit, x)
        bounds = _lower_bounds(x, stride)
        must = int(np.sum(bounds < fit.ks_distance_))
        assert must > 32                                     # more than one 32-row chunk is needed
        assert must <= fit.n_exact_ <= len(x) - 1
    small = np.array([0.3, 0.5, 0.9, 1.7, 2.0, 3.1, 4.4, 7.5, 9.0, 20.0])
    fit = EigenvaluePowerLawFit().fit(small)               # stride 16 > n: every bound is 0
    _check_fit(fit, small)
    assert fit.n_exact_ == len(small) - 1


def test_power_law_fit_with_32_candidates_stops_at_the_end_of_the_order():
    """33 values: one chunk holds all 32 candidates; the search must stop there."""
    rng = np.random.default_rng(13)
    x = (1 - rng.random(33)) ** (-1 / 1.2)
    fit = EigenvaluePowerLawFit().fit(x)
    _check_fit(fit, x)
    assert fit.n_exact_ == 32


def test_power_law_fit_can_pick_the_second_largest_value():
    """x = (1, 50, 51): from x_min = 1 the KS is ≥ |1 − 50^(1−α) − 1/3| ≈ 0.44; from
    x_min = 50 (tail of two) it is 1 − e^{−2} − 1/2 ≈ 0.365, so x_min = 50 wins."""
    x = np.array([51.0, 1.0, 50.0])
    fit = EigenvaluePowerLawFit().fit(x)
    a = 1 + 2 / math.log(51 / 50)
    assert (fit.xmin_, fit.n_tail_) == (50.0, 2)
    assert fit.alpha_ == pytest.approx(a, rel=1e-12)
    assert fit.ks_distance_ == pytest.approx(abs(1 - (51 / 50) ** (1 - a) - 0.5), rel=1e-12)
    assert fit.ks_distance_ == pytest.approx(0.5 - math.exp(-2), rel=1e-9)
    assert fit.xmax_ == 51.0
    _check_fit(fit, x)


def test_power_law_fit_picks_the_smallest_value_when_it_is_best():
    """Exact Pareto quantiles x_j = (1 − j/N)^(−1/(α−1)): every tail is again a set of Pareto
    quantiles (of N − i points), whose KS distance grows as the tail shrinks, so the smallest
    value is the best x_min — here with 59 candidates, more than one 32-row chunk."""
    N = 60
    x = (1 - np.arange(N) / N) ** (-1 / 1.5)
    ks, a, xmin, n_tail, all_ks = _clauset(x)
    assert xmin == 1.0 and n_tail == N and all_ks[0] < min(all_ks[1:])
    fit = EigenvaluePowerLawFit().fit(x[::-1])
    _check_fit(fit, x)


def test_power_law_fit_steep_tail_with_small_log_sums():
    """Steep tails have Σ ln(x / x_min) < 1 (α > 1 + n): those candidates are valid too."""
    rng = np.random.default_rng(14)
    x = (1 - rng.random(30)) ** (-1 / 60.0)             # density exponent 61
    _, a, xmin, n_tail, _ = _clauset(x)
    assert np.sum(np.log(x[x >= xmin] / xmin)) < 1
    _check_fit(EigenvaluePowerLawFit().fit(x), x)


def test_power_law_fit_skips_tails_of_equal_values():
    """A tail made of equal values has Σ ln(x/x_min) = 0: no MLE, not a candidate."""
    x = np.array([1.0, 1.3, 2.0, 2.2, 3.5, 7.0, 7.0, 7.0])
    _, _, _, _, all_ks = _clauset(x)
    assert all_ks[-2:] == [math.inf, math.inf]
    _check_fit(EigenvaluePowerLawFit().fit(x), x)


def test_power_law_fit_rejects_eigenvalues_that_are_all_equal():
    """Every tail of equal values has Σ ln(x/x_min) = 0: no candidate, a clear error (was inf silently)."""
    with pytest.raises(InvalidInputError, match="equal"):
        EigenvaluePowerLawFit().fit([2.0, 2.0, 2.0, 2.0, 2.0])


def test_power_law_fit_drops_values_at_or_below_min_eigenvalue():
    x = np.array([1e-5, 1e-5, 0.0, 0.5, 0.8, 1.9, 2.5, 7.0, 30.0])
    fit = EigenvaluePowerLawFit().fit(x)
    _check_fit(fit, x[3:])
    fit = EigenvaluePowerLawFit(min_eigenvalue=0.8).fit(x)
    _check_fit(fit, x[5:])
    three = EigenvaluePowerLawFit().fit([2.0, 3.0, 9.0])  # exactly three values are enough
    _check_fit(three, np.array([2.0, 3.0, 9.0]))


def test_power_law_fit_rejections():
    with _raises("eigenvalues contain NaN or inf"):
        EigenvaluePowerLawFit().fit([1.0, np.inf, 2.0, 3.0])
    with _raises("lower_bound_stride must be >= 1, got 0"):
        EigenvaluePowerLawFit(lower_bound_stride=0).fit([1.0, 2.0, 3.0, 4.0])
    with _raises("need at least 3 eigenvalues above 1e-05, got 2"):
        EigenvaluePowerLawFit().fit([1e-5, 1.0, 2.0, 0.0])
    with _raises("need at least 3 eigenvalues above 1.5, got 2"):
        EigenvaluePowerLawFit(min_eigenvalue=1.5).fit([1.0, 1.5, 2.0, 3.0])


# --------------------------------------------------------------------------- MP fit

SHAPE = (300, 100)


def _bulk(shape=SHAPE, sigma=1.0, size=None, seed=20):
    """Values spread inside the MP band (away from its edges)."""
    lo, hi = marchenko_pastur_edges(shape, sigma)
    m = min(shape) if size is None else size
    return np.sort(np.random.default_rng(seed).uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), m))


def _cuts(shape, sigma, quantile=0.99, factor=1.0):
    """MP band σ(√n ∓ √m) widened by quantile × factor × Tracy–Widom scale (σ/2)(1/√n ± 1/√m)^{1/3}."""
    n, m = max(shape), min(shape)
    lo, hi = sigma * (math.sqrt(n) - math.sqrt(m)), sigma * (math.sqrt(n) + math.sqrt(m))
    k = TRACY_WIDOM_1_QUANTILES[quantile] * factor
    tw_lo = 0.5 * sigma * (1 / math.sqrt(m) - 1 / math.sqrt(n)) ** (1 / 3) if n > m else 0.0
    tw_hi = 0.5 * sigma * (1 / math.sqrt(n) + 1 / math.sqrt(m)) ** (1 / 3)
    return lo, hi, lo - k * tw_lo, hi + k * tw_hi


def _spacing_by_hand(nu, shape, sigma, trim=0.05):
    """⟨r⟩ of the levels unfolded by m·F_MP (quadrature), trimming ⌊trim·N⌋ at each end."""
    n, m = max(shape), min(shape)
    xi = np.array([m * _mp_sv_cdf(v, n, m, sigma) for v in np.sort(nu)])
    k = int(trim * len(xi))
    xi = xi[k:len(xi) - k]
    s = np.diff(xi)
    r = [min(a, b) / max(a, b) for a, b in zip(s[:-1], s[1:]) if max(a, b) > 0]
    return (float(np.mean(r)) if r else math.nan), len(r)


def test_mp_fit_values_exactly_at_the_cuts_are_bulk_not_outliers():
    """Outliers lie *beyond* the edge by *more than* the margin; values exactly at a cut or
    at an edge are inside. Every value is counted once: n_below + n_above + n_bulk = m."""
    base = MarchenkoPasturFit().fit(_bulk(), SHAPE, sigma=1.0)
    lower_cut = base.lower_edge_ - base.lower_margin_
    upper_cut = base.upper_edge_ + base.upper_margin_
    nu = _bulk()
    nu[:4] = [lower_cut, upper_cut, base.lower_edge_, base.upper_edge_]
    fit = MarchenkoPasturFit().fit(nu, SHAPE, sigma=1.0)
    assert (fit.n_below_, fit.n_above_, fit.n_below_band_, fit.n_above_band_) == (0, 0, 1, 1)
    assert fit.n_bulk_ == 100
    nu[:4] = [np.nextafter(lower_cut, 0), np.nextafter(upper_cut, np.inf), base.lower_edge_, base.upper_edge_]
    fit = MarchenkoPasturFit().fit(nu, SHAPE, sigma=1.0)
    assert (fit.n_below_, fit.n_above_, fit.n_below_band_, fit.n_above_band_, fit.n_bulk_) == (1, 1, 1, 1, 98)


def test_mp_fit_estimates_sigma_and_scales_band_margins_and_ks_with_it():
    """Without ``sigma`` the fit uses median(ν)/√(n μ_q); band, margins, KS follow that σ."""
    n, m = SHAPE
    q = m / n
    a, b = (1 - math.sqrt(q)) ** 2, (1 + math.sqrt(q)) ** 2
    from scipy import integrate, optimize
    mu = optimize.brentq(lambda t: integrate.quad(_mp_eig_density, a, t, args=(q,))[0] - 0.5, a, b)
    nu = 3.0 * _bulk()
    fit = MarchenkoPasturFit(tw_quantile=0.95).fit(nu, SHAPE)
    sigma = float(np.median(nu) / math.sqrt(n * mu))
    assert fit.sigma_ == pytest.approx(sigma, rel=1e-6)
    assert fit.shape_ == (300, 100)
    lo, hi, lcut, ucut = _cuts(SHAPE, sigma, 0.95)
    assert (fit.lower_edge_, fit.upper_edge_) == pytest.approx((lo, hi), rel=1e-6)
    assert (fit.lower_margin_, fit.upper_margin_) == pytest.approx((lo - lcut, ucut - hi), rel=1e-6)
    ref = stats.kstest(nu, lambda v: np.array([_mp_sv_cdf(t, n, m, sigma) for t in np.atleast_1d(v)]))
    assert fit.ks_distance_ == pytest.approx(ref.statistic, abs=1e-5)
    r, k = _spacing_by_hand(nu, SHAPE, sigma)
    assert fit.spacing_.n_ratios == k and fit.spacing_.mean_ratio == pytest.approx(r, rel=1e-4)
    assert MarchenkoPasturFit().fit(nu, (100, 300)).shape_ == (300, 100)


def test_mp_fit_spacing_is_computed_on_the_bulk_with_the_fitted_sigma():
    nu = np.concatenate([2.0 * _bulk(size=97), [0.1, 2.0 * 40, 2.0 * 45]])
    fit = MarchenkoPasturFit().fit(nu, SHAPE, sigma=2.0)
    assert (fit.n_below_, fit.n_above_) == (1, 2)
    r, k = _spacing_by_hand(2.0 * _bulk(size=97), SHAPE, 2.0)
    assert fit.spacing_.n_ratios == k
    assert fit.spacing_.mean_ratio == pytest.approx(r, rel=1e-4)


@pytest.mark.parametrize("shape, counted", [((100, 90), True), ((100, 95), False), ((100, 100), False)])
def test_mp_fit_lower_outliers_only_below_q_09(shape, counted):
    """q = m/n ≤ 0.9: soft lower edge, values far below it are outliers; q > 0.9: hard edge,
    nothing counts as a lower outlier (the bare-band count is still reported for n > m)."""
    n, m = shape
    nu = _bulk(shape, size=m - 1)
    nu = np.concatenate([nu, [0.0]])
    lo, hi, lcut, _ = _cuts(shape, 1.0)
    fit = MarchenkoPasturFit().fit(nu, shape, sigma=1.0)
    assert fit.lower_margin_ == pytest.approx(lo - lcut, abs=1e-12)
    if counted:
        assert lcut > 0 and fit.n_below_ == 1 and fit.n_bulk_ == m - 1
    else:
        assert fit.n_below_ == 0 and fit.n_bulk_ == m
    assert fit.n_below_band_ == (1 if n > m else 0)


def test_mp_fit_ks_needs_two_bulk_values():
    """Two bulk values: KS against MP as usual; one: no test possible → KS 1, p-value 0."""
    shape = (300, 3)
    lo, hi = marchenko_pastur_edges(shape)
    two = np.array([lo + 0.3 * (hi - lo), lo + 0.6 * (hi - lo), 10 * hi])
    fit = MarchenkoPasturFit().fit(two, shape, sigma=1.0)
    assert fit.n_bulk_ == 2 and fit.n_above_ == 1
    ref = stats.kstest(two[:2], lambda v: np.array([_mp_sv_cdf(t, 300, 3, 1.0) for t in np.atleast_1d(v)]))
    assert (fit.ks_distance_, fit.ks_pvalue_) == pytest.approx((ref.statistic, ref.pvalue), abs=1e-5)
    one = np.array([lo + 0.3 * (hi - lo), 10 * hi, 20 * hi])
    fit = MarchenkoPasturFit().fit(one, shape, sigma=1.0)
    assert fit.n_bulk_ == 1
    assert (fit.ks_distance_, fit.ks_pvalue_) == (1.0, 0.0)
    assert fit.spacing_.n_ratios == 0 and math.isnan(fit.spacing_.mean_ratio)
    assert not fit.consistent_


def test_mp_fit_consistency_truth_table():
    """consistent_ ⇔ no outlier below, none above, and KS p-value strictly above the threshold."""
    W = np.random.default_rng(21).normal(size=(600, 200))
    nu = np.linalg.svd(W, compute_uv=False)
    clean = MarchenkoPasturFit().fit(nu, W.shape, sigma=1.0)
    p = clean.ks_pvalue_
    assert clean.consistent_ and p > 0.01
    assert not MarchenkoPasturFit(ks_threshold=p).fit(nu, W.shape, sigma=1.0).consistent_
    assert MarchenkoPasturFit(ks_threshold=np.nextafter(p, 0)).fit(nu, W.shape, sigma=1.0).consistent_
    low = nu.copy()
    low[-1] = 0.5 * clean.lower_edge_
    f = MarchenkoPasturFit().fit(low, W.shape, sigma=1.0)
    assert (f.n_below_, f.n_above_) == (1, 0) and f.ks_pvalue_ > 0.01 and not f.consistent_
    high = nu.copy()
    high[0] = 2 * clean.upper_edge_
    f = MarchenkoPasturFit().fit(high, W.shape, sigma=1.0)
    assert (f.n_below_, f.n_above_) == (0, 1) and f.ks_pvalue_ > 0.01 and not f.consistent_


def test_mp_fit_rejections():
    nu = _bulk()
    with _raises("tw_quantile must be one of [0.9, 0.95, 0.99]"):
        MarchenkoPasturFit(tw_quantile=0.5).fit(nu, SHAPE)
    with _raises("noise scale is zero: the matrix is (mostly) zero or rank-deficient"):
        MarchenkoPasturFit().fit(nu, SHAPE, sigma=0.0)
    with _raises("noise scale is zero: the matrix is (mostly) zero or rank-deficient"):
        MarchenkoPasturFit().fit(nu, SHAPE, sigma=-1.0)
    with _raises("noise scale is zero: the matrix is (mostly) zero or rank-deficient"):
        MarchenkoPasturFit().fit(np.zeros(100), SHAPE)


# --------------------------------------------------------------------------- validation

def test_singular_value_and_shape_rejections():
    with _raises("a (300, 100) matrix has 100 singular values, got 99"):
        noise_scale(np.ones(99), SHAPE)
    with _raises("singular values contain NaN or inf; check the weights for NaNs"):
        noise_scale(np.r_[np.ones(99), np.nan], SHAPE)
    with _raises("singular values must be non-negative"):
        noise_scale(np.r_[np.ones(99), -1e-9], SHAPE)
    assert noise_scale(np.r_[np.ones(99), 0.0], SHAPE) > 0           # zero is a valid singular value
    with _raises("shape must be a pair (n_rows, n_cols), got (3, 4, 5)"):
        marchenko_pastur_edges((3, 4, 5))
    with _raises("shape must be a pair (n_rows, n_cols), got 'ab'"):
        marchenko_pastur_edges("ab")
    for bad in [(0, 5), (5, 0), (0, 0), (-1, 5)]:
        with _raises(f"shape must have positive sides, got {bad!r}"):
            marchenko_pastur_edges(bad)
    # one row or one column is a valid matrix: n = 5, m = 1
    assert marchenko_pastur_edges((1, 5)) == pytest.approx((math.sqrt(5) - 1, math.sqrt(5) + 1))
    assert marchenko_pastur_edges((5, 1)) == pytest.approx((math.sqrt(5) - 1, math.sqrt(5) + 1))


def test_defaults_are_sigma_one():
    """σ = 1 by default in every MP / Tracy–Widom / BBP helper (the formulas at σ = 1)."""
    n, m = SHAPE
    lo, hi = math.sqrt(n) - math.sqrt(m), math.sqrt(n) + math.sqrt(m)
    assert marchenko_pastur_edges(SHAPE) == pytest.approx((lo, hi))
    assert tracy_widom_margins(SHAPE) == pytest.approx(
        (0.5 * (1 / math.sqrt(m) - 1 / math.sqrt(n)) ** (1 / 3), 0.5 * (1 / math.sqrt(n) + 1 / math.sqrt(m)) ** (1 / 3)))
    assert bbp_threshold(SHAPE) == pytest.approx((n * m) ** 0.25)
    nu = np.array([12.0, 17.0, 25.0])
    assert marchenko_pastur_cdf(nu, SHAPE) == pytest.approx([_mp_sv_cdf(v, n, m, 1.0) for v in nu], abs=2e-6)
    want = [_mp_eig_density(v ** 2 / n, m / n) * 2 * v / n for v in nu]
    np.testing.assert_allclose(marchenko_pastur_pdf(nu, SHAPE), want, rtol=1e-10)


def test_mp_pdf_and_cdf_small_sigma_integers_and_outside_the_band():
    """The density at values below 1 (small σ), for integer input, and 0 / 1 off the band."""
    n, m = SHAPE
    sigma = 0.02
    lo, hi = marchenko_pastur_edges(SHAPE, sigma)
    assert hi < 1
    nu = np.linspace(lo, hi, 6)[1:-1]
    want = [_mp_eig_density(v ** 2 / (sigma ** 2 * n), m / n) * 2 * v / (sigma ** 2 * n) for v in nu]
    np.testing.assert_allclose(marchenko_pastur_pdf(nu, SHAPE, sigma), want, rtol=1e-10)
    ints = [9, 12, 20, 26]                                   # band at σ = 1 is [7.32, 27.32]
    want = [_mp_eig_density(v ** 2 / n, m / n) * 2 * v / n for v in ints]
    np.testing.assert_allclose(marchenko_pastur_pdf(ints, SHAPE), want, rtol=1e-10)
    assert marchenko_pastur_cdf(np.array([0.0, 0.5 * lo, 2 * hi]), SHAPE, sigma).tolist() == [0.0, 0.0, 1.0]


# --------------------------------------------------------------------------- spacing ratio

def test_spacing_ratio_hand_checkable_levels():
    """Levels whose unfolded positions are known: ξ = m F(ν) with F the quadrature CDF."""
    shape, sigma = (300, 100), 2.0
    nu = _bulk(shape, sigma, size=40, seed=22)[::-1]                  # descending input
    for trim, k in [(0.0, 0), (0.05, 2), (0.074, 2), (0.1, 4)]:
        r, count = _spacing_by_hand(nu, shape, sigma, trim)
        res = spacing_ratio(nu, shape, sigma, trim=trim)
        assert count == 40 - 2 * k - 2
        assert res.n_ratios == count and res.mean_ratio == pytest.approx(r, rel=1e-4)


def test_spacing_ratio_of_three_levels_and_fewer():
    """Three levels: two spacings, one ratio min/max; two levels: no ratio (nan, 0)."""
    shape = (300, 100)
    n, m = shape
    nu = np.array([12.0, 14.0, 19.0])
    xi = [m * _mp_sv_cdf(v, n, m, 1.0) for v in nu]
    s1, s2 = xi[1] - xi[0], xi[2] - xi[1]
    res = spacing_ratio(nu, shape, 1.0, trim=0.0)
    assert res.n_ratios == 1
    assert res.mean_ratio == pytest.approx(min(s1, s2) / max(s1, s2), rel=1e-4)
    two = spacing_ratio(nu[:2], shape, 1.0, trim=0.0)
    assert two.n_ratios == 0 and isinstance(two.mean_ratio, float) and math.isnan(two.mean_ratio)


def test_spacing_ratio_drops_undefined_ratios_of_equal_levels():
    """r = min/max is 0/0 for two zero spacings in a row (three equal levels): not counted.
    A single zero spacing next to a positive one gives r = 0, which is counted."""
    shape, n, m = (300, 100), 300, 100
    nu = np.array([12.0, 15.0, 15.0, 15.0, 21.0])
    xi = [m * _mp_sv_cdf(v, n, m, 1.0) for v in nu]
    s = np.diff(xi)                                           # (+, 0, 0, +)
    res = spacing_ratio(nu, shape, 1.0, trim=0.0)
    assert res.n_ratios == 2 and res.mean_ratio == 0.0
    assert s[0] > 0 and s[3] > 0
    same = spacing_ratio(np.full(6, 15.0), shape, 1.0, trim=0.0)
    assert same.n_ratios == 0 and math.isnan(same.mean_ratio)


def test_spacing_ratio_of_wishart_bulk_is_goe_within_its_standard_error():
    """Real Wishart bulk levels have GOE local statistics: ⟨r⟩ = 0.5307 (Atas et al. 2013).

    12 independent 600×300 Gaussian matrices, each giving ⟨r⟩ over its 268 trimmed bulk
    ratios; the standard error is that of the mean of the 12 replicate means (0.0046 for
    this seed, whose mean is 0.5427: 2.6 standard errors above 0.5307). Tolerance: 4
    standard errors (a correct ⟨r⟩ fails about once in 16 000 seeds). The same ratios
    without unfolding agree to 1e-4, so the unfolding adds nothing here. Poisson levels
    (0.386) are more than 30 standard errors away.
    """
    rng = np.random.default_rng(23)
    shape = (600, 300)
    means = [spacing_ratio(np.linalg.svd(rng.normal(size=shape), compute_uv=False), shape, 1.0).mean_ratio
             for _ in range(12)]
    mean, se = float(np.mean(means)), float(np.std(means, ddof=1) / math.sqrt(len(means)))
    assert se < 0.006
    assert abs(mean - GOE_SPACING_RATIO) < 4 * se
    assert mean - POISSON_SPACING_RATIO > 20 * se


# --------------------------------------------------------------------------- vectors

def test_singular_vector_statistics_on_hand_made_vectors():
    """IPR Σ v⁴ and max |v| of normalised rows, by hand: e_1 → (1, 1); (1,1,0,0)/√2 → (½, 1/√2);
    the flat vector (1,…,1)/√N → (1/N, 1/√N). Scale and sign do not matter."""
    V = np.array([[0.0, -3.0, 0.0, 0.0], [2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 2.0, -2.0, 4.0]])
    st = singular_vector_statistics(V)
    assert st.dimension == 4 and st.random_ipr == pytest.approx(3 / 6)
    np.testing.assert_allclose(st.ipr, [1.0, 0.5, 0.25, (1 + 16 + 16 + 256) / 25 ** 2], rtol=1e-12)
    np.testing.assert_allclose(st.max_entry, [1.0, 1 / math.sqrt(2), 0.5, 4 / 5], rtol=1e-12)
    for i, row in enumerate(V):
        ref = stats.kstest(4 * (row / np.linalg.norm(row)) ** 2, stats.chi2(1).cdf, method="exact")
        assert st.porter_thomas_ks[i] == pytest.approx(ref.statistic, rel=1e-9)
        assert st.porter_thomas_pvalue[i] == pytest.approx(ref.pvalue, rel=1e-6)
    ints = singular_vector_statistics([[0, 2, 0], [1, 1, 1]])        # integers are fine
    np.testing.assert_allclose(ints.ipr, [1.0, 1 / 3], rtol=1e-12)


def test_singular_vector_statistics_rejections():
    with _raises("vectors must be a 2-D array (n_vectors, dimension), got shape (4,)"):
        singular_vector_statistics(np.ones(4))
    with _raises("vectors contain NaN or inf"):
        singular_vector_statistics([[1.0, np.inf], [1.0, 2.0]])
    with _raises("a vector is zero; singular vectors have unit length"):
        singular_vector_statistics([[1.0, 2.0], [0.0, 0.0]])


# --------------------------------------------------------------------------- overlap band

def test_random_overlap_band_defaults_replay_the_rng():
    """Default 2000 samples and ±3 std: the same Gaussian draws, max |g_j| / ‖g‖, by hand."""
    g = np.random.default_rng(24).standard_normal((2000, 7))
    o = np.array([max(abs(row)) / math.sqrt(sum(row ** 2)) for row in g])
    mu, lo, hi = random_overlap_band(7, np.random.default_rng(24))
    assert (mu, lo, hi) == pytest.approx((o.mean(), o.mean() - 3 * o.std(), o.mean() + 3 * o.std()), rel=1e-12)
    assert random_overlap_band(1, np.random.default_rng(0), n_samples=10) == pytest.approx((1.0, 1.0, 1.0))
    with _raises("dimension must be positive"):
        random_overlap_band(0, np.random.default_rng(0))
