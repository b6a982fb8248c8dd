"""Figure and claims of ``weights_removal``: ΔPPL when one singular-value decile of one
matrix type is zeroed in all blocks (types × deciles heatmap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.weights_removal import EXPERIMENT, RemovalResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name

SHORT = {"query": "Q", "key": "K", "value": "V", "attention_output": "O", "gate": "gate", "up": "up", "down": "down"}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ranks by argsort; a descriptive summary of saved results)."""
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def _text_name(meta: RemovalResult) -> str:
    return "Shakespeare plays (Gutenberg)" if meta.text == "shakespeare" else Path(meta.text).name


def _load(results_dir: Path):
    r = RemovalResult.load(results_dir)
    return r, r.delta_perplexity


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    meta, delta = _load(results_dir)
    types = meta.types
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(types) + 1.8))
    shown = np.where(np.isfinite(delta), delta, np.nan)      # inf = perplexity overflow (model destroyed)
    im = ax.imshow(np.log10(np.maximum(shown, 0) + 1e-3), aspect="auto", cmap="magma")
    for i in range(delta.shape[0]):
        for j in range(delta.shape[1]):
            ax.text(j, i, f"{delta[i, j]:.3g}", ha="center", va="center", fontsize=6, color="c")
    ax.set_xticks(range(delta.shape[1]), [f"D{d}" for d in range(1, delta.shape[1] + 1)], fontsize=7)
    ax.set_yticks(range(len(types)), [f"{SHORT[t]} {tuple(meta.shapes[t])}" for t in types], fontsize=7)
    ax.set_xlabel("decile removed (D1 = smallest singular values)", fontsize=8)
    ax.set_title(f"SmolLM2: ΔPPL (base {meta.base_perplexity:.2f}, {meta.n_tokens} held-out tokens of "
                 f"{_text_name(meta)}); colour log10 ΔPPL", fontsize=8)
    fig.colorbar(im, ax=ax)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    meta, delta = _load(results_dir)
    types = meta.types
    setting = (f"SmolLM2-135M (dequantised Q4_1), decile zeroed in all 30 blocks, PPL on {meta.n_tokens} held-out "
               f"tokens of real text ({_text_name(meta)}: {len(meta.sources)} seeded non-overlapping windows of "
               f"{meta.length} tokens after BOS, from {len({d for d, _ in meta.sources})} documents), "
               f"base PPL {meta.base_perplexity:.2f}")
    out = []
    top = [t for i, t in enumerate(types) if int(np.argmax(delta[i])) == delta.shape[1] - 1]
    out.append(Claim("weights", "Removing the largest decile always hurts most", "D10 most harmful for every type (Fig. 5)",
                     f"D10 largest ΔPPL for {len(top)}/{len(types)} types ({', '.join(SHORT[t] for t in top)})",
                     setting, "yes" if len(top) == len(types) else "partly", NAME))
    rect = [t for t in ("gate", "up", "down", "key", "value") if t in types
            and meta.shapes[t][0] != meta.shapes[t][1]]
    parts, wins = [], 0
    for t in rect:
        d = delta[types.index(t)]
        rank = int(np.sum(d > d[0])) + 1          # 1 = most harmful
        mid = float(np.median(d[3:7]))
        wins += d[0] > mid
        parts.append(f"{SHORT[t]}: ΔD1 {d[0]:.3g} vs median ΔD4–D7 {mid:.3g} (D1 rank {rank}/10)")
    out.append(Claim("weights", "For rectangular (MLP) matrices the smallest decile matters more than middle deciles",
                     "Llama-3-8B Down: D1 2nd most important (GSM8K 43.2% → 2.0%); non-square D1 > some larger "
                     "deciles (Fig. 5)", "; ".join(parts), setting,
                     "yes" if rect and wins == len(rect) else ("partly" if wins else "no"), NAME))
    sq = [t for t in ("query", "attention_output") if t in types]
    mono = []
    for t in sq:
        d = delta[types.index(t)]
        mono.append(f"{SHORT[t]} Spearman(decile, ΔPPL) = {_spearman(np.arange(d.size), d):.2f}, "
                    f"ΔD1 {d[0]:.3g}")
    out.append(Claim("weights", "For square matrices the impact falls monotonically from D10 to D1",
                     "monotone for square matrices (Fig. 5)", "; ".join(mono), setting, "n/a" if not sq else
                     ("yes" if all(float(m.split('= ')[1].split(',')[0]) > 0.8 for m in mono) else "partly"),
                     NAME))
    return out
