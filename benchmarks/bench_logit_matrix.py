"""Benchmark: the same L(H, F) on SmolLM2, naive generic path vs the fast engine, one process.

Naive reference: :func:`logitrank.theory.logit_matrix.extended_logit_matrix` on the wrapped
model — one forward of BOS∘h∘f per (history, future) pair (batched 32 pairs at a time,
no KV reuse), full-vocabulary logits to the host as float64, then a dense SVD.
Ours: :class:`logitrank.real_models.engine.LogitMatrixEngine` — history KV computed once,
all futures of a chunk packed behind it with a prefix-tree mask, centered-unembedding
columns, streaming float64 Gram, √eig. Both paths are warmed up on a tiny problem first.

Prints the machine's measured fp32/fp64 GEMM rates at each thread count, both times, the
ratio, two bounds on it and the % of each reached — the FLOP bound (decoder-body FLOPs of the
tokens through the model plus the LM-head row every (history, future) pair needs on both
paths, naive ÷ engine: the speed-up a KV-reuse scheme doing the same per-token and per-pair
work can reach) and the plain token-count bound (tokens naive ÷ engine, which treats the
per-pair head as if it were free) — model GFLOP/s and % of the measured peak, the largest relative difference of the top-50 singular
values, and the engine's peak memory (extra RSS over the loaded model, sampled every 5 ms
in a fresh subprocess) at |F| and 4|F|. With ``--device cuda`` it also runs a larger
engine-only job and prints tokens/s and model-FLOP utilisation
MFU = tokens/s × 2 × parameters ÷ peak (989e12, H100 dense bf16).

    python benchmarks/bench_logit_matrix.py [--future-len 1,4,8] [--threads 1,2] [--out docs/benchmarks/logit_matrix.md]
    python benchmarks/bench_logit_matrix.py --device cuda --dtype bfloat16 --gpu-histories 1024 --gpu-futures 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

H100_BF16_PEAK = 989e12


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory above the level at entry (polled; CPU only)."""

    def __enter__(self):
        self.base = _rss_bytes()
        self.peak = self.base
        self._stop = False
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop:
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def extra_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _data(lm, n_h, len_h, n_f, len_f, seed):
    from logitrank.real_models.text_sources import model_samples
    H = model_samples(lm, n_h, len_h, seed)
    F = model_samples(lm, n_f, len_f, seed + 1)
    return H, F


def memory_probe(args) -> dict:
    """Run in a fresh process: engine peak extra RSS for one |F|."""
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    torch.set_num_threads(int(args.threads))
    lm = HFCausalLM.load("smollm2", device="cpu")
    H, F = _data(lm, args.histories, args.history_len, args.mem_futures, int(args.future_len), args.seed)
    eng = LogitMatrixEngine(lm, future_chunk=args.future_chunk, progress=False)
    eng.gram(H[:2], F[:2], rule="topk_average", k=args.k)          # warm-up outside the measurement
    with PeakRSS() as mem:
        g = eng.gram(H, F, rule="topk_average", k=args.k)
    return {"futures": len(F), "extra_mib": mem.extra_mib, "peak_total_mib": mem.peak / 2**20,
            "seconds": g.seconds}


