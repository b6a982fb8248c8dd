"""Weight matrices of a real model, grouped by type and layer, and their RMT diagnostics.

:func:`extract_weight_matrices` finds every weight matrix of a torch model and labels it
with a *type* in the words of Staats, Thamm & Rosenow (2024), Sec. 3 — ``query``, ``key``,
``value``, ``attention_output``, ``gate``, ``up``, ``down`` — and its block (layer) index.
Which parameter plays which role in each decoder family (Llama, BERT, GPT-2, GPT-NeoX,
Falcon, Phi-3, MPT, mixtures of experts, Mamba, RWKV, hybrids …), and how fused parameters
(GPT-2 ``c_attn``, NeoX ``query_key_value``, Phi-3 ``qkv_proj`` / ``gate_up_proj``, 3-D
experts …) split into those roles, is the table of :mod:`logitrank.real_models._weight_types`;
its :data:`MATRIX_TYPES` add latent-attention, router, state-space and RWKV types, and a
fused type (``qkv``, ``gate_up``) where a fused layout is not known exactly.

- Token/position embeddings and LM heads → ``embedding`` (left out unless asked for).
- Anything else with a matrix-shaped weight → ``other``, with a warning naming it (never skipped).

All matrices are returned as ``(out_features, in_features)``, so right singular vectors
live in the input space (where activation covariances are measured).

:func:`analyze_weight_matrices` computes the singular values of all matrices (CPU: one
matrix per worker thread on all cores by default, ``syrk`` Gram + ``syevd``; GPU: same-shape matrices stacked into
one batched ``torch.linalg.eigvalsh``; no side-length limit, unlike WeightWatcher's
50,000), then runs the diagnostics of :mod:`logitrank.theory.rmt` on each. :func:`write_details_csv` writes the per-matrix
table (the analogue of WeightWatcher's ``details`` frame).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import re
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models._weight_types import MATRIX_TYPES, matrix_pieces, weight_type_map
from logitrank.theory.rmt import (EigenvaluePowerLawFit, MarchenkoPasturFit, SingularVectorStatistics,
                                  singular_vector_statistics)

__all__ = [
    "MATRIX_TYPES",
    "UnknownMatrixTypeWarning",
    "WeightMatrix",
    "WeightsAnalysis",
    "analyze_model_weights",
    "analyze_weight_matrices",
    "extract_weight_matrices",
    "matrix_diagnostics",
    "weight_type_map",
    "write_details_csv",
]



class UnknownMatrixTypeWarning(UserWarning):
    """A weight matrix whose type is not known: analysed as ``other``."""


@dataclasses.dataclass(frozen=True)
class WeightMatrix:
    """One weight matrix ``(out_features, in_features)`` with its type and block index.

    ``module_name`` is the module whose *input* this matrix acts on (for activation hooks);
    ``layer`` is -1 outside the blocks.
    """

    name: str
    matrix_type: str
    layer: int
    weight: torch.Tensor
    module_name: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)


_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\.")


def _layer_index(name: str) -> int:
    m = _LAYER.search(name + ".")
    return int(m.group(1)) if m else -1


def _all_finite(weight: torch.Tensor) -> bool:
    """Whether every entry is finite; NumPy on CPU (torch's ``isfinite().all()`` measured 30x slower here)."""
    if weight.device.type == "cpu" and weight.dtype in (torch.float16, torch.float32, torch.float64):
        return bool(np.isfinite(weight.detach().numpy()).all())
    return bool(torch.isfinite(weight).all())


def check_matrix(weight, name: str = "matrix") -> torch.Tensor:
    """Return ``weight`` as a 2-D floating tensor; reject other ranks, empty sides and NaN/inf."""
    if not isinstance(weight, torch.Tensor):
        weight = torch.as_tensor(np.asarray(weight))
    if weight.ndim != 2:
        raise InvalidInputError(f"{name}: a weight matrix must be 2-D, got shape {tuple(weight.shape)}; "
                                f"reshape convolution kernels to (out, in*k) first")
    if min(weight.shape) < 2:
        raise InvalidInputError(f"{name}: both sides must be at least 2, got shape {tuple(weight.shape)}")
    if not weight.is_floating_point():
        weight = weight.double()
    if not _all_finite(weight):
        raise InvalidInputError(f"{name}: weights contain NaN or inf; the checkpoint is corrupt or "
                                f"the model diverged — fix the weights before analysing them")
    return weight


def extract_weight_matrices(model: torch.nn.Module, *, include_embeddings: bool = False) -> list[WeightMatrix]:
    """Every weight matrix of ``model`` with its type and block index (see module docstring).

    Parameters with fewer than two dimensions larger than 1 (biases, norm scales, mixing
    vectors) are not matrices and are not returned. Fused parameters come back split (one
    matrix per part, named ``param[query]``, ``param[expert 3 gate]`` …, each a view of the
    parameter where the layout allows); kernels of more than two dimensions are reshaped to
    ``(out, -1)``. Tied parameters appear once. Together the matrices (with embeddings) cover
    every element of every matrix-shaped parameter exactly once.
    """
    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out: list[WeightMatrix] = []
    unknown: list[str] = []
    for piece in matrix_pieces(model):
        kind = piece.matrix_type
        if kind == "embedding" and not include_embeddings:
            continue
        if kind == "other":
            unknown.append(piece.param_name + piece.label)
        out.append(WeightMatrix(piece.param_name + piece.label, kind, _layer_index(piece.module_name),
                                piece.weight, piece.module_name))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" … ({len(unknown)} in all)" if len(unknown) > 5 else "")
        warnings.warn(f"unknown matrix types, analysed as 'other': {shown}", UnknownMatrixTypeWarning, stacklevel=2)
    if not out:
        raise InvalidInputError("the model has no 2-D weight matrices to analyse")
    return out


