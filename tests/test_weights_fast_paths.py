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


def test_tied_matrix_listed_twice_is_decomposed_once_with_identical_rows(monkeypatch):
    """A matrix listed twice (same memory: tied embedding/LM head) gets the rows of a separate copy, computed once."""
    import logitrank.real_models.weights as weights
    rng = np.random.default_rng(3)
    w = torch.from_numpy(rng.standard_normal((60, 20)).astype(np.float32))
    other = torch.from_numpy(rng.standard_normal((30, 20)).astype(np.float32))
    mats = [WeightMatrix("embed", "embedding", -1, w, "e"), WeightMatrix("mid", "other", 0, other, "m"),
            WeightMatrix("head", "embedding", -1, w, "h"),
            WeightMatrix("copy", "embedding", -1, w.clone(), "c"),          # equal values, own memory
            WeightMatrix("transposed", "embedding", -1, w.T, "t")]           # same memory, other layout
    calls = []
    real = weights._gram_eigenvalues
    monkeypatch.setattr(weights, "_gram_eigenvalues", lambda weight, dtype: calls.append(1) or real(weight, dtype))
    res = analyze_weight_matrices(mats, device="cpu", threads=2)
    assert len(calls) == 4
    rows = {r["name"]: r for r in res.rows}
    for name in ("head", "copy"):
        assert {k: v for k, v in rows[name].items() if k != "name"} == {k: v for k, v in rows["embed"].items()
                                                                          if k != "name"}
    ref = np.linalg.svd(w.double().numpy(), compute_uv=False)
    np.testing.assert_allclose(res.singular_values["head"], ref, rtol=0, atol=1e-12 * ref[0])
    assert rows["transposed"]["rows"] == 20 and rows["transposed"]["sv_max"] == pytest.approx(ref[0], rel=1e-12)


def test_threads_with_a_shared_mp_fit_give_the_serial_rows():
    """Worker threads fit private copies of ``mp_fit``: rows equal serial ``matrix_diagnostics`` with that fit."""
    from logitrank.real_models.weights import matrix_diagnostics
    from logitrank.theory.rmt import MarchenkoPasturFit
    rng = np.random.default_rng(4)
    shapes = [(80, 30), (30, 80), (50, 50), (90, 20), (40, 25), (64, 16)]
    mats = [WeightMatrix(f"m{i}", "other", -1, torch.from_numpy(rng.standard_normal(s) * (1 + i)), "m")
            for i, s in enumerate(shapes)]
    fit = MarchenkoPasturFit(tw_quantile=0.95, margin_factor=0.5)
    res = analyze_weight_matrices(mats, device="cpu", threads=3, mp_fit=fit)
    for wm, row in zip(mats, res.rows):
        a = wm.weight.numpy()
        ref = matrix_diagnostics(np.linalg.svd(a, compute_uv=False), a.shape,
                                 mp_fit=MarchenkoPasturFit(tw_quantile=0.95, margin_factor=0.5))
        for k, v in ref.items():
            if isinstance(v, float) and np.isfinite(v):
                assert row[k] == pytest.approx(v, rel=1e-8, abs=1e-10), k
            elif not isinstance(v, float):
                assert row[k] == v, k


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_rejected_in_every_dtype(dtype, bad):
    from logitrank.errors import InvalidInputError
    from logitrank.real_models.weights import check_matrix
    w = torch.ones(5, 4, dtype=dtype)
    check_matrix(w)
    w[3, 1] = bad
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        check_matrix(w.T, "w")


@pytest.mark.parametrize("n", [2, 3, 31, 200])
def test_threadable_syevd_equals_numpy_eigvalsh_bit_for_bit(n):
    """The ctypes LAPACK ``dsyevd`` call returns ``np.linalg.eigvalsh``'s eigenvalues exactly, from any thread."""
    from concurrent.futures import ThreadPoolExecutor

    from logitrank.real_models.weights import _lapack_dsyevd, _symmetric_eigenvalues
    assert _lapack_dsyevd() is not None          # SciPy's Cython LAPACK API is there: the threaded path is tested
    rng = np.random.default_rng(n)
    grams = [(lambda a: a.T @ a)(rng.standard_normal((n + 7, n))) for _ in range(6)]
    refs = [np.linalg.eigvalsh(g) for g in grams]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(_symmetric_eigenvalues, [g.copy() for g in grams]))
    for w, ref in zip(got, refs):
        assert w.dtype == np.float64 and np.array_equal(w, ref)


def test_syevd_fallback_and_float32_use_numpy(monkeypatch):
    """Without the ctypes routine (or for float32) the eigenvalues come from ``np.linalg.eigvalsh``, unchanged."""
    import logitrank.real_models.weights as weights
    rng = np.random.default_rng(9)
    g = (lambda a: a.T @ a)(rng.standard_normal((40, 25)))
    assert np.array_equal(weights._symmetric_eigenvalues(g.astype(np.float32)),
                          np.linalg.eigvalsh(g.astype(np.float32)))
    monkeypatch.setattr(weights, "_lapack_dsyevd", lambda: None)
    assert np.array_equal(weights._symmetric_eigenvalues(g.copy()), np.linalg.eigvalsh(g))
