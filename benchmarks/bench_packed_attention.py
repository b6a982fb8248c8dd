"""Benchmark: the engine's packed future attention, dense with a block mask vs prefix + own-future only.

The engine (``real_models/engine.py``, design point 1) packs a chunk of futures behind each
history and runs them in one forward with a prefix-tree mask, so every future token's
attention scores cover the prefix *and all packed futures' keys*, most of them masked. The
exact alternative computes, per future, scores over the prefix keys (shared, one batched
product) and over its own keys only (block-diagonal), one softmax over both parts. This
script times the two attention computations at SmolLM2-135M's shapes (9 query heads, 3 KV
heads, head dim 64, 30 layers) for 1-, 4- and 8-token futures after 32-token histories
(+BOS), checks they agree, and relates the attention time to the engine's whole packed
forward measured on the real model in the same process, so the possible end-to-end gain
(share of attention × saving) is printed, not guessed.

    python benchmarks/bench_packed_attention.py [--threads 1] [--future-len 1,4,8]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as Fn

HEADS, KV_HEADS, HEAD_DIM, LAYERS = 9, 3, 64, 30


def dense_attention(q, k, v, mask):
    """What the engine runs today: SDPA over prefix + all packed keys with the boolean block mask."""
    g = HEADS // KV_HEADS
    return Fn.scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1),
                                           attn_mask=mask, scale=HEAD_DIM ** -0.5)


def split_attention(q, k, v, prefix: int, n_futures: int, length: int):
    """Exact alternative: scores over the prefix (shared keys) and the own future only, one softmax."""
    b, g = q.shape[0], HEADS // KV_HEADS
    qg = q.reshape(b, KV_HEADS, g, n_futures, length, HEAD_DIM)
    kp, vp = k[:, :, None, :prefix], v[:, :, None, :prefix]
    kf = k[:, :, prefix:].reshape(b, KV_HEADS, 1, n_futures, length, HEAD_DIM)
    vf = v[:, :, prefix:].reshape(b, KV_HEADS, 1, n_futures, length, HEAD_DIM)
    sp = (qg.reshape(b, KV_HEADS, g, n_futures * length, HEAD_DIM) @ kp.transpose(-1, -2))
    sp = sp.reshape(b, KV_HEADS, g, n_futures, length, prefix)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    sf = (qg @ kf.transpose(-1, -2)).masked_fill(~causal, float("-inf"))
    w = torch.softmax(torch.cat([sp, sf], dim=-1) * HEAD_DIM ** -0.5, dim=-1)
    out = (w[..., :prefix].reshape(b, KV_HEADS, g, n_futures * length, prefix) @ vp)
    out = out.reshape(b, KV_HEADS, g, n_futures, length, HEAD_DIM) + w[..., prefix:] @ vf
    return out.reshape(b, HEADS, n_futures * length, HEAD_DIM)


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, all cores)")
    ap.add_argument("--future-len", default="1,4,8")
    ap.add_argument("--histories", type=int, default=32)
    ap.add_argument("--history-len", type=int, default=32)
    ap.add_argument("--future-chunk", type=int, default=16)
    ap.add_argument("--max-batch-tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    print("```")
    print(machine_header(threads))
    lm = HFCausalLM.load("smollm2", device="cpu")
    eng = LogitMatrixEngine(lm, future_chunk=args.future_chunk, max_batch_tokens=args.max_batch_tokens, progress=False)
    rng = np.random.default_rng(0)
    H = [rng.integers(2, lm.vocab_size, args.history_len) for _ in range(args.histories)]
    prefix = args.history_len + len(lm.prefix_tokens)
    with torch.no_grad():
        bank = eng._bank(H)
        for length in (int(x) for x in args.future_len.split(",")):
            F = [rng.integers(2, lm.vocab_size, length) for _ in range(args.future_chunk)]
            eng._chunk_features(bank, F, len(H))                                   # warm-up
            t_forward = _best(functools.partial(eng._chunk_features, bank, F, len(H)), args.repeats)
            S = args.future_chunk * length
            rows = max(1, min(len(H), args.max_batch_tokens // S))              # the engine's rows per forward
            gen = torch.Generator().manual_seed(1)
            q = torch.randn(rows, HEADS, S, HEAD_DIM, generator=gen)
            k = torch.randn(rows, KV_HEADS, prefix + S, HEAD_DIM, generator=gen)
            v = torch.randn(rows, KV_HEADS, prefix + S, HEAD_DIM, generator=gen)
            seg, within = torch.arange(S) // length, torch.arange(S) % length
            own = (seg[:, None] == seg[None, :]) & (within[None, :] <= within[:, None])
            mask = torch.cat([torch.ones(S, prefix, dtype=torch.bool), own], 1).expand(rows, 1, S, prefix + S)
            err = float((dense_attention(q, k, v, mask) - split_attention(q, k, v, prefix, args.future_chunk,
                                                                          length)).abs().max())
            t_dense = _best(functools.partial(dense_attention, q, k, v, mask), 4 * args.repeats)
            t_split = _best(functools.partial(split_attention, q, k, v, prefix, args.future_chunk, length),
                            4 * args.repeats)
            groups = -(-len(H) // rows)
            share = LAYERS * groups * t_dense / t_forward
            gain = share * (1 - t_split / t_dense)
            flops_dense = 4 * HEADS * HEAD_DIM * S * (prefix + S) * rows
            flops_split = 4 * HEADS * HEAD_DIM * S * (prefix + length) * rows
            print(f"{length}-token futures, {args.future_chunk} per chunk packed behind {prefix}-token prefixes, "
                  f"{rows} rows per forward: attention per layer dense {1e3 * t_dense:.2f} ms "
                  f"({flops_dense / 1e6:.0f} MFLOP), prefix + own {1e3 * t_split:.2f} ms "
                  f"({flops_split / 1e6:.0f} MFLOP), {t_dense / t_split:.2f}x; max |diff| {err:.1e}; "
                  f"engine's packed forward of the chunk {1e3 * t_forward:.0f} ms, attention {100 * share:.0f}% of it "
                  f"→ at most {100 * gain:+.1f}% end to end")
    print("```")


if __name__ == "__main__":
    main()