@dataclasses.dataclass(frozen=True)
class WeightsAnalysis:
    """Per-matrix diagnostics (``rows``), singular values and optional vector statistics.

    ``rows`` are dicts in matrix order (the columns of :func:`write_details_csv`);
    ``singular_values[name]`` descending; ``vector_statistics[name]`` for the right singular
    vectors (rows of V^T, in descending singular-value order) when ``vectors=True``.
    ``svd_seconds``: wall time of the decomposition phase; ``diagnostics_seconds``: time in
    the diagnostics (on the CPU path summed over worker threads and overlapping ``svd_seconds``).
    """

    rows: tuple
    singular_values: dict
    vector_statistics: dict
    svd_seconds: float
    diagnostics_seconds: float
    device: str

    def by_type(self) -> dict:
        """Rows grouped by matrix type."""
        groups = defaultdict(list)
        for r in self.rows:
            groups[r["type"]].append(r)
        return dict(groups)


def matrix_diagnostics(singular_values, shape, *, mp_fit: MarchenkoPasturFit | None = None,
                       power_law: bool = True) -> dict:
    """All scalar diagnostics of one matrix from its singular values (one row of the table)."""
    nu = np.sort(np.asarray(singular_values, dtype=float))[::-1]
    n, m = max(shape), min(shape)
    fit = (mp_fit or MarchenkoPasturFit()).fit(nu, shape)
    lam = nu ** 2
    row = {
        "rows": int(shape[0]), "cols": int(shape[1]), "q": m / n,
        "sigma": fit.sigma_, "lower_edge": fit.lower_edge_, "upper_edge": fit.upper_edge_,
        "n_below": fit.n_below_, "n_above": fit.n_above_,
        "n_below_band": fit.n_below_band_, "n_above_band": fit.n_above_band_,
        "frac_below_band": fit.n_below_band_ / m, "frac_above_band": fit.n_above_band_ / m,
        "ks_distance": fit.ks_distance_, "ks_pvalue": fit.ks_pvalue_, "consistent_mp": fit.consistent_,
        "spacing_ratio": fit.spacing_.mean_ratio,
        "sv_max": float(nu[0]), "sv_min": float(nu[-1]),
        "frobenius_norm": float(np.sqrt(lam.sum())), "stable_rank": float(lam.sum() / lam[0]),
    }
    if power_law:
        try:
            pl = EigenvaluePowerLawFit().fit(lam)
            row.update(alpha=pl.alpha_, alpha_err=pl.alpha_err_, xmin=pl.xmin_, pl_ks=pl.ks_distance_,
                       n_tail=pl.n_tail_)
        except InvalidInputError:
            row.update(alpha=float("nan"), alpha_err=float("nan"), xmin=float("nan"),
                       pl_ks=float("nan"), n_tail=0)
    return row