def compare(args, lm, log, future_len: int, threads: int):
    """Naive vs engine on the same L(H, F) at ``threads`` torch threads; prints times, bound, rates."""
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.theory.logit_matrix import extended_logit_matrix
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import measured_gemm_peak
    torch.set_num_threads(threads)
    H, F = _data(lm, args.histories, args.history_len, args.futures, future_len, args.seed)
    log(f"L(H, F): |H| = {len(H)} histories of {args.history_len} tokens, |F| = {len(F)} futures of "
        f"{future_len} tokens, rule topk_average, k = {args.k} → matrix {len(H)} × {len(F) * args.k}; "
        f"{threads} torch thread(s)")
    eng = LogitMatrixEngine(lm, future_chunk=args.future_chunk, progress=False)
    # Warm both paths up on a tiny problem (first-call allocations and kernel selection).
    extended_logit_matrix(lm, H[:2], F[:2], rule="topk_average", k=args.k)
    eng.gram(H[:2], F[:2], rule="topk_average", k=args.k)
    lm.kv_reuse = False                      # the naive path: every pair from scratch
    lm.clear_kv_cache()
    t0 = time.perf_counter()
    ref = extended_logit_matrix(lm, H, F, rule="topk_average", k=args.k)
    s_ref = np.linalg.svd(ref.values, compute_uv=False)
    t_naive = time.perf_counter() - t0
    lm.kv_reuse = True
    if lm.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    g = eng.gram(H, F, rule="topk_average", k=args.k)
    s = g.singular_values()
    t_engine = time.perf_counter() - t0
    top = min(50, len(s_ref))
    rel = float(np.max(np.abs(s[:top] - s_ref[:top]) / s_ref[:top]))
    same_cols = bool(np.array_equal(g.column_tokens, ref.column_tokens))
    # Tokens through the model: the naive path runs prefix∘h∘f for every pair; the engine runs
    # prefix∘h once and f per pair. Their ratio bounds the speed-up of any KV-reuse scheme
    # that does the same per-token work.
    n_pre = len(lm.prefix_tokens)
    naive_tokens = sum(n_pre + len(h) + len(f) for h in H for f in F)
    bound = naive_tokens / g.tokens
    ratio = t_naive / t_engine
    # Model FLOPs, split: the decoder body, 2 x (parameters - unembedding) per token, and the LM
    # head, 2 V d per full-vocabulary logit row. Neither path runs the head on every token:
    # the naive path keeps one row per pair (logits_to_keep=1), the engine one row per pair
    # for the top-k average (plus one per history where the head is not the identity map).
    # That per-pair head is work no KV-reuse scheme can skip (the rule needs every pair's
    # full distribution), so the FLOP bound counts it on both sides; the token-count bound
    # above does not, and overstates what is reachable (attention scores, ~1% here, are not
    # counted in either).
    head_w = lm.model.get_output_embeddings().weight
    embeddings = {w.data_ptr(): w.numel() for w in (head_w, lm.model.get_input_embeddings().weight)}
    flop_head = 2 * head_w.shape[0] * head_w.shape[1]
    flop_body = 2 * (lm.n_parameters - sum(embeddings.values()))    # a lookup and the head are not body GEMMs
    pairs = len(H) * len(F)
    engine_heads = pairs + (len(H) if eng.head_mode == "logits" else 0)
    naive_flop = naive_tokens * flop_body + pairs * flop_head
    engine_flop = g.tokens * flop_body + engine_heads * flop_head
    flop_bound = naive_flop / engine_flop
    if lm.device.type == "cpu":
        peak, peak_name = measured_gemm_peak(torch.float32, threads), "the fp32 GEMM peak"
    else:                       # the GPU's own matmul rate at the model's dtype, measured in this run
        peak = measured_gemm_peak(lm.dtype, device=str(lm.device))
        peak_name = f"the {str(lm.dtype).replace('torch.', '')} GPU matmul rate"
    log(f"naive (generic path + dense SVD): {t_naive:8.2f} s   ({naive_tokens} tokens + {pairs} head rows = "
        f"{naive_flop / 1e9:.0f} GFLOP; {naive_flop / t_naive / 1e9:.1f} GFLOP/s = "
        f"{100 * naive_flop / t_naive / 1e9 / peak:.0f}% of {peak_name})")
    log(f"engine (KV bank + streaming Gram): {t_engine:8.2f} s   ({g.tokens} tokens + {engine_heads} head rows = "
        f"{engine_flop / 1e9:.0f} GFLOP; {engine_flop / t_engine / 1e9:.1f} GFLOP/s = "
        f"{100 * engine_flop / t_engine / 1e9 / peak:.0f}% of {peak_name})")
    log(f"speed-up: {ratio:.1f}x; FLOP bound (tokens x body + per-pair head, both paths) {flop_bound:.2f}x → "
        f"{100 * ratio / flop_bound:.0f}% of it reached; token-count bound {bound:.1f}x → "
        f"{100 * ratio / bound:.0f}%")
    log(f"max relative difference of the top-{top} singular values: {rel:.2e}   (target < 1e-4); "
        f"same columns: {same_cols}")
    return {"future_len": future_len, "threads": threads, "naive_s": t_naive, "engine_s": t_engine, "ratio": ratio,
            "bound": bound, "flop_bound": flop_bound, "max_rel_sv": rel, "engine_tokens": g.tokens, "naive_tokens": naive_tokens}


