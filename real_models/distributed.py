"""L(H, F) on more than one process or machine: torchrun, sharded over futures.

Every process holds a model replica and all histories (their KV bank is cheap next to the
futures), processes the future chunks ``c ≡ rank (mod world)`` with
:class:`~logitrank.real_models.engine.LogitMatrixEngine`, and the partial float64 Grams are
summed with ``torch.distributed.all_reduce`` — G = Σ_chunks B Bᵀ does not care which process
computed which chunk, so the result equals the single-process one up to the order of
floating-point sums. gloo on CPU, NCCL on GPU (one GPU per process, ``LOCAL_RANK``).

Run a job spec (JSON) on N processes::

    torchrun --nproc-per-node 2 -m logitrank.real_models.distributed spec.json out_dir/

The spec names the model (``"model": "smollm2"``, a path, or a hub id; optional
``"dtype"``, ``"prefix_tokens"``, ``"no_tokenizer": true`` for a bare model directory),
the histories and futures (explicit token lists, or ``{"source": "samples", "n": …,
"length": …, "seed": …}``), and ``rule``/``k``/``seed``/``future_chunk``. Rank 0 writes
``result.npz`` (singular values, Gram, columns) and ``result.json`` atomically; each rank
checkpoints into ``out_dir/ckpt`` and a relaunch resumes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from logitrank.errors import InvalidInputError
from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.real_models import text_sources as ts
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.engine import LogitGram, LogitMatrixEngine
from logitrank.real_models.runtime import torch_threads

__all__ = ["init_distributed", "distributed_gram", "load_spec_model", "spec_sequences", "run_spec", "main"]


def init_distributed() -> tuple[int, int]:
    """Initialise the default process group from torchrun's environment; (rank, world).

    Without torchrun (no ``WORLD_SIZE``) this is a single process: (0, 1), nothing initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def distributed_gram(engine: LogitMatrixEngine, histories, futures, **gram_kw) -> LogitGram:
    """The full Gram of L(H, F) on every rank: this rank's chunks, then all-reduce.

    ``gram_kw`` as for :meth:`LogitMatrixEngine.gram` (``run_dir`` is per rank-safe: files
    carry the rank). Single process when no process group is initialised.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return engine.gram(histories, futures, **gram_kw)
    rank, world = dist.get_rank(), dist.get_world_size()
    part = engine.gram(histories, futures, shard=(rank, world), **gram_kw)
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    G = torch.from_numpy(part.gram).to(dev)
    dist.all_reduce(G, op=dist.ReduceOp.SUM)
    cols = torch.from_numpy(part.column_tokens).to(dev)
    dist.all_reduce(cols, op=dist.ReduceOp.MAX)          # unfilled (topk_average) columns are −1
    stats = torch.tensor([part.seconds, float(part.tokens)], dtype=torch.float64, device=dev)
    dist.all_reduce(stats, op=dist.ReduceOp.MAX)
    return LogitGram(G.cpu().numpy(), cols.cpu().numpy(), part.rule, part.n_histories, part.n_futures,
                     float(stats[0]), int(stats[1]))


def load_spec_model(spec: dict, device=None) -> HFCausalLM:
    """The :class:`HFCausalLM` a spec names, via :meth:`HFCausalLM.load`."""
    kw = {"prefix_tokens": spec["prefix_tokens"]} if "prefix_tokens" in spec else {}
    return HFCausalLM.load(spec.get("model", "smollm2"), dtype=spec.get("dtype", "float32"), device=device,
                           tokenizer=not spec.get("no_tokenizer"), twin_seed=spec.get("random_init_seed"), **kw)


def spec_sequences(lm, part) -> list[np.ndarray]:
    """Histories or futures of a spec: explicit token lists or a ``{"source": …}`` dict."""
    if isinstance(part, dict):
        src = part.get("source")
        if src == "samples":
            seqs = ts.model_samples(lm, int(part["n"]), int(part["length"]), int(part.get("seed", 0)))
        elif src == "lines":
            seqs = ts.text_file_lines(lm, part["path"], length=part.get("length"), max_items=part.get("max_items"))
        elif src == "windows":
            seqs = ts.text_file_windows(lm, part["path"], int(part["length"]), max_items=part.get("max_items"))
        else:
            raise InvalidInputError(f"unknown sequence source {src!r}; use 'samples', 'lines' or 'windows'")
        if part.get("shuffle_seed") is not None:
            seqs = ts.token_shuffled(seqs, int(part["shuffle_seed"]))
        return seqs
    return [np.asarray(s, dtype=np.int64) for s in part]


def run_spec(spec: dict, out_dir: str | Path) -> LogitGram:
    """Run one spec in this process (inside torchrun: this rank's share, then all-reduce)."""
    rank, world = init_distributed()
    # CPU processes share the cores; on a GPU (or a single process) the count is left alone.
    threads = max(1, (os.cpu_count() or 2) // world) if world > 1 and not torch.cuda.is_available() else None
    with torch_threads(threads):
        return _run_spec(spec, out_dir, rank, world)


def _run_spec(spec: dict, out_dir, rank: int, world: int) -> LogitGram:
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None
    lm = load_spec_model(spec, device=device)
    H = spec_sequences(lm, spec["histories"])
    F = spec_sequences(lm, spec["futures"])
    engine = LogitMatrixEngine(lm, future_chunk=int(spec.get("future_chunk", 16)),
                               max_batch_tokens=int(spec.get("max_batch_tokens", 2048)),
                               progress=rank == 0 and spec.get("progress", True))
    rng = np.random.default_rng(spec["seed"]) if spec.get("seed") is not None else None
    out_dir = Path(out_dir)
    g = distributed_gram(engine, H, F, rule=spec.get("rule", "topk_average"), k=spec.get("k", 50), rng=rng,
                         run_dir=out_dir / "ckpt")
    if rank == 0:
        atomic_save_npz(out_dir / "result.npz", singular_values=g.singular_values(), gram=g.gram,
                        column_tokens=g.column_tokens)
        atomic_write_json(out_dir / "result.json", {"world_size": world, "n_histories": g.n_histories,
                                                    "n_futures": g.n_futures, "k": g.k, "rule": g.rule,
                                                    "seconds": g.seconds, "tokens": g.tokens})
    if world > 1:
        dist.barrier()
    return g


def main(argv=None) -> None:
    """``python -m logitrank.real_models.distributed SPEC.json OUT_DIR`` (under torchrun or not)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: torchrun --nproc-per-node N -m logitrank.real_models.distributed SPEC.json OUT_DIR")
    spec = json.loads(Path(argv[0]).read_text())
    try:
        run_spec(spec, argv[1])
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
