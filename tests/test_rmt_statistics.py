"""Spacing ratio, singular-vector statistics, power-law alpha (theory/rmt.py)."""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError
from logitrank.theory.rmt import (GOE_SPACING_RATIO, POISSON_SPACING_RATIO, EigenvaluePowerLawFit,
                                  noise_scale, random_overlap_band, singular_vector_statistics,
                                  spacing_ratio)


def test_spacing_ratio_of_random_matrix_is_goe():
    """Bulk eigenvalues of a real Wishart matrix have GOE local statistics: <r> ~ 0.5307."""
    rng = np.random.default_rng(0)
    rs = []
    for shape in [(1200, 600), (800, 800), (1500, 500)]:
        W = rng.normal(size=shape)
        s = np.linalg.svd(W, compute_uv=False)
        rs.append(spacing_ratio(s, shape, noise_scale(s, shape)).mean_ratio)
    assert np.mean(rs) == pytest.approx(GOE_SPACING_RATIO, abs=0.02)


def test_spacing_ratio_of_independent_levels_is_poisson():
    rng = np.random.default_rng(1)
    shape = (1200, 600)
    s = np.sort(np.sqrt(rng.uniform(0.3, 2.9, 600) * 1200))     # i.i.d. levels, no repulsion
    r = spacing_ratio(s, shape, 1.0).mean_ratio
    assert r == pytest.approx(POISSON_SPACING_RATIO, abs=0.03)


def test_random_singular_vectors_pass_porter_thomas():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(700, 400))
    _, _, Vt = np.linalg.svd(W, full_matrices=False)
    st = singular_vector_statistics(Vt)
    assert np.mean(st.porter_thomas_pvalue < 0.01) < 0.04
    assert np.mean(st.ipr) == pytest.approx(st.random_ipr, rel=0.05)


def test_localised_vector_is_flagged():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(1, 500)) * 0.01
    v[0, 7] = 1.0
    st = singular_vector_statistics(v)
    assert st.porter_thomas_pvalue[0] < 1e-6
    assert st.max_entry[0] > 0.9 and st.ipr[0] > 0.5


def test_random_overlap_band_values():
    mu, lo, hi = random_overlap_band(768, np.random.default_rng(0))
    assert mu == pytest.approx(0.121, abs=0.006)          # Monte Carlo value in the reference notes
    assert lo < mu < hi


def _alpha_by_loop(x):
    """Reference: the Clauset xmin scan written as a plain loop (as WeightWatcher does)."""
    x = np.sort(x)
    best = (np.inf, None, None)
    for i in range(x.size - 1):
        tail = x[i:]
        n = tail.size
        a = 1 + n / np.sum(np.log(tail / x[i]))
        d = np.max(np.abs(1 - (tail / x[i]) ** (1 - a) - np.arange(n) / n))
        if d < best[0]:
            best = (d, a, x[i])
    return best


def test_power_law_fit_matches_loop_and_recovers_exponent():
    rng = np.random.default_rng(4)
    x = (1 - rng.random(3000)) ** (-1 / 2.0) * 0.7     # Pareto tail, density exponent 3
    fit = EigenvaluePowerLawFit().fit(x)
    d, a, xmin = _alpha_by_loop(x)
    assert fit.alpha_ == pytest.approx(a, rel=1e-10)
    assert fit.xmin_ == xmin and fit.ks_distance_ == pytest.approx(d, rel=1e-10)
    assert fit.alpha_ == pytest.approx(3.0, abs=0.15)


def test_bad_input():
    with pytest.raises(InvalidInputError):
        singular_vector_statistics(np.ones(4))
    with pytest.raises(InvalidInputError):
        EigenvaluePowerLawFit().fit([1.0, np.nan, 2.0, 3.0])
    with pytest.raises(InvalidInputError):
        EigenvaluePowerLawFit().fit([1.0, 2.0])
