"""Figure ``reps_sim_cosines``: simulated within-concept cosines vs Jiang et al. Tables 1–2."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.reps_sim_cosines import EXPERIMENT, SimCosinesResult
from logitrank.paper_figs._style import plt, save
from logitrank.sim.paper_numbers import PAPER_TABLE1_SGD, PAPER_TABLE2_ADAM

NAME = EXPERIMENT.name
METRICS = ("unembedding", "embedding", "mixed")
PAPER = {"sgd": PAPER_TABLE1_SGD, "adam": PAPER_TABLE2_ADAM}


def _cells(results_dir: Path) -> dict:
    """``{(optimiser, m): cell}`` of the saved result."""
    return {(c.optimizer, c.m): c for c in SimCosinesResult.load(results_dir).cells}


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    """Bars of ours (mean ± std over seeds, dots = runs) next to the paper's mean ± s.e."""
    cells = _cells(results_dir)
    opts = [o for o in ("sgd", "adam") if any(k[0] == o for k in cells)]
    fig, axes = plt.subplots(len(opts), 2, figsize=(12, 3.6 * len(opts)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1.2]})
    for row, opt in enumerate(opts):
        ax = axes[row, 0]
        ms = sorted(m for o, m in cells if o == opt)
        for j, metric in enumerate(METRICS):
            x = np.arange(len(ms)) + (j - 1) * 0.27
            ours = [cells[(opt, m)].summary[metric] for m in ms]
            ax.bar(x - 0.06, [o["mean"] for o in ours], 0.12, yerr=[o["std"] for o in ours],
                   color=f"C{j}", label=f"ours: {metric}")
            for xi, m in zip(x, ms):
                runs = cells[(opt, m)].per_run[metric]
                ax.plot(np.full(len(runs), xi - 0.06), runs, "k.", ms=3)
            pap = [PAPER[opt][m][j] for m in ms]
            ax.bar(x + 0.06, [p[0] for p in pap], 0.12, yerr=[p[1] for p in pap], color=f"C{j}",
                   alpha=0.4, hatch="//", label=f"paper: {metric}")
        ax.set_xticks(range(len(ms)), [f"m={m}" for m in ms])
        ax.set_ylim(0, 1.05)
        ax.axhline(0.95, color="gray", lw=0.8, ls=":")
        lr = cells[(opt, ms[0])].config["lr"]
        ax.set_title(f"{opt.upper()} (lr {lr}): mean within-concept cosine")
        ax.legend(fontsize=7, ncol=3, loc="lower left")
        heat = np.array(cells[(opt, ms[-1])].heatmap_mean)
        im = axes[row, 1].imshow(heat, vmin=-1, vmax=1, cmap="RdBu_r")
        axes[row, 1].set_title(f"m={ms[-1]}: cos(Δ_i, Δ_j), mean over runs", fontsize=9)
        fig.colorbar(im, ax=axes[row, 1], fraction=0.046)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    """One row per (optimiser, m): our unembedding/embedding/mixed cosines next to the paper's."""
    cells = _cells(results_dir)
    out = []
    for (opt, m), c in sorted(cells.items(), key=lambda kv: (kv[0][0] != "sgd", kv[0][1])):
        s = c.summary
        pap = PAPER[opt][m]
        ours_u = s["unembedding"]["mean"]
        ok_u = ours_u >= 0.95 if opt == "sgd" else ours_u >= pap[0][0] - 0.05
        ok_all = all(s[k]["mean"] >= PAPER[opt][m][j][0] - 0.05 for j, k in enumerate(METRICS))
        verdict = "yes" if ok_u and ok_all else ("partly" if ok_u else "no")
        cfg = c.config
        out.append(Claim(
            lens="representations",
            claim=f"{opt.upper()}, m = {m}: steering vectors of one concept are parallel "
                  f"(unembedding / embedding / mixed cosine)",
            paper=" / ".join(f"{p[0]:.3f}±{p[1]:.3f}" for p in pap),
            ours=" / ".join(f"{s[k]['mean']:.3f}±{s[k]['std']:.3f}" for k in METRICS)
                 + f" (mean±std over {len(cfg['seeds'])} runs; unemb. median "
                   f"{np.median(c.per_run['unembedding']):.3f}, min {s['unembedding']['min']:.3f}; "
                   f"across-concept |cos| {s['across_abs']['mean']:.3f})",
            setting=f"random DAG (edge prob. {cfg['edge_prob']}), d = m, lr {cfg['lr']}, batch {cfg['batch_size']}, "
                    f"{cfg['n_steps']} steps, i.i.d. masks keep {cfg['keep_prob']}",
            verdict=verdict, figure=NAME))
    return out
