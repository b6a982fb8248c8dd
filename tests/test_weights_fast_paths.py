"""The fast weights-lens paths equal straightforward independent computations."""

import numpy as np
import pytest
import torch

from logitrank.real_models.weights import (
    WeightMatrix,
    _singular_values_cpu,
    _singular_values_of_stack,
    analyze_weight_matrices,
)
from logitrank.theory.rmt import EigenvaluePowerLawFit


def _ww_power_law(lam):
    """WeightWatcher 0.7.7 ``WWFit.fit_power_law_standard``: one pass per x_min candidate."""
    x = np.sort(lam[lam > 1e-5])
    logs = np.log(x)
    alphas, ds = np.zeros(x.size - 1), np.full(x.size - 1, np.inf)
    for i in range(x.size - 1):
        n = float(x.size - i)
        alphas[i] = 1 + n / (np.sum(logs[i:]) - n * logs[i])
        if alphas[i] > 1:
            ds[i] = np.max(np.abs(1 - (x[i:] / x[i]) ** (1 - alphas[i]) - np.arange(n) / n))
    b = int(np.argmin(ds))
    return alphas[b], x[b], ds[b]


@pytest.mark.parametrize("seed", range(6))
def test_power_law_branch_and_bound_equals_exhaustive_scan(seed):
    """Theorem: the bound-pruned scan returns the exhaustive scan's minimiser (skipped D >= bound > best)."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(20, 700))
    # heavy-tailed spectra: MP-like bulk plus a Pareto tail
    bulk = rng.standard_normal((size, 2 * size))
    lam = np.linalg.eigvalsh(bulk @ bulk.T / size)
    k = size // 5
    lam[-k:] *= (1 - rng.random(k)) ** (-1 / rng.uniform(0.5, 3))
    fit = EigenvaluePowerLawFit().fit(lam)
    alpha, xmin, d = _ww_power_law(lam)
    assert fit.xmin_ == xmin
    assert abs(fit.alpha_ - alpha) < 1e-10
    assert abs(fit.ks_distance_ - d) < 1e-12
    assert fit.n_exact_ <= lam.size


def _mats(rng):
    shapes = [(40, 24), (24, 40), (40, 24), (33, 33), (7, 50)]
    return [WeightMatrix(f"m{i}", "other", -1, torch.from_numpy(rng.standard_normal(s).astype(np.float32)), "m")
            for i, s in enumerate(shapes)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_parallel_cpu_spectra_equal_per_matrix_numpy(threads):
    rng = np.random.default_rng(1)
    mats = _mats(rng)
    got = _singular_values_cpu(mats, torch.float64, threads)
    for wm, nu in zip(mats, got):
        a = wm.weight.double().numpy()
        ref = np.sqrt(np.clip(np.linalg.eigvalsh(a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T), 0, None))[::-1]
        np.testing.assert_allclose(nu, ref, rtol=0, atol=1e-12 * ref[0])
        np.testing.assert_allclose(nu, np.linalg.svd(a, compute_uv=False), rtol=0, atol=1e-10 * ref[0])


def test_batched_torch_stack_equals_per_matrix_numpy():
    rng = np.random.default_rng(2)
    stack = torch.from_numpy(rng.standard_normal((4, 30, 12)))
    got = _singular_values_of_stack(stack, "gram").numpy()
    for a, nu in zip(stack.numpy(), got):
        ref = np.sqrt(np.clip(np.linalg.eigvalsh(a.T @ a), 0, None))[::-1]
        np.testing.assert_allclose(nu, ref, rtol=0, atol=1e-12 * ref[0])


def test_analyze_rows_equal_numpy_reference_and_thread_count_invariant():
    from logitrank.real_models.weights import extract_weight_matrices, matrix_diagnostics
    from tests._tiny_llama import tiny_llama
    mats = extract_weight_matrices(tiny_llama().model)
    one = analyze_weight_matrices(mats, device="cpu", threads=1)
    two = analyze_weight_matrices(mats, device="cpu", threads=2)
    for wm, r1, r2 in zip(mats, one.rows, two.rows):
        a = wm.weight.double().numpy()
        ref = matrix_diagnostics(np.linalg.svd(a, compute_uv=False), a.shape)
        assert r1 == r2
        for k, v in ref.items():
            if isinstance(v, float) and np.isfinite(v):
                assert r1[k] == pytest.approx(v, rel=1e-8, abs=1e-10), k
            elif not isinstance(v, float):
                assert r1[k] == v, k