def _batches(matrices, max_bytes: int, element_bytes: int = 8):
    """Indices of same-shape matrices, in stacks of at most ``max_bytes`` (for batched GPU calls)."""
    groups = defaultdict(list)
    for i, wm in enumerate(matrices):
        groups[wm.shape].append(i)
    for shape, idx in groups.items():
        per = max(1, max_bytes // (element_bytes * shape[0] * shape[1]))
        for s in range(0, len(idx), per):
            yield shape, idx[s:s + per]


def _singular_values_of_stack(stack: torch.Tensor, method: str) -> torch.Tensor:
    """Descending singular values of a stack (k, r, c), batched in torch (the GPU path).

    ``"gram"``: one batched product for the smaller Gram matrices and one batched
    ``torch.linalg.eigvalsh`` (eigenvalues are nu^2, WeightWatcher's ESD); in float64 the
    absolute error is ~1e-16 * nu_max^2, far below any MP scale. ``"svd"``: batched
    ``torch.linalg.svdvals``. Works on any device; tests run it on CPU against per-matrix
    ``np.linalg.eigvalsh``.
    """
    if method == "svd":
        return torch.linalg.svdvals(stack)
    gram = stack.mT @ stack if stack.shape[-2] >= stack.shape[-1] else stack @ stack.mT
    lam = torch.linalg.eigvalsh(gram)
    return lam.clamp_min(0).sqrt().flip(-1)


_GRAM_CHUNK_BYTES = 1 << 22     # cast + syrk a few MiB of rows at a time: stays in cache, no full copy

# ``void ?syevd(char *jobz, char *uplo, int *n, T *a, int *lda, T *w, T *work, int *lwork, int *iwork,
# int *liwork, int *info)`` as SciPy's Cython LAPACK API exports it (LP64 ints).
_SYEVD_SIGNATURE = re.compile(r"void \(char \*, char \*, int \*, (\S+) \*, int \*, \1 \*, \1 \*, "
                              r"int \*, int \*, int \*, int \*\)")


@functools.cache
def _lapack_dsyevd():
    """SciPy's LAPACK ``dsyevd`` as a ctypes function, or None where it is not available.

    Why not ``np.linalg.eigvalsh``: NumPy 2.4's call releases the GIL but still runs one at a
    time across Python threads (measured here: 24 eigvalsh of 384 x 384 on two worker threads
    took 0.98-1.01x the one-thread time, while the same LAPACK routine called through ctypes took
    0.53x), so the worker threads of :func:`_cpu_spectra` only overlapped their Gram products.
    A ctypes call releases the GIL and holds no lock; it is the same OpenBLAS/LAPACK ``syevd``
    that NumPy calls (lower triangle, optimal workspace), so the eigenvalues are bit-identical.
    The function pointer comes from ``scipy.linalg.cython_lapack`` (SciPy's public Cython API,
    the route numba uses); its signature string is checked, and any surprise returns None
    (the caller then uses ``np.linalg.eigvalsh``).
    """
    import ctypes
    try:
        from scipy.linalg import cython_lapack
        capsule = cython_lapack.__pyx_capi__["dsyevd"]
        get_name, get_pointer = ctypes.pythonapi.PyCapsule_GetName, ctypes.pythonapi.PyCapsule_GetPointer
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        name = get_name(capsule)
        match = _SYEVD_SIGNATURE.fullmatch(name.decode()) if name else None
        if match is None or not match.group(1).endswith("_d"):      # Cython's ``ctypedef double d``
            return None
        return ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 11)(get_pointer(capsule, name))
    except (ImportError, KeyError, AttributeError, ValueError, TypeError):
        return None