def gpu_throughput(args, lm, log):
    from logitrank.real_models.engine import LogitMatrixEngine
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import measured_gemm_peak
    lm.batch_size = 512
    H, F = _data(lm, args.gpu_histories, args.gpu_history_len, args.gpu_futures, args.gpu_future_len, args.seed)
    eng = LogitMatrixEngine(lm, future_chunk=args.gpu_future_chunk, max_batch_tokens=args.gpu_batch_tokens,
                            history_batch=256, max_kv_mib=args.gpu_max_kv_mib, progress=True)
    eng.gram(H[:8], F[:8], rule="topk_average", k=args.k)           # warm-up
    torch.cuda.synchronize()
    eng.tokens_processed = 0
    t0 = time.perf_counter()
    g = eng.gram(H, F, rule="topk_average", k=args.k)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tps = g.tokens / dt
    mfu = tps * 2 * lm.n_parameters / H100_BF16_PEAK
    measured = measured_gemm_peak(lm.dtype, device=str(lm.device)) * 1e9
    log(f"GPU engine: |H| = {len(H)} x {args.gpu_history_len} tokens, |F| = {len(F)} x {args.gpu_future_len} tokens, "
        f"k = {args.k}, dtype {args.dtype}: {dt:.1f} s, "
        f"{g.tokens} tokens, {tps:,.0f} tokens/s, MFU {100 * mfu:.2f}% of 989 TFLOP/s "
        f"({100 * tps * 2 * lm.n_parameters / measured:.2f}% of the {measured / 1e12:.0f} TFLOP/s matmul rate "
        f"measured in this run) "
        f"(2 × {lm.n_parameters / 1e6:.1f}M params per token; the top-k head and the Gram are extra work "
        f"not counted)")
    log(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return {"gpu_seconds": dt, "tokens_per_s": tps, "mfu": mfu}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", default=None,
                    help="comma-separated torch thread counts, e.g. 1,2 (default: torch's, all cores)")
    ap.add_argument("--histories", type=int, default=56)
    ap.add_argument("--futures", type=int, default=32)
    ap.add_argument("--history-len", type=int, default=32)
    ap.add_argument("--future-len", default="1", help="comma-separated future lengths, e.g. 1,4,8")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--future-chunk", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mem-futures", type=int, default=0, help="(internal) memory probe with this many futures")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--gpu-histories", type=int, default=1024)
    ap.add_argument("--gpu-futures", type=int, default=1024)
    ap.add_argument("--gpu-history-len", type=int, default=32)
    ap.add_argument("--gpu-future-len", type=int, default=8)
    ap.add_argument("--gpu-max-kv-mib", type=float, default=16384)
    ap.add_argument("--gpu-future-chunk", type=int, default=64)
    ap.add_argument("--gpu-batch-tokens", type=int, default=65536)
    ap.add_argument("--out", type=Path, default=None, help="write the printed report here (Markdown)")
    args = ap.parse_args(argv)
    if args.mem_futures:
        print(json.dumps(memory_probe(args)))
        return
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    future_lens = [int(x) for x in str(args.future_len).split(",")]
    args.threads, args.future_len = threads[-1], future_lens[0]         # for the memory probe
    torch.set_num_threads(threads[-1])
    lines = []

    def log(msg=""):
        print(msg, flush=True)
        lines.append(msg)

    from logitrank.real_models.adapter import HFCausalLM
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header
    dev = torch.device(args.device)
    machine = (f"{torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
               else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    log(f"# Benchmark: extended logit matrix L(H, F), SmolLM2-135M-Instruct ({args.dtype}) on {machine}")
    log("")
    log(f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    log("")
    log("```")
    for t in threads:
        for line in machine_header(t, args.device).splitlines():
            if line not in lines:
                log(line)
    log("model FLOPs = 2 × (parameters − unembedding) per token through the model + 2 × V × d per "
        "full-vocabulary head row (one per (history, future) pair on both paths); attention scores, softmax "
        "and the Gram not counted; % against the fp32 GEMM rate measured at the run's thread count")
    lm = HFCausalLM.load("smollm2", device=dev, dtype=args.dtype)
    runs = []
    for fl in future_lens:
        for t in threads:
            log("")
            runs.append(compare(args, lm, log, fl, t))
    if len(threads) > 1:
        for fl in future_lens:
            r = {x["threads"]: x for x in runs if x["future_len"] == fl}
            a_, b_ = min(threads), max(threads)
            log(f"thread scaling {a_} → {b_}, {fl}-token futures: engine {r[a_]['engine_s'] / r[b_]['engine_s']:.2f}x, "
                f"naive {r[a_]['naive_s'] / r[b_]['naive_s']:.2f}x")
    res = {"runs": runs}
    torch.set_num_threads(threads[-1])
    if not args.skip_memory and dev.type == "cpu":
        mem = []
        for nf in (args.futures, 4 * args.futures):
            cmd = [sys.executable, __file__, "--mem-futures", str(nf), "--histories", str(args.histories),
                   "--history-len", str(args.history_len), "--future-len", str(args.future_len),
                   "--k", str(args.k), "--future-chunk", str(args.future_chunk), "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            mem.append(json.loads(out))
            log(f"engine peak extra memory at |F| = {nf:4d}: {mem[-1]['extra_mib']:7.1f} MiB over the loaded "
                f"model (process peak {mem[-1]['peak_total_mib']:.0f} MiB); dense L would be "
                f"{args.histories * nf * args.k * 8 / 2**20:.1f} MiB float64")
        growth = mem[1]["peak_total_mib"] / mem[0]["peak_total_mib"] - 1
        growth_extra = mem[1]["extra_mib"] / max(mem[0]["extra_mib"], 1e-9) - 1
        log(f"growth |F| → 4|F|: process peak {100 * growth:+.1f}%, engine's own extra {100 * growth_extra:+.1f}% "
            f"(target: < 20%)")
        res["memory"] = mem
    if dev.type == "cuda":
        res.update(gpu_throughput(args, lm, log))
    log("```")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return res


if __name__ == "__main__":
    main()
