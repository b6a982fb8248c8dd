"""Bootstrap intervals (theory/intervals.py), pinned against independent computations."""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError
from logitrank.theory.intervals import alpha_bootstrap, bootstrap_mean, percentile_interval


def test_percentile_interval_matches_numpy_quantiles():
    """With 1001 samples the 5 % and 95 % quantiles are exactly the 51st and 951st order statistics."""
    s = np.random.default_rng(1).normal(size=1001)
    iv = percentile_interval(0.0, s, level=0.9)
    assert iv.low == pytest.approx(np.sort(s)[50], abs=1e-12)
    assert iv.high == pytest.approx(np.sort(s)[950], abs=1e-12)


def test_bootstrap_mean_of_constant_is_degenerate():
    iv = bootstrap_mean([3.0] * 5, np.random.default_rng(0), n_boot=100)
    assert (iv.estimate, iv.low, iv.high) == (3.0, 3.0, 3.0)


def test_bootstrap_mean_interval_has_about_nominal_coverage():
    """Theorem (bootstrap consistency for the mean, finite variance): the 90 % percentile interval
    of n = 50 i.i.d. normal values covers the true mean with probability → 0.9. Over 300
    independent data sets the count must lie within 3.5 binomial standard deviations of 270
    (a broken interval — a shifted or far too narrow one — lands far outside)."""
    rng = np.random.default_rng(7)
    hits = sum(bootstrap_mean(rng.normal(2.0, 1.0, 50), rng, n_boot=400, level=0.9).contains(2.0)
               for _ in range(300))
    sd = np.sqrt(300 * 0.9 * 0.1)
    assert abs(hits - 270) <= 3.5 * sd + 6      # +6: the percentile interval under-covers by ~1–2 % at n = 50


class _FixedWeights:
    """A stand-in generator whose Dirichlet draws are given weights (to pin the reweighting)."""

    def __init__(self, draws):
        self.draws = list(draws)

    def dirichlet(self, alpha):
        w = np.asarray(self.draws.pop(0), dtype=float)
        assert w.shape == np.shape(alpha)
        return w / w.sum()


def _alpha_wls(s, lo, hi):
    """Independent α: weighted (1/i) least squares of log σ_i on log i over 1-based indices lo..hi."""
    i = np.arange(lo, hi + 1, dtype=float)
    y = np.log(np.sort(s)[::-1][lo - 1:hi])
    W = np.diag(1 / i)
    X = np.stack([np.ones_like(i), np.log(i)], 1)
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    return -beta[1]


def test_alpha_bootstrap_replicate_is_the_weighted_second_moment_spectrum():
    """One replicate's α is the power-law fit to sqrt(eig(Lᵀ diag(w) L)) with columns weighted by
    v_f (per future block), w and v scaled to mean 1 — written here with eigvalsh, not SVD."""
    rng = np.random.default_rng(3)
    nH, nF, k = 40, 12, 5
    L = rng.normal(size=(nH, nF * k)) * np.arange(1, nF * k + 1) ** -0.5
    w = rng.uniform(0.2, 3.0, nH)
    v = rng.uniform(0.2, 3.0, nF)
    fake = _FixedWeights([w, v, np.ones(nH), np.ones(nF)])
    iv = alpha_bootstrap(L, k, fake, n_boot=2, fit_range=(2, 20))
    wn, vn = w / w.mean(), np.repeat(v / v.mean(), k)
    M = (np.sqrt(vn)[:, None] * L.T) @ np.diag(wn) @ (L * np.sqrt(vn)[None, :])
    s = np.sqrt(np.clip(np.linalg.eigvalsh(M), 0, None))
    assert iv.samples[0] == pytest.approx(_alpha_wls(s, 2, 20), abs=1e-9)
    assert iv.samples[1] == pytest.approx(_alpha_wls(np.linalg.svd(L, compute_uv=False), 2, 20), abs=1e-9)
    assert iv.estimate == pytest.approx(iv.samples[1], abs=1e-12)


def test_alpha_bootstrap_separates_two_exponents():
    """Two matrices with exact power-law spectra α = 0.5 and α = 0.8 on random singular vectors get
    disjoint intervals, each containing its own α."""
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(150, 150)))
    V, _ = np.linalg.qr(rng.normal(size=(300, 150)))
    ivs = [alpha_bootstrap((U * np.arange(1, 151) ** -a) @ V.T, 2, rng, n_boot=60) for a in (0.5, 0.8)]
    assert ivs[0].contains(0.5) and ivs[1].contains(0.8)
    assert ivs[0].high < ivs[1].low
    for iv in ivs:      # centred: the bounds are the replicate percentiles moved by −shift
        q = np.quantile(iv.samples, [0.025, 0.975])
        assert iv.shift == pytest.approx(iv.samples.mean() - iv.estimate, abs=1e-12)
        assert (iv.low, iv.high) == pytest.approx((q[0] - iv.shift, q[1] - iv.shift), abs=1e-12)


@pytest.mark.parametrize("bad", [dict(values=np.ones((4, 7)), k=2), dict(values=np.ones(8), k=1)])
def test_alpha_bootstrap_rejects_bad_shapes(bad):
    with pytest.raises(InvalidInputError):
        alpha_bootstrap(bad["values"], bad["k"], np.random.default_rng(0))


def test_bootstrap_mean_rejects_too_few_values():
    with pytest.raises(InvalidInputError):
        bootstrap_mean([1.0], np.random.default_rng(0))


@pytest.mark.parametrize("shape", [(30, 90), (90, 30)])
def test_weighted_singular_values_equal_the_svd_of_the_weighted_matrix(shape):
    """The Gram shortcut (either side) gives the singular values of diag(√w) L diag(√v) (NumPy SVD)."""
    from logitrank.theory.intervals import _weighted_singular_values
    rng = np.random.default_rng(5)
    L = rng.normal(size=shape) * np.arange(1, shape[1] + 1) ** -0.6
    w, v = rng.uniform(0.1, 3, shape[0]), rng.uniform(0.1, 3, shape[1])
    ref = np.linalg.svd(np.sqrt(w)[:, None] * L * np.sqrt(v)[None, :], compute_uv=False)
    got = _weighted_singular_values(L, w, v)[:min(shape)]
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * ref[0])


def test_kl_slope_bootstrap_and_log_log_slope_reject_bad_input():
    from logitrank.theory.intervals import kl_slope_bootstrap
    from logitrank.theory.spectrum import log_log_slope
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="per_history"):
        kl_slope_bootstrap([1, 2, 4], np.ones((10, 2)), rng)          # one column per rank
    with pytest.raises(InvalidInputError, match="n_boot"):
        kl_slope_bootstrap([1, 2], np.ones((10, 2)), rng, n_boot=1)
    with pytest.raises(InvalidInputError, match="level"):
        kl_slope_bootstrap([1, 2], np.ones((10, 2)), rng, level=1.5)
    with pytest.raises(InvalidInputError, match="2 positive points"):
        log_log_slope([0, 1], [1.0, 1.0])
