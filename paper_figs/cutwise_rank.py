"""Figure: cut-wise logit rank vs hidden dimension (Theorem 4.3, 'only if')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.cutwise_rank_vs_dimension import EXPERIMENT, CutwiseRankResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    r = CutwiseRankResult.load(results_dir)
    dims, ranks = r.dims, r.isan_max_rank
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for s in range(ranks.shape[1]):
        ax.scatter(dims + 0.08 * (s - ranks.shape[1] / 2), ranks[:, s], s=12, color="C0",
                   label="random ISAN (max over cuts)" if s == 0 else None)
    ax.plot(dims, dims, "k--", lw=1, label="bound rank ≤ d")
    cap = int(r.max_possible_rank.max())
    ax.axhline(cap, color="gray", lw=0.8, ls=":", label=f"largest possible rank ({cap})")
    for i, k in enumerate(r.hmm_states):
        ax.scatter(np.full(r.hmm_max_rank.shape[1], k), r.hmm_max_rank[i], marker="x", color="C3",
                   label="random HMM, d = #states" if i == 0 else None)
    ax.set_xlabel("hidden dimension d")
    ax.set_ylabel("max cut-wise logit rank")
    ax.set_title(f"|Σ|={r.vocab_size}, T={r.horizon}")
    ax.legend(fontsize=7)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    r = CutwiseRankResult.load(results_dir)
    ok = bool(np.all(r.isan_max_rank <= r.dims[:, None]))
    tight = float(np.mean(r.isan_max_rank == np.minimum(r.dims[:, None], r.max_possible_rank.max())))
    hmm = ", ".join(f"k={k}: {int(m)}" for k, m in zip(r.hmm_states, r.hmm_max_rank.max(axis=1)))
    return [
        Claim("logits", "Time-varying ISAN of dimension d has every cut-wise logit rank ≤ d (Thm 4.3)",
              "rank ≤ d (theorem)",
              f"max rank ≤ d in {'all' if ok else 'NOT all'} {r.isan_max_rank.size} models; "
              f"= d in {tight:.0%}", f"random ISANs |Σ|={r.vocab_size}, T={r.horizon}, "
              f"d={int(r.dims[0])}..{int(r.dims[-1])}", "yes" if ok else "no", NAME),
        Claim("logits", "Low probability rank does not imply low logit rank (HMM contrast)",
              "n/a (not in the paper)", f"max cut-wise logit rank of random HMMs: {hmm}",
              f"|Σ|={r.vocab_size}, T={r.horizon}", "n/a", NAME),
    ]
