"""Benchmark: L(H, F) of a state-space model (Mamba), every pair in full vs the state bank, one process.

Naive reference: :class:`logitrank.real_models.engine.LogitMatrixEngine` with ``path="naive"`` —
prefix ∘ h ∘ f run in full for every (history, future) pair, grouped by length (no cache).
Ours: the same engine with ``path="auto"``, which on a Mamba checks and takes ``step``: each
history runs once, its recurrent state (conv + SSM state of every layer, a fixed size whatever
|h|) is copied per future and advanced one token per forward. Same columns (top-k of the average
distribution), same float64 Gram; the singular values are compared.

The model is a random-init Mamba of the given width (transformers' ``MambaForCausalLM``,
float32): what is measured is the cost of the forward passes, which does not depend on training.
Printed: both times, the ratio, the token-count bound (tokens naive ÷ tokens ours) and the FLOP
bound (body FLOPs 2 × (parameters − embeddings) per token plus one LM-head row per pair on both
paths) with the % of each reached, and the bytes kept per history — the state bank's against the
key/value bank a Llama of the same width, depth and |h| would keep.

    python benchmarks/bench_state_bank.py [--histories 48] [--history-len 64] [--futures 32] [--future-len 4]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def _mamba(args):
    from transformers import MambaConfig, MambaForCausalLM

    from logitrank.real_models.adapter import HFCausalLM
    cfg = MambaConfig(vocab_size=args.vocab, hidden_size=args.width, num_hidden_layers=args.layers,
                      state_size=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    model = MambaForCausalLM(cfg).eval()
    return HFCausalLM(model, None, prefix_tokens=[0], name=f"mamba-d{args.width}-L{args.layers}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--histories", type=int, default=48)
    ap.add_argument("--history-len", type=int, default=64)
    ap.add_argument("--futures", type=int, default=32)
    ap.add_argument("--future-len", type=int, default=4)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the report here (Markdown)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header, measured_gemm_peak

    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.family import cache_nbytes
    lines = []

    def log(msg=""):
        print(msg, flush=True)
        lines.append(msg)

    warnings.simplefilter("ignore")      # transformers' notes on its torch fallback kernels
    lm = _mamba(args)
    log(f"# Benchmark: state bank vs every pair in full, {lm.name} (float32, CPU)")
    log("")
    log("```")
    log(machine_header(threads))
    rng = np.random.default_rng(0)
    H = [rng.integers(2, args.vocab, size=args.history_len) for _ in range(args.histories)]
    F = [rng.integers(2, args.vocab, size=args.future_len) for _ in range(args.futures)]
    log(f"L(H, F): |H| = {len(H)} × {args.history_len} tokens, |F| = {len(F)} × {args.future_len} tokens, "
        f"topk_average, k = {args.k} → {len(H)} × {len(F) * args.k}; {threads} torch thread(s)")
    ours = LogitMatrixEngine(lm, progress=False)
    naive = LogitMatrixEngine(lm, path="naive", progress=False)
    ours.gram(H[:2], F[:2], rule="topk_average", k=args.k)           # warm-up (and the path check)
    naive.gram(H[:2], F[:2], rule="topk_average", k=args.k)
    t0 = time.perf_counter()
    g_naive = naive.gram(H, F, rule="topk_average", k=args.k)
    s_naive = g_naive.singular_values()
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = ours.gram(H, F, rule="topk_average", k=args.k)
    s = g.singular_values()
    t_ours = time.perf_counter() - t0
    top = min(50, len(s))
    rel = float(np.max(np.abs(s[:top] - s_naive[:top]) / s_naive[:top]))
    head_w = lm.model.get_output_embeddings().weight
    emb = {w.data_ptr(): w.numel() for w in (head_w, lm.model.get_input_embeddings().weight)}
    flop_body = 2 * (lm.n_parameters - sum(emb.values()))
    flop_head = 2 * head_w.shape[0] * head_w.shape[1]
    pairs = len(H) * len(F)
    heads_ours = pairs + (len(H) if ours.head_mode == "logits" else 0)
    naive_flop = g_naive.tokens * flop_body + pairs * flop_head
    ours_flop = g.tokens * flop_body + heads_ours * flop_head
    peak = measured_gemm_peak(torch.float32, threads)
    token_bound = g_naive.tokens / g.tokens
    flop_bound = naive_flop / ours_flop
    ratio = t_naive / t_ours
    log(f"path taken: {ours.path_} (checked against full forwards; faster candidates rejected: "
        f"{ours.path_notes_ or 'none'})")
    log(f"naive (every pair in full): {t_naive:7.2f} s  ({g_naive.tokens} tokens, {naive_flop / 1e9:.1f} GFLOP, "
        f"{naive_flop / t_naive / 1e9:.1f} GFLOP/s = {100 * naive_flop / t_naive / 1e9 / peak:.0f}% of fp32 peak)")
    log(f"state bank:                 {t_ours:7.2f} s  ({g.tokens} tokens, {ours_flop / 1e9:.1f} GFLOP, "
        f"{ours_flop / t_ours / 1e9:.1f} GFLOP/s = {100 * ours_flop / t_ours / 1e9 / peak:.0f}% of fp32 peak)")
    log(f"speed-up {ratio:.2f}x; token-count bound {token_bound:.2f}x → {100 * ratio / token_bound:.0f}% reached; "
        f"FLOP bound {flop_bound:.2f}x → {100 * ratio / flop_bound:.0f}% reached")
    log(f"max relative difference of the top-{top} singular values: {rel:.2e}; same columns: "
        f"{bool(np.array_equal(g.column_tokens, g_naive.column_tokens))}")
    bank = ours._passes.bank(H[:4], "step")
    state_row = cache_nbytes(bank[0].cache) / len(bank[0].sel)
    d, L = args.width, args.layers
    kv_row = 2 * L * (1 + args.history_len) * d * 4     # Llama of the same width/depth, float32, MHA
    log(f"kept per history: state {state_row / 1024:.1f} KiB (any |h|) vs {kv_row / 1024:.1f} KiB of keys/values "
        f"for a Llama of width {d}, {L} layers at |h| = {args.history_len} (grows with |h|)")
    log("```")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return {"ratio": ratio, "token_bound": token_bound, "flop_bound": flop_bound, "max_rel_sv": rel}


if __name__ == "__main__":
    main()
