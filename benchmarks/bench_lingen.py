"""Benchmark: LINGEN generation on SmolLM2, generic path vs incremental decoding, one process.

Generic: :func:`logitrank.theory.lingen.lingen_generate` on the wrapped model
(:class:`~logitrank.real_models.adapter.HFCausalLM`, its own KV reuse on, as shipped): every
step queries BOS∘h∘z_{<t} for every history h.
Ours: the same function on :class:`~logitrank.real_models.lingen_decoder.LinGenDecoder`
(history KV bank once, then one token per history per step).

Both draw from the same seeded rng, so the samples must be identical (checked and printed).
Tokens through the model are counted by a forward pre-hook on the transformers module, the
same for both paths. Histories are seeded random token ids: the cost of generation does not
depend on their content. Coefficients are seeded Gaussians / |H|.

    python benchmarks/bench_lingen.py [--histories 128 640] [--steps 6 4] [--samples 5 1] [--out docs/benchmarks/lingen.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np
import torch


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class TokenCounter:
    """Counts input tokens of every forward of a torch module."""

    def __init__(self, module):
        self.n = 0
        self._h = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.n += int(ids.numel())

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, nargs="+", default=[128, 640])
    ap.add_argument("--steps", type=int, nargs="+", default=[6, 4],
                    help="generation steps for each |H| (same order as --histories)")
    ap.add_argument("--samples", type=int, nargs="+", default=[5, 1],
                    help="samples generated together for each |H| (lingen_evaluate uses 5)")
    ap.add_argument("--history-length", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, all cores)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not len(args.steps) == len(args.samples) == len(args.histories):
        ap.error("--steps and --samples need one value per --histories value")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header, measured_gemm_peak

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.lingen_decoder import LinGenDecoder
    from logitrank.theory.lingen import lingen_generate

    lm = HFCausalLM.load("smollm2", device="cpu")
    counter = TokenCounter(lm.model)
    rng = np.random.default_rng(0)
    lines = [f"LINGEN generation, SmolLM2-135M-Instruct ({str(lm.dtype).replace('torch.', '')}) on CPU, "
             f"{args.threads} torch thread(s); histories of {args.history_length} tokens (+BOS)",
             *machine_header(args.threads).splitlines(),
             "model FLOPs = 2 × parameters per token through the model (attention scores not counted); "
             "% of the fp32 GEMM rate measured above"]
    peak = measured_gemm_peak(torch.float32, args.threads)
    flop_tok = 2 * lm.n_parameters
    # warm-up on a tiny problem (both paths)
    Hw = [rng.integers(0, lm.vocab_size, 4) for _ in range(4)]
    lingen_generate(lm, Hw, np.ones(4) / 4, 2, np.random.default_rng(0))
    lingen_generate(LinGenDecoder(lm, Hw), Hw, np.ones(4) / 4, 2, np.random.default_rng(0))
    lm.clear_kv_cache()
    counter.take()
    for n_hist, n_steps, n_samples in zip(args.histories, args.steps, args.samples):
        H = [rng.integers(0, lm.vocab_size, args.history_length) for _ in range(n_hist)]
        coef = rng.normal(size=n_hist) / n_hist
        t0 = time.perf_counter()
        generic = lingen_generate(lm, H, coef, n_steps, np.random.default_rng(1), n_samples=n_samples)
        t_generic, tok_generic = time.perf_counter() - t0, counter.take()
        lm.clear_kv_cache()
        t0 = time.perf_counter()
        dec = LinGenDecoder(lm, H)
        ours = lingen_generate(dec, H, coef, n_steps, np.random.default_rng(1), n_samples=n_samples)
        t_ours, tok_ours = time.perf_counter() - t0, counter.take()
        minimum = n_hist * (1 + args.history_length + n_samples * (n_steps - 1))
        lines += [
            f"|H| = {n_hist}, {n_steps} steps, {n_samples} sample(s) generated together:",
            f"  generic     (lingen_generate on HFCausalLM): {t_generic:8.2f} s  {tok_generic:8d} tokens through the model",
            f"  incremental (LinGenDecoder):                 {t_ours:8.2f} s  {tok_ours:8d} tokens "
            f"(minimum |H|*(1+|h|+samples*(steps-1)) = {minimum})",
            f"  speed-up {t_generic / t_ours:.1f}x, tokens ratio {tok_generic / tok_ours:.1f}x, "
            f"same samples: {bool(np.array_equal(generic, ours))}, history bank {dec.bank_bytes_ / 2**20:.1f} MiB",
            f"  model GFLOP/s: generic {tok_generic * flop_tok / t_generic / 1e9:.1f} "
            f"({100 * tok_generic * flop_tok / t_generic / 1e9 / peak:.0f}% of peak), incremental "
            f"{tok_ours * flop_tok / t_ours / 1e9:.1f} ({100 * tok_ours * flop_tok / t_ours / 1e9 / peak:.0f}% of peak; "
            f"one token per history per step: small GEMMs, latency-bound)",
        ]
        print("\n".join(lines[-5:]), flush=True)
        dec.clear()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"{_cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, {stamp}"
    print(header)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("# Benchmark: LINGEN generation, generic path vs incremental decoding\n\n")
            fh.write(header + "\n\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
