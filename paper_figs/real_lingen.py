"""Figure + table: LINGEN on SmolLM2 with model-sampled and nonsense histories, 15 steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from logitrank.jobs import Claim
from logitrank.paper_figs._style import plt, save

NAME = "real_lingen"
LABELS = {"lingen": "LINGEN", "next_token_only": "next-token-only fit (F = {∅})", "last_m_tokens": "last 5 prompt tokens"}
OPTIONS = {"in_distribution": ("model-sampled histories (Option 1)", (2.85, 10.79, 17.77)),
           "nonsense": ("nonsense histories and futures (Option 2)", (4.95, 14.41, 17.56))}


def _load(results_dir):
    d = Path(results_dir)
    cfg = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
    return {o: np.load(d / f"lingen_{o}.npz") for o in OPTIONS if (d / f"lingen_{o}.npz").exists()}, cfg


def totals(results_dir: Path) -> dict:
    """Total KL over the steps, mean over targets (and samples), per option and method."""
    res, _ = _load(results_dir)
    return {o: {m: float(r[m].sum(axis=1).mean()) for m in LABELS if m in r.files} for o, r in res.items()}


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    res, cfg = _load(results_dir)
    fig, axes = plt.subplots(1, len(res), figsize=(4.2 * len(res), 3.4), squeeze=False, sharey=True)
    for ax, (opt, r) in zip(axes[0], res.items()):
        for i, m in enumerate(LABELS):
            if m not in r.files:
                continue
            kl = r[m]
            steps = np.arange(1, kl.shape[1] + 1)
            ax.plot(steps, kl.mean(axis=0), "o-", ms=3, color=f"C{i}", label=f"{LABELS[m]} (total {kl.sum(axis=1).mean():.2f})")
        paper = OPTIONS[opt][1]
        ax.set_title(f"{OPTIONS[opt][0]}\npaper totals (OLMo-1b): {paper[0]} / {paper[1]} / {paper[2]}", fontsize=7)
        ax.set_xlabel("generation step")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("KL(P_true ‖ P_method), mean")
    return save(fig, figures_dir, NAME)


def table_markdown(results_dir: Path) -> str:
    """The paper-style table: total KL over 15 steps, ours vs OLMo-1b."""
    tot = totals(results_dir)
    lines = ["| histories | LINGEN | next-token-only | last 5 tokens |", "|---|---|---|---|"]
    for opt, (name, paper) in OPTIONS.items():
        if opt in tot:
            t = tot[opt]
            lines.append(f"| {name}: SmolLM2 (ours) | {t.get('lingen', float('nan')):.2f} | "
                         f"{t.get('next_token_only', float('nan')):.2f} | {t.get('last_m_tokens', float('nan')):.2f} |")
        lines.append(f"| {name}: OLMo-1b (paper) | {paper[0]} | {paper[1]} | {paper[2]} |")
    return "\n".join(lines)


def claims(results_dir: Path) -> list[Claim]:
    res, cfg = _load(results_dir)
    tot = totals(results_dir)
    out = []
    for opt, (name, paper) in OPTIONS.items():
        if opt not in tot:
            continue
        t = tot[opt]
        r = res[opt]
        n_t = r["lingen"].shape[0]
        beats = [t["lingen"] < t[b] for b in ("next_token_only", "last_m_tokens") if b in t]
        v = "yes" if all(beats) else ("partly" if any(beats) else "no")
        empty = " + the empty future" if cfg.get("include_empty_future") else ""
        setting = (f"SmolLM2-135M-Instruct, {name}; |H| = {cfg.get('n_histories')}, |F| = {cfg.get('n_futures')}{empty} "
                   f"(k = {cfg.get('k')}, {cfg.get('rule')}), {n_t} targets × {cfg.get('n_samples')} samples, "
                   f"{cfg.get('n_steps')} steps, KL(P_true ‖ P_method)")
        out.append(Claim("logits", f"LINGEN beats both baselines in total KL over 15 steps ({name})",
                         f"OLMo-1b: LINGEN {paper[0]} vs next-token-only {paper[1]} vs last-5 {paper[2]}",
                         f"LINGEN {t['lingen']:.2f} vs next-token-only {t.get('next_token_only', float('nan')):.2f} "
                         f"vs last-5 {t.get('last_m_tokens', float('nan')):.2f}", setting, v, NAME))
    return out
