"""Where and how torch runs: the one default-device rule, device/dtype validation, CPU threads.

Every real-model module asks here instead of deciding itself, so a device or dtype is
validated once (before any model is loaded) and torch's global thread count is only ever
changed inside :func:`torch_threads`, which restores it.
"""

from __future__ import annotations

import contextlib

import torch

from logitrank.errors import InvalidInputError

__all__ = ["DTYPES", "default_device", "resolve_device", "resolve_dtype", "torch_threads", "available_memory",
           "check_memory"]

#: dtype names accepted everywhere a model is loaded.
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float64": torch.float64,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def default_device() -> torch.device:
    """CUDA when available, else CPU (the one default-device rule).

    Examples
    --------
    >>> default_device().type in ("cpu", "cuda")
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device=None) -> torch.device:
    """``device`` as a :class:`torch.device` (``None`` → :func:`default_device`), checked to exist.

    Raises :class:`~logitrank.errors.InvalidInputError` for an unknown name or a CUDA device
    on a machine without CUDA (instead of torch's AssertionError at the first transfer).
    """
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"unknown device {device!r} ({exc}); use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device {device!r} requested but CUDA is not available here; "
                                    f"use --device cpu (or leave it out)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidInputError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps":
        if not (torch.backends.mps.is_built() and torch.backends.mps.is_available()):
            raise InvalidInputError(f"device {device!r} requested but this torch has no MPS (Apple GPU) support "
                                    f"here; use --device cpu (or leave it out)")
    elif dev.type != "cpu":
        raise InvalidInputError(f"unsupported device {device!r}; use 'cpu' or 'cuda'")
    return dev


def available_memory(device=None) -> int:
    """Bytes a new allocation can take on ``device``: free CUDA memory, or the host's available RAM.

    The host figure is ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can hand out without
    swapping), else free pages; a machine that reports neither gives a very large number.
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


def check_memory(nbytes: float, what: str, device=None, *, available: int | None = None) -> None:
    """Refuse, before allocating, a request whose estimated size ``nbytes`` exceeds the memory available.

    ``what`` says which request and how to shrink it (it ends the one-line message).
    """
    avail = available_memory(device) if available is None else int(available)
    if nbytes > avail:
        raise InvalidInputError(f"{what} needs about {nbytes / 2**30:.1f} GiB but {avail / 2**30:.1f} GiB is "
                                f"available here")


def resolve_dtype(dtype) -> torch.dtype:
    """A torch dtype from its name (``"float32"``, ``"bf16"`` …) or itself; unknown names raise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InvalidInputError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
    return DTYPES[dtype]


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` torch CPU threads and restore the caller's count afterwards.

    ``None`` leaves the count alone, i.e. torch's default: all cores — the default of every
    real-model experiment (``threads: int | None = None`` in its config; the count used is
    recorded in its result). Jobs used to ask for one thread because the shared 2-core
    development machine was oversubscribed (busy-waiting OpenMP threads made two threads
    2–10× slower for small forward passes there); that is a property of that box, not of
    users' machines, where two threads measured 1.7–1.8× faster for the engine. ``n = 1``
    stays available for noisy shared machines. On a GPU it does not matter.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