def _symmetric_eigenvalues(gram: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of a symmetric matrix (float64: overwritten), by LAPACK ``syevd`` without vectors.

    Equal to ``np.linalg.eigvalsh(gram)`` bit for bit (the same routine on the lower triangle),
    but callable from several threads at once (see :func:`_lapack_dsyevd`). Other dtypes
    (float32) go to ``np.linalg.eigvalsh`` as before.
    """
    syevd = _lapack_dsyevd() if gram.dtype == np.float64 else None
    if syevd is None or not (gram.flags.c_contiguous and gram.flags.writeable):
        return np.linalg.eigvalsh(gram)
    # C order is the transpose in Fortran's eyes: the same matrix, since gram is symmetric.
    n = gram.shape[0]
    ints = np.array([n, -1, 1, 0], dtype=np.int32)           # n (= lda), lwork query, liwork, info
    w = np.empty(n, dtype=gram.dtype)
    query = np.empty(1, dtype=gram.dtype)
    iwork = np.empty(1, dtype=np.int32)
    n_p, lwork_p, liwork_p, info_p = (ints.ctypes.data + 4 * i for i in range(4))
    syevd(b"N", b"L", n_p, gram.ctypes.data, n_p, w.ctypes.data, query.ctypes.data, lwork_p, iwork.ctypes.data,
          lwork_p, info_p)                                    # workspace query (liwork = -1 too)
    lwork = max(int(query[0]), 2 * n + 1)
    work = np.empty(lwork, dtype=gram.dtype)
    ints[1] = lwork
    syevd(b"N", b"L", n_p, gram.ctypes.data, n_p, w.ctypes.data, work.ctypes.data, lwork_p, iwork.ctypes.data,
          liwork_p, info_p)
    if ints[3] != 0:
        raise np.linalg.LinAlgError(f"LAPACK syevd failed (info = {int(ints[3])}): the eigenvalues did not converge")
    return w


def _gram_eigenvalues(weight: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """Ascending eigenvalues of the smaller Gram matrix of one CPU matrix (``nu^2``).

    BLAS ``syrk`` (via NumPy matmul) accumulates ``W^T W`` (or ``W W^T``) over row (column) chunks cast to
    ``dtype`` on the fly — half the flops of a general product, one triangle, no copy of the
    whole matrix in ``dtype`` — then LAPACK ``syevd`` (``np.linalg.eigvalsh``) without vectors.
    (Products of float32 entries are exact in float64, so only the summation order differs
    from a one-shot float64 product: rounding-level.) A matrix already in ``dtype`` is used
    as it is, without chunks or a copy.
    """
    w = weight.detach()
    if w.device.type != "cpu":
        w = w.cpu()
    if w.dtype not in (torch.float16, torch.float32, torch.float64):
        w = w.float()                        # bfloat16 etc.: exact in float32
    a = w.numpy()
    np_dtype = np.dtype(torch.empty((), dtype=dtype).numpy().dtype)
    tall = a.shape[0] >= a.shape[1]
    m, long = (a.shape[1], a.shape[0]) if tall else (a.shape[0], a.shape[1])
    # NumPy's matmul (syrk for X^T X) and the ctypes syevd release the GIL, so worker threads
    # run in parallel; SciPy's f2py BLAS/LAPACK wrappers hold it (measured: no 1 -> 2 scaling).
    if a.dtype == np_dtype:
        gram = a.T @ a if tall else a @ a.T
    else:
        step = max(1, _GRAM_CHUNK_BYTES // (np_dtype.itemsize * m))
        gram = None
        for s in range(0, long, step):
            part = (a[s:s + step] if tall else a[:, s:s + step]).astype(np_dtype, order="C")
            g = part.T @ part if tall else part @ part.T
            gram = g if gram is None else np.add(gram, g, out=gram)
    lam = _symmetric_eigenvalues(gram)
    return lam.astype(np.float64, copy=False)


def _same_values_key(weight: torch.Tensor) -> tuple:
    """Two tensors with equal keys are views of the same memory with the same layout: the same matrix.

    (Tied weights listed twice, e.g. an embedding and its LM head.) Only compared within one
    call, while every tensor is alive, so a storage address cannot have been reused.
    """
    return (str(weight.device), weight.dtype, weight.untyped_storage().data_ptr(), weight.storage_offset(),
            tuple(weight.shape), tuple(weight.stride()))


def _diagnostics_row(nu: np.ndarray, shape, mp_fit: MarchenkoPasturFit | None, power_law: bool) -> dict:
    """:func:`matrix_diagnostics` with a private copy of ``mp_fit`` (``fit`` stores its results on self)."""
    return matrix_diagnostics(nu, shape, mp_fit=None if mp_fit is None else copy.copy(mp_fit), power_law=power_law)


def _cpu_spectra(matrices, dtype: torch.dtype, threads: int, row_fn=None):
    """Descending singular values of every matrix (and ``row_fn(nu, shape)`` of each), on ``threads`` CPU threads.

    One task per distinct matrix (Gram + eigenvalues, then ``row_fn``), largest first, on
    ``workers = min(threads, tasks)`` Python threads, each with ``threads // workers`` BLAS
    threads (threadpoolctl). LAPACK's tridiagonal reduction is memory-bound and scales poorly
    within one matrix; across matrices it scales with the cores. ``row_fn`` (the
    diagnostics: Python, holds the GIL) of one matrix overlaps the BLAS/LAPACK calls (GIL
    released) of the others. A matrix listed twice (same memory, same layout) is decomposed
    once. Returns ``(spectra, rows, row_seconds)``; ``rows`` are None without ``row_fn`` and
    ``row_seconds`` is the time spent in ``row_fn`` summed over workers.
    """
    from concurrent.futures import ThreadPoolExecutor
    from threadpoolctl import threadpool_limits

    first: dict = {}
    owner = [first.setdefault(_same_values_key(wm.weight), i) for i, wm in enumerate(matrices)]
    def cost(i):                                 # syrk n m^2 + syevd 4/3 m^3 at ~40% of syrk's rate here
        r, c = matrices[i].shape
        return r * c * min(r, c) + 3 * min(r, c) ** 3

    unique = sorted(set(owner), key=lambda i: -cost(i))

    def work(i):
        lam = _gram_eigenvalues(matrices[i].weight, dtype)
        nu = np.sqrt(np.clip(lam, 0, None))[::-1]
        if row_fn is None:
            return nu, None, 0.0
        t0 = time.perf_counter()
        row = row_fn(nu, matrices[i].shape)
        return nu, row, time.perf_counter() - t0

    workers = max(1, min(int(threads), len(unique)))
    done: dict = {}
    with threadpool_limits(limits=max(1, int(threads) // workers), user_api="blas"):
        if workers == 1:
            for i in unique:
                done[i] = work(i)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, res in zip(unique, pool.map(work, unique)):
                    done[i] = res
    spectra = [done[o][0] for o in owner]
    rows = [None if done[o][1] is None else dict(done[o][1]) for o in owner]
    return spectra, rows, sum(r[2] for r in done.values())


def _singular_values_cpu(matrices, dtype: torch.dtype, threads: int) -> list:
    """Descending singular values of every matrix, on ``threads`` CPU threads (see :func:`_cpu_spectra`)."""
    return _cpu_spectra(matrices, dtype, threads)[0]


def analyze_weight_matrices(matrices: list[WeightMatrix], *, device=None, dtype=torch.float64,
                            method: str = "gram", vectors: bool = False, power_law: bool = True,
                            mp_fit: MarchenkoPasturFit | None = None,
                            max_batch_bytes: int = 1 << 29, threads: int | None = None) -> WeightsAnalysis:
    """Singular values of all matrices and the RMT diagnostics of each (one table row per matrix).

    Parameters
    ----------
    matrices : from :func:`extract_weight_matrices` (or any list of :class:`WeightMatrix`).
    device : torch device for the decomposition; default CUDA when available, else CPU.
    dtype : precision of the decomposition (float64 default; float32 is faster on GPUs).
    method : ``"gram"`` (default: eigenvalues of the smaller Gram matrix) or ``"svd"``
        (batched ``torch.linalg.svdvals``). With ``vectors=True`` a full SVD is used either way.
    vectors : also compute right singular vectors and their Porter–Thomas/IPR statistics.
    power_law : fit the heavy-tailed alpha of the eigenvalues (WeightWatcher's alpha).
    max_batch_bytes : bound on one stacked batch on a GPU (same-shape matrices are split if larger).
    threads : CPU threads for the ``"gram"`` path. Default ``torch.get_num_threads()``: all cores
        (torch's default), or what an enclosing
        :func:`~logitrank.real_models.runtime.torch_threads` set; 1 for a single thread.

    Notes
    -----
    On CPU (``method="gram"``) matrices are processed one per task on ``threads`` workers
    with single-threaded BLAS (:func:`_cpu_spectra`): ``syrk`` Gram, ``syevd``
    eigenvalues, then the diagnostics of that matrix in the same task (so the Python part of
    one matrix overlaps the LAPACK calls of another; ``diagnostics_seconds`` is then summed
    over workers and overlaps ``svd_seconds``, the wall time of the whole phase). A matrix
    listed twice (tied weights: the same memory) is decomposed once. On a GPU same-shape matrices are stacked and decomposed in one batched
    call (:func:`_singular_values_of_stack`). Both give the eigenvalues of the same Gram
    matrix; they agree to rounding (tested on CPU).
    """
    if not matrices:
        raise InvalidInputError("no matrices to analyse")
    if method not in ("gram", "svd"):
        raise InvalidInputError(f"method must be 'gram' or 'svd', got {method!r}")
    if threads is not None and int(threads) < 1:
        raise InvalidInputError(f"threads must be at least 1, got {threads}")
    threads = int(threads) if threads is not None else torch.get_num_threads()
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for wm in matrices:
        check_matrix(wm.weight, wm.name)
    svals: dict = {}
    vstats: dict = {}
    t0 = time.perf_counter()
    if dev.type == "cpu" and method == "gram" and not vectors:
        # Diagnostics run inside the worker tasks, overlapping the other workers' LAPACK calls.
        spectra, cpu_rows, diag_seconds = _cpu_spectra(
            matrices, dtype, threads, lambda nu, shape: _diagnostics_row(nu, shape, mp_fit, power_law))
        rows = []
        for wm, nu, diag in zip(matrices, spectra, cpu_rows):
            svals[wm.name] = nu
            rows.append({"name": wm.name, "type": wm.matrix_type, "layer": wm.layer, **diag})
        t1 = time.perf_counter()
        return WeightsAnalysis(rows=tuple(rows), singular_values=svals, vector_statistics=vstats,
                               svd_seconds=t1 - t0, diagnostics_seconds=diag_seconds, device=str(dev))
    element_bytes = torch.empty((), dtype=dtype).element_size()
    for shape, idx in _batches(matrices, max_batch_bytes, element_bytes):
        # Move in the stored precision, cast on the device (half the transfer for float32 weights).
        stack = torch.stack([matrices[i].weight.detach().to(dev) for i in idx]).to(dtype)
        with torch.no_grad():
            if vectors:
                if dev.type == "cpu":   # NumPy's LAPACK: torch's batched CPU svd was far slower here
                    _, s, vh = np.linalg.svd(stack.numpy(), full_matrices=False)
                    s, vh = torch.from_numpy(s), torch.from_numpy(vh)
                else:
                    _, s, vh = torch.linalg.svd(stack, full_matrices=False)
                vh = vh.cpu().double().numpy() if isinstance(vh, torch.Tensor) else vh
            else:
                s = _singular_values_of_stack(stack, method)
        s = s.cpu().double().numpy()
        for j, i in enumerate(idx):
            svals[matrices[i].name] = s[j]
            if vectors:
                vstats[matrices[i].name] = singular_vector_statistics(vh[j])
    t1 = time.perf_counter()
    rows = []
    for wm in matrices:
        row = {"name": wm.name, "type": wm.matrix_type, "layer": wm.layer}
        row.update(matrix_diagnostics(svals[wm.name], wm.shape, mp_fit=mp_fit, power_law=power_law))
        if vectors:
            st: SingularVectorStatistics = vstats[wm.name]
            k = max(1, len(st.ipr) // 10)
            row.update(pt_reject_frac=float(np.mean(st.porter_thomas_pvalue < 0.01)),
                       max_entry_top=float(st.max_entry[:k].mean()), max_entry_bottom=float(st.max_entry[-k:].mean()),
                       ipr_top_ratio=float(st.ipr[:k].mean() / st.random_ipr),
                       ipr_bottom_ratio=float(st.ipr[-k:].mean() / st.random_ipr))
        rows.append(row)
    t2 = time.perf_counter()
    return WeightsAnalysis(rows=tuple(rows), singular_values=svals, vector_statistics=vstats,
                           svd_seconds=t1 - t0, diagnostics_seconds=t2 - t1, device=str(dev))


def analyze_model_weights(lm, *, include_embeddings: bool = False, **kwargs) -> WeightsAnalysis:
    """``lm.weight_matrices()`` (an :class:`~logitrank.real_models.adapter.HFCausalLM`), then
    :func:`analyze_weight_matrices`."""
    return analyze_weight_matrices(lm.weight_matrices(include_embeddings=include_embeddings), **kwargs)


def write_details_csv(analysis: WeightsAnalysis, path) -> Path:
    """Write one row per matrix (WeightWatcher ``details``-like table) as CSV; returns the path."""
    from logitrank.io import atomic_write_text
    import io
    rows = list(analysis.rows)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())
    return path
