"""Benchmark: training throughput of the trained-LM family (real_models/training.py) on this machine.

For each preset (d64, d128, d256) and torch thread count (1, 2), run ``train_causal_lm`` for a
few steps on a random token stream (vocabulary 4096, seq_len 128, batch 16) and print the
training tokens per second it measured (optimizer steps only: validation and checkpoint
writes are excluded), and the 2-thread / 1-thread ratio. Used to size the quick profile of
``make figures`` (training on 2 CPU cores) and to extrapolate to ``--full`` on a GPU.

The numbers depend on what else runs on the machine; run under ``nice`` and say so.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_training_throughput.py [--steps 6]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--presets", default="d64,d128,d256")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=4096)
    args = ap.parse_args()

    from logitrank.real_models.training import (
        TRAINED_LM_PRESETS,
        TrainingConfig,
        build_trained_lm,
        train_bpe_tokenizer,
        train_causal_lm,
    )

    # A tokenizer of the requested size (its merges are irrelevant to the speed).
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon = ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(20000)]
    texts = [" ".join(rng.choice(lexicon, size=200)) for _ in range(500)]
    tok = train_bpe_tokenizer(texts, vocab_size=args.vocab, min_frequency=1)
    vocab = len(tok)
    need = (args.steps + 2) * args.batch * args.seq_len
    train = rng.integers(3, vocab, size=need)
    val = rng.integers(3, vocab, size=4 * args.seq_len)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch "
          f"{torch.__version__}, vocab {vocab}, batch {args.batch} x seq_len {args.seq_len}, {args.steps} steps")
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header, measured_gemm_peak
    thread_list = [int(x) for x in args.threads.split(",")]
    seen: list[str] = []
    for t in thread_list:
        for line in machine_header(t).splitlines():
            if line not in seen:
                seen.append(line)
                print(f"# {line}")
    print("# training FLOPs = 6 × parameters per token (forward + backward; attention scores not counted); "
          "% of the fp32 GEMM rate measured at that thread count")
    print(f"{'preset':>7} {'params':>9} {'threads':>7} {'tokens/s':>10} {'s/step':>7} {'GFLOP/s':>8} {'% peak':>6}")
    for name in args.presets.split(","):
        cfg = TRAINED_LM_PRESETS[name]
        rates = {}
        n_params = sum(p.numel() for p in build_trained_lm(cfg, vocab).parameters())
        for t in thread_list:
            torch.set_num_threads(t)
            tc = TrainingConfig(steps=args.steps, batch_size=args.batch, seq_len=args.seq_len, warmup_steps=1,
                                checkpoint_steps=(0, args.steps), val_windows=1, save_every=10**9)
            with tempfile.TemporaryDirectory() as d:
                run = train_causal_lm(train, val, tok, d, model_config=cfg, training=tc, device="cpu",
                                      progress=False)
            rates[t] = run.tokens_per_second
            rate = 6 * n_params * run.tokens_per_second / 1e9
            print(f"{name:>7} {n_params:>9,d} {t:>7d} {run.tokens_per_second:>10.0f} "
                  f"{run.seconds / args.steps:>7.2f} {rate:>8.1f} {100 * rate / measured_gemm_peak(torch.float32, t):>5.0f}%")
        if len(rates) == 2:
            a, b = sorted(rates)
            print(f"{name:>7} ratio {b} threads / {a} thread: {rates[b] / rates[a]:.2f}")


if __name__ == "__main__":
    main()
