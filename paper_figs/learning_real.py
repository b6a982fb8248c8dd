"""Figure: the query learner on SmolLM2 restricted to a few tokens (experimental)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.learning_smollm2 import EXPERIMENT, SmolLM2LearningResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name


def _load(results_dir: Path) -> SmolLM2LearningResult:
    return SmolLM2LearningResult.load(results_dir)


def _label(d):
    return "none" if d is None else str(d)


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    res = _load(results_dir)
    runs = res.runs
    x = np.arange(len(runs))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.errorbar(x, [r.tv for r in runs], yerr=[2 * r.tv_stderr for r in runs], fmt="o-")
    a1.axhline(0.05, color="k", lw=0.8, ls="--")
    a1.set_xticks(x, [_label(r.max_rank) for r in runs])
    a1.set_xlabel("rank cap d (max basis per cut)")
    a1.set_ylabel("TV to restricted SmolLM2 (sampled ± 2 s.e.)")
    a2.bar(x, [r.queries for r in runs], color="C0", label="logit queries")
    a2.axhline(res.all_prefixes, color="C3", ls=":", label=f"all prefixes (tabular): {res.all_prefixes}")
    a2.set_xticks(x, [_label(r.max_rank) for r in runs])
    a2.set_xlabel("rank cap d")
    a2.set_ylabel("queries")
    a2.legend(fontsize=7)
    fig.suptitle(f"SmolLM2-135M-Instruct, prompt {res.prompt!r}, tokens {list(res.tokens)}, T = {res.horizon}",
                 fontsize=8)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    res = _load(results_dir)
    runs = res.runs
    capped = [r for r in runs if r.max_rank is not None]
    best = min(capped or runs, key=lambda r: r.tv)

    def cell(r):
        ex = "" if r.tv_exact is None else f" (exact {r.tv_exact:.3f})"
        return (f"d={_label(r.max_rank)}: TV {r.tv:.3f}±{r.tv_stderr:.3f}{ex}, {r.queries} queries, "
                f"ranks {list(r.ranks)}{'' if r.converged else ', not converged'}")
    table = "; ".join(cell(r) for r in runs)
    verdict = "partly" if best.tv <= 0.1 else "no"
    return [Claim("logits", "[experimental] Query learner applied to a real LM (SmolLM2-135M restricted to "
                  f"{res.vocab_size} tokens, T = {res.horizon}); the restriction is not exactly low "
                  "logit rank, so TV falls with the rank cap",
                  "n/a (paper 2 proves the guarantee for exact / approximately low logit rank; no LM run)",
                  f"{table}; all {res.all_prefixes} prefixes = tabular cost",
                  f"prompt {res.prompt!r}, tokens {list(res.tokens)}, ε = {res.epsilon}, TV sampled "
                  f"({res.tv_samples} samples) and exact by enumeration",
                  verdict, NAME)]
