"""Figure: held-out loss of the trained family (``trained_lms``) at its checkpoints, from step 0."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.trained_lms import TrainedLMsResult
from logitrank.paper_figs._style import plt, save

NAME = "trained_lms"


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    res = TrainedLMsResult.load(results_dir)
    fig, ax = plt.subplots(figsize=(4.6, 3.3))
    for i, m in enumerate(res.models):
        x = np.maximum(np.asarray(m.tokens_seen, float), 1.0)
        ax.semilogx(x, m.val_loss, "o-", ms=3, color=f"C{i}", label=f"{m.width} ({m.n_parameters / 1e6:.2f} M params)")
    ax.axhline(math.log(res.vocab_size), color="k", lw=0.8, ls=":", label=f"ln |V| = {math.log(res.vocab_size):.2f}")
    ax.set_xlabel("training tokens seen (step 0 drawn at 1)")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title(f"trained family on {res.config['corpus']}: BPE {res.vocab_size}, "
                 f"{len(res.heldout_documents)} held-out documents", fontsize=8)
    ax.legend(fontsize=7)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    res = TrainedLMsResult.load(results_dir)
    ours = "; ".join(f"{m.width}: {m.val_loss[0]:.2f} → {m.val_loss[-1]:.2f} after {m.tokens_seen[-1]:,} tokens "
                     f"({m.tokens_per_second:.0f} tokens/s, {m.train_seconds:.0f} s)" for m in res.models)
    setting = (f"Llama presets {', '.join(m.width for m in res.models)}, BPE {res.vocab_size} trained on "
               f"{res.n_train_tokens:,} tokens of {res.config['corpus']}; held-out documents "
               f"{', '.join(res.heldout_documents)}; {res.threads} torch thread(s)")
    return [Claim("logits", "Our trained LMs learn the held-out real text (held-out loss, step 0 → last checkpoint)",
                  "n/a (a checkpoint series from step 0 stands in for OLMo-1b's, which does not ship here)", ours,
                  setting, "n/a", NAME)]
