"""Figure: the α = 1/2 phase transition — rank needed for a fixed relative error vs size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.alpha_phase_transition import EXPERIMENT, PhaseTransitionResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    r = PhaseTransitionResult.load(results_dir)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    cmap = plt.get_cmap("coolwarm")
    for i, a in enumerate(r.alphas):
        c = cmap(i / max(len(r.alphas) - 1, 1))
        ax.loglog(r.sizes, np.maximum(r.ranks[i], 1), "o-", ms=3, color=c, label=f"α = {a:g}")
        ax.loglog(r.sizes, r.predicted[i], ":", color=c, lw=1)
    ax.set_xlabel("matrix size N (number of singular values)")
    ax.set_ylabel(f"rank for relative Frobenius error {r.rel_err:g}")
    ax.set_title("σ_i = i^(−α): saturates for α > 1/2, grows ∝ N for α < 1/2\n(dotted: continuum prediction)",
                 fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    r = PhaseTransitionResult.load(results_dir)
    a, sl = r.alphas, r.last_decade_slope
    below = ", ".join(f"α={x:g}: {s:.2f}" for x, s in zip(a, sl) if x < 0.5)
    above = ", ".join(f"α={x:g}: {s:.2f}" for x, s in zip(a, sl) if x > 0.5)
    ok_below = bool(np.all(sl[a < 0.5] > 0.8))
    ok_above = bool(np.all(sl[a >= 0.8] < 0.2))
    return [Claim(
        "logits", "α = 1/2 is a phase transition: constant rank suffices iff α > 1/2 (§3.1)",
        "α > 1/2: rank independent of size; α < 1/2: rank ∝ size",
        f"slope d log r/d log N over the last decade — below 1/2: {below}; above: {above}",
        f"exact spectra σ_i=i^(−α), N up to {int(r.sizes[-1]):,}, rel. error {r.rel_err:g}",
        "yes" if ok_below and ok_above else "partly", NAME)]
