"""The causal inner product and the cosine tables of real_models/linear_reps.py.

Expected values follow Park, Choe & Veitch (2024): Cov(γ) = (γ − γ̄)ᵀ(γ − γ̄)/V (eq. 3.3,
population covariance of the unembedding rows), ⟨x, y⟩_C = xᵀ Cov⁻¹ y, whitening by
Cov^{−1/2} and the steering vector λ̄_W = Cov⁻¹ γ̄_W / ‖γ̄_W‖_C (eq. 4.1), computed here with
``np.cov`` and ``scipy.linalg`` (matrix square root, solve), plus the ridge the module
documents (rel_ridge × largest eigenvalue, added to every eigenvalue before inverting).
The cosine tables are written as loops over pairs.
"""

import re

import numpy as np
import pytest
import scipy.linalg

pytest.importorskip("torch")       # linear_reps lives in real_models/ (imports torch)

from logitrank.errors import InvalidInputError  # noqa: E402
from logitrank.real_models.linear_reps import ConceptPairs, causal_whitening, concept_cosine_tables  # noqa: E402


def _gamma(seed=0, V=300, d=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((V, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d) * 3


@pytest.mark.parametrize("rel_ridge", [1e-8, 0.05])
def test_causal_whitening_by_the_definition(rel_ridge):
    gamma = _gamma()
    geo = causal_whitening(gamma, rel_ridge=rel_ridge)
    cov = np.cov(gamma.T, bias=True)                             # (γ − γ̄)ᵀ(γ − γ̄) / V
    np.testing.assert_allclose(geo.mean, gamma.sum(0) / len(gamma), rtol=1e-12)
    np.testing.assert_allclose(geo.cov, cov, rtol=1e-10, atol=1e-12)
    w = np.linalg.eigvalsh(cov)
    np.testing.assert_allclose(geo.eigenvalues, w, rtol=1e-10)          # ascending
    assert geo.ridge == pytest.approx(rel_ridge * w.max(), rel=1e-10)
    reg = cov + geo.ridge * np.eye(6)
    inv_sqrt = np.real(scipy.linalg.inv(scipy.linalg.sqrtm(reg)))
    np.testing.assert_allclose(geo.inv_sqrt, inv_sqrt, rtol=1e-8, atol=1e-12)
    x = np.arange(12).reshape(2, 6)                                        # integer rows are fine
    np.testing.assert_allclose(geo.whiten(x), x @ inv_sqrt, rtol=1e-8)
    d = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
    lam = geo.steering_vector(d)
    want = scipy.linalg.solve(reg, d) / np.sqrt(d @ scipy.linalg.solve(reg, d))
    np.testing.assert_allclose(lam, want, rtol=1e-8)
    assert lam @ reg @ lam == pytest.approx(1.0)                          # unit causal norm


def test_causal_whitening_symmetrises_and_clips_negative_eigenvalues():
    """A rank-deficient γ (d > rank) has eigenvalues ~ −1e−16; they are clipped at 0 before
    the ridge, so Cov^{−1/2} stays real and finite: the null direction gets 1/√ridge."""
    rng = np.random.default_rng(1)
    gamma = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 5))    # rank 3 in 5 dims
    geo = causal_whitening(gamma, rel_ridge=1e-6)
    assert np.all(np.isfinite(geo.inv_sqrt))
    np.testing.assert_allclose(geo.cov, geo.cov.T, rtol=0, atol=0)
    w, U = np.linalg.eigh(geo.cov)
    want = U @ np.diag(1 / np.sqrt(np.maximum(w, 0) + geo.ridge)) @ U.T
    np.testing.assert_allclose(geo.inv_sqrt, want, rtol=1e-6, atol=1e-9)
    null = U[:, 0]
    assert np.linalg.norm(null @ geo.inv_sqrt) == pytest.approx(1 / np.sqrt(geo.ridge), rel=1e-6)


@pytest.mark.parametrize("shape", [(6, 6), (4, 6), (24,)])
def test_causal_whitening_needs_more_tokens_than_dimensions(shape):
    bad = np.ones(shape)
    msg = f"gamma must be (vocab, hidden) with vocab > hidden, got {bad.shape}"
    with pytest.raises(InvalidInputError, match="^" + re.escape(msg) + "$"):
        causal_whitening(bad)


def _cos(a, b):
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_concept_cosine_tables_by_loops_one_and_two_concepts():
    """pairwise[a, a]: mean cos over distinct pairs of differences; [a, b]: over all cross
    pairs; directions: cos of the mean differences; one concept: across is nan."""
    X = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [2.0, 1.5, 0.0], [1.0, 1.0, 1.0],
                  [1.0, 2.0, 1.0], [3.0, 0.0, 0.0], [3.0, 0.0, 2.0]])
    tp = {"x": np.array([[0, 1], [2, 3]]), "y": np.array([[4, 5], [6, 7], [1, 0]])}
    D = {k: [X[t] - X[b] for b, t in v] for k, v in tp.items()}
    tab = concept_cosine_tables(X, ConceptPairs(token_pairs=tp, words={}, skipped={}))
    assert tab.concepts == ("x", "y")
    within = {k: np.mean([_cos(D[k][i], D[k][j]) for i in range(len(D[k])) for j in range(len(D[k])) if i != j])
              for k in D}
    cross = np.mean([_cos(u, v) for u in D["x"] for v in D["y"]])
    np.testing.assert_allclose(tab.pairwise, [[within["x"], cross], [cross, within["y"]]], rtol=1e-12)
    mx, my = np.mean(D["x"], axis=0), np.mean(D["y"], axis=0)
    np.testing.assert_allclose(tab.directions, [[1.0, _cos(mx, my)], [_cos(mx, my), 1.0]], rtol=1e-12)
    np.testing.assert_array_equal(tab.n_pairs, [2, 3])
    one = concept_cosine_tables(X.astype(int), ConceptPairs(token_pairs={"y": tp["y"]}, words={}, skipped={}))
    assert one.within == pytest.approx(within["y"]) and np.isnan(one.across) and np.isnan(one.across_abs)
    np.testing.assert_allclose(one.directions, [[1.0]], rtol=1e-12)
