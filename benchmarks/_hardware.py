"""The machine's measured limits, printed at the top of every benchmark.

:func:`measured_gemm_peak` times a large square torch matmul (best of a few, cached per
process) so a benchmark can state its achieved GFLOP/s as a % of what this machine does
at that thread count; :func:`machine_header` prints the CPU/GPU, torch/BLAS, threads and
the fp32/fp64 (CPU) or bf16/fp32 (CUDA) matmul rates.
"""

from __future__ import annotations

import functools
import os
import platform
import time

import torch

__all__ = ["measured_gemm_peak", "machine_header", "cpu_model"]


@functools.cache
def measured_gemm_peak(dtype=torch.float32, threads: int | None = None, device: str = "cpu",
                       size: int | None = None, repeats: int = 3) -> float:
    """GFLOP/s (2 n^3 per product) of an n x n torch matmul at ``threads`` CPU threads, best of ``repeats``."""
    dev = torch.device(device)
    n = size or (2048 if dev.type == "cpu" else 8192)
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        g = torch.Generator(device=dev).manual_seed(0)
        a = torch.randn(n, n, generator=g, device=dev).to(dtype)
        b = torch.randn(n, n, generator=g, device=dev).to(dtype)
        a @ b                                        # warm-up
        best = float("inf")
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ b
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return 2 * n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(old)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_header(threads: int, device: str = "cpu") -> str:
    """Lines describing this machine and its measured matmul peaks at ``threads`` threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import numpy as np
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"NumPy BLAS {blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        blas = "NumPy BLAS unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"CPU: {cpu_model()}, {cores} cores; load average {load:.2f} at start",
             f"torch {torch.__version__} (BLAS/LAPACK {torch.backends.mkl.is_available() and 'MKL' or 'other'}), {blas}",
             f"threads: {threads}",
             f"measured CPU GEMM peak at {threads} thread(s): fp32 {measured_gemm_peak(torch.float32, threads):.1f} "
             f"GFLOP/s, fp64 {measured_gemm_peak(torch.float64, threads):.1f} GFLOP/s"]
    if device.startswith("cuda") and torch.cuda.is_available():
        lines.append(f"GPU: {torch.cuda.get_device_name()}; measured matmul bf16 "
                     f"{measured_gemm_peak(torch.bfloat16, None, 'cuda'):.0f} GFLOP/s, fp32 "
                     f"{measured_gemm_peak(torch.float32, None, 'cuda'):.0f} GFLOP/s, fp64 "
                     f"{measured_gemm_peak(torch.float64, None, 'cuda', 4096):.0f} GFLOP/s")
    return "\n".join(lines)
