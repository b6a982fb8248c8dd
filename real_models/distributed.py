"""L(H, F) on more than one process or machine: torchrun, sharded over futures.

Every process holds a model replica and all histories (their KV bank is cheap next to the
futures), processes the future chunks ``c ≡ rank (mod world)`` with
:class:`~logitrank.real_models.engine.LogitMatrixEngine`, and the partial float64 Grams are
summed with ``torch.distributed.all_reduce`` — G = Σ_chunks B Bᵀ does not care which process
computed which chunk, so the result equals the single-process one up to the order of
floating-point sums. gloo on CPU, NCCL on GPU (one GPU per process, ``LOCAL_RANK``).

Run a job spec (JSON) on N processes::

    torchrun --nproc-per-node 2 -m logitrank.real_models.distributed spec.json out_dir/

An example spec (the same inputs as ``logitrank real spectrum --text play.txt --histories 64
--futures 32 --history-length 32 --future-length 4 --k 50 --seed 0``)::

    {"model": "smollm2", "dtype": "float32",
     "text": "play.txt", "stride": null, "offset": 0,
     "histories": {"source": "text", "n": 64, "length": 32},
     "futures": {"source": "text", "n": 32, "length": 4, "shuffled": false},
     "rule": "topk_average", "k": 50, "seed": 0, "future_chunk": 16, "fit_range": [0.01, 0.5]}

The spec names the model (``"model"``: ``"smollm2"``, a ``.gguf`` file, a model directory or
a hub id; optional ``"dtype"``, ``"prefix_tokens"``, ``"no_tokenizer": true`` for a bare model
directory, ``"twin": SEED`` for the random-init twin) and the histories and futures: explicit
token lists, ``{"source": "text", "n": …, "length": …}`` (seeded, non-overlapping windows of
the spec's ``"text"`` — a file, a directory of ``.txt`` files or ``"shakespeare"`` — read by
:mod:`logitrank.real_models.corpus`, histories and futures from disjoint segments), or
``{"source": "samples", "n": …, "length": …, "seed": …}`` (samples of the model). Any part may
add ``"shuffled": true`` (token-shuffled, nonsense). ``rule``/``k``/``seed``/``future_chunk``/
``fit_range`` as for ``logitrank real spectrum``.

The spec is validated in every process before anything loads (:func:`validate_spec`); rank 0
prints the one-line error and every process exits with code 2. Rank 0 writes ``result.npz``
(singular values, Gram, columns) and ``result.json`` (``{"command", "inputs", "outputs"}``,
outputs as :func:`spectrum_outputs`: α, its error, fit range, singular values — the record of
``logitrank real spectrum --out``) atomically; each rank checkpoints into ``out_dir/ckpt`` and
a relaunch resumes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from logitrank.errors import InvalidInputError, LogitRankError
from logitrank.io import atomic_save_npz, atomic_write_json, to_jsonable
from logitrank.real_models import text_sources as ts
from logitrank.real_models.corpus import read_corpus
from logitrank.real_models.loading import check_source
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.engine import LogitGram, LogitMatrixEngine
from logitrank.real_models.runtime import resolve_dtype, torch_threads
from logitrank.theory.logit_matrix import COLUMN_RULES
from logitrank.theory.spectrum import PowerLawFit

__all__ = ["init_distributed", "distributed_gram", "load_spec_model", "spec_sequences", "spectrum_outputs",
           "validate_spec", "run_spec", "main"]

_SOURCES = ("text", "samples")
#: Every key a spec may have (anything else is a typo, refused rather than ignored).
SPEC_KEYS = ("model", "dtype", "prefix_tokens", "no_tokenizer", "twin", "text", "stride", "offset", "histories",
             "futures", "rule", "k", "seed", "future_chunk", "fit_range", "max_batch_tokens", "progress")
#: Every key of a ``{"source": …}`` part.
PART_KEYS = ("source", "n", "length", "shuffled", "seed")


def validate_spec(spec, world: int = 1, cuda_devices: int | None = None) -> dict:
    """Check a job spec without loading anything; the spec, or a one-line InvalidInputError.

    Checks the keys and their types, the model source (path, ``config.json``, GGUF header),
    dtype, rule, k, sizes, the text path, and — when CUDA is used — that there are at least as
    many CUDA devices as processes.
    """
    if not isinstance(spec, dict):
        raise InvalidInputError(f"the spec must be a JSON object, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise InvalidInputError(f"unknown spec key(s) {', '.join(map(repr, unknown))}; the keys are "
                                f"{', '.join(SPEC_KEYS)}")
    if "model" not in spec:
        raise InvalidInputError("the spec has no \"model\"; name it (\"smollm2\", a .gguf file, a model directory "
                                "or a hub id)")
    for part in ("histories", "futures"):
        if part not in spec:
            raise InvalidInputError(f"the spec has no {part!r}; give token lists or "
                                    f"{{\"source\": \"text\", \"n\": N, \"length\": L}} (see the example spec in "
                                    f"`python -m pydoc logitrank.real_models.distributed`)")
        p = spec[part]
        if isinstance(p, dict):
            src = p.get("source")
            bad = sorted(set(p) - set(PART_KEYS))
            if bad:
                raise InvalidInputError(f"{part}: unknown key(s) {', '.join(map(repr, bad))}; a part has "
                                        f"{', '.join(PART_KEYS)}")
            if src not in _SOURCES:
                raise InvalidInputError(f"{part}: unknown source {src!r}; use one of {_SOURCES}")
            for key in ("n", "length"):
                if not isinstance(p.get(key), int) or p[key] < 1:
                    raise InvalidInputError(f"{part}: {key!r} must be an integer >= 1, got {p.get(key)!r}")
            if src == "text" and not spec.get("text"):
                raise InvalidInputError(f"{part} come from text but the spec has no \"text\" (a file, a directory "
                                        f"of .txt files or \"shakespeare\")")
        elif not (isinstance(p, list) and p and all(isinstance(s, list) for s in p)):
            raise InvalidInputError(f"{part} must be a non-empty list of token lists or a source dict")
    if spec.get("rule", "topk_average") not in COLUMN_RULES:
        raise InvalidInputError(f"unknown rule {spec.get('rule')!r}; choose one of {', '.join(COLUMN_RULES)}")
    k = spec.get("k", 50)
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    fc = spec.get("future_chunk", 16)
    if not isinstance(fc, int) or fc < 1:
        raise InvalidInputError(f"future_chunk must be an integer >= 1, got {fc!r}")
    lo_hi = spec.get("fit_range", [0.01, 0.5])
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(isinstance(v, (int, float)) for v in lo_hi)
            and 0 < lo_hi[0] < lo_hi[1]):
        raise InvalidInputError(f"fit_range must be [lo, hi] with 0 < lo < hi, got {lo_hi!r}")
    sizes = [len(p) if isinstance(p, list) else p["n"] for p in (spec["histories"], spec["futures"])]
    n = sizes[0] if spec.get("rule", "topk_average") == "full" else min(sizes[0], sizes[1] * k)
    hi = lo_hi[1]
    if not (isinstance(hi, float) and hi <= 1) and hi > n:       # an index past the spectrum: not clipped
        raise InvalidInputError(f"fit_range {lo_hi!r} reaches index {hi} but L(H, F) has {n} singular values "
                                f"({sizes[0]} histories, {sizes[1]} futures, k = {k}); use an upper index <= {n} "
                                f"or a fraction of n")
    resolve_dtype(spec.get("dtype", "float32"))
    check_source(spec["model"])
    if spec.get("text"):
        from pathlib import Path as _P

        from logitrank.real_models.corpus import EMBEDDED_CORPORA
        if spec["text"] not in EMBEDDED_CORPORA and not _P(spec["text"]).exists():
            raise InvalidInputError(f"text {spec['text']} does not exist; give a text file, a directory of .txt "
                                    f"files or 'shakespeare'")
    n_cuda = torch.cuda.device_count() if cuda_devices is None else cuda_devices
    if n_cuda and world > n_cuda:
        raise InvalidInputError(f"{world} processes but {n_cuda} CUDA device{'s' if n_cuda != 1 else ''}; use "
                                f"torchrun --nproc-per-node {n_cuda} (one process per GPU)")
    return spec


def spectrum_outputs(g: LogitGram, fit_range=(0.01, 0.5)) -> dict:
    """What a spectrum run reports: sizes, singular values and the power-law fit of them.

    The same record for ``logitrank real spectrum --out`` and this torchrun entry point. A
    spectrum too short for ``fit_range`` gets ``alpha = None`` and the reason in ``fit_note``
    (the command rejects such sizes before loading; a spec is not refused for it).
    """
    s = g.singular_values()
    out = {"n_histories": g.n_histories, "n_futures": g.n_futures, "k": g.k, "rule": g.rule}
    try:
        fit = PowerLawFit(fit_range=tuple(fit_range)).fit(s)
        out.update(alpha=float(fit.alpha_), alpha_err=float(fit.alpha_err_), log_scale=float(fit.log_scale_),
                   fit_range=[int(v) for v in fit.fit_range_], fit_note=None)
    except InvalidInputError as exc:            # too few singular values for this range: no α, say why
        out.update(alpha=None, alpha_err=None, log_scale=None, fit_range=None, fit_note=str(exc))
    return {**out, "singular_values": s.tolist(), "seconds": float(g.seconds), "tokens": int(g.tokens)}


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
    return HFCausalLM.load(spec["model"], dtype=spec.get("dtype", "float32"), device=device,
                           tokenizer=not spec.get("no_tokenizer"), twin_seed=spec.get("twin"), **kw)


def spec_sequences(lm, part, spec: dict | None = None, *, split: str = "histories") -> list[np.ndarray]:
    """Histories or futures of a spec: explicit token lists or a ``{"source": …}`` dict.

    ``{"source": "text"}`` parts are windows of ``spec["text"]`` from one
    :meth:`~logitrank.real_models.corpus.TextCorpus.windows` call over every text part of the
    spec (so histories and futures are held out from each other), seeded with ``spec["seed"]``.
    """
    if isinstance(part, dict):
        src = part.get("source")
        if src == "samples":
            seqs = ts.model_samples(lm, int(part["n"]), int(part["length"]), int(part.get("seed", 0)))
            if part.get("shuffled"):
                seqs = ts.token_shuffled(seqs, int(part.get("seed", 0)) + 100)
        elif src == "text":
            spec = spec or {}
            parts = {s: spec[s] for s in ("histories", "futures")
                     if isinstance(spec.get(s), dict) and spec[s].get("source") == "text"}
            if split not in parts:
                parts[split] = part
            w = read_corpus(spec.get("text"), lm).windows(
                {s: (int(p["n"]), int(p["length"])) for s, p in parts.items()}, seed=int(spec.get("seed") or 0),
                stride=spec.get("stride"), offset=int(spec.get("offset", 0)),
                shuffled=tuple(s for s, p in parts.items() if p.get("shuffled")))
            seqs = w[split].tokens
        else:
            raise InvalidInputError(f"unknown sequence source {src!r}; use one of {_SOURCES}")
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
    H = spec_sequences(lm, spec["histories"], spec, split="histories")
    F = spec_sequences(lm, spec["futures"], spec, split="futures")
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
        from logitrank import __version__
        outputs = {**spectrum_outputs(g, spec.get("fit_range", (0.01, 0.5))), "world_size": world,
                   "device": str(lm.device), "threads_used": torch.get_num_threads()}
        atomic_write_json(out_dir / "result.json", {"command": "torchrun spectrum", "inputs": to_jsonable(spec),
                                                    "outputs": outputs, "files": ["result.npz", "result.json"],
                                                    "package_version": __version__})
    if world > 1:
        dist.barrier()
    return g


def main(argv=None) -> None:
    """``python -m logitrank.real_models.distributed SPEC.json OUT_DIR`` (under torchrun or not)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(f"error: expected SPEC.json and OUT_DIR, got {len(argv)} argument(s); usage: torchrun "
              f"--nproc-per-node N -m logitrank.real_models.distributed SPEC.json OUT_DIR", file=sys.stderr)
        raise SystemExit(2)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    try:
        try:
            spec = json.loads(Path(argv[0]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"cannot read the spec {argv[0]}: {exc}") from None
        out = Path(argv[1])
        if out.exists() and not out.is_dir():
            raise InvalidInputError(f"output {out} is an existing file; give a directory")
        validate_spec(spec, world)
    except LogitRankError as exc:
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        run_spec(spec, argv[1])
    except LogitRankError as exc:
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
