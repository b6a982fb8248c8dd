"""Drawing and claims of a real-model LINGEN result (shared by ``real_lingen`` and ``trained_lm_lingen``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.real_lingen import METHODS, RealLingenResult
from logitrank.paper_figs._style import plt, save

LABELS = {"lingen": "LINGEN", "next_token_only": "next-token-only fit (F = {∅})",
          "last_m_tokens": "last 5 prompt tokens"}
OPTIONS = {"in_distribution": ("real-text histories (Option 1)", (2.85, 10.79, 17.77)),
           "nonsense": ("token-shuffled histories and futures (Option 2)", (4.95, 14.41, 17.56))}


def plot(results_dir: Path, figures_dir: Path, name: str) -> list[Path]:
    r = RealLingenResult.load(results_dir)
    n = len(r.options)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.4 * (n + 1), 3.6), squeeze=False)
    for ax, (opt, o) in zip(axes[0], r.options.items()):
        for i, m in enumerate(METHODS):
            kl = o.per_step(m)
            lo, hi = o.interval(m)
            ax.plot(np.arange(1, kl.shape[1] + 1), kl.mean(axis=0), "o-", ms=3, color=f"C{i}",
                    label=f"{LABELS[m]}: total {o.total_mean(m):.2f} [{lo:.2f}, {hi:.2f}]")
        paper = OPTIONS[opt][1]
        ax.set_title(f"{OPTIONS[opt][0]}, |H| = {r.config['n_histories']}\npaper totals (OLMo-1b): "
                     f"{paper[0]} / {paper[1]} / {paper[2]}", fontsize=7)
        ax.set_xlabel("generation step")
        ax.set_ylabel("KL(P_true ‖ P_method), mean")
        ax.legend(fontsize=5)
    ax = axes[0][n]
    sizes = r.sweep_sizes
    for i, m in enumerate(("lingen", "next_token_only")):
        y = r.sweep_step1[i]
        ax.errorbar(sizes, y, yerr=[np.nan_to_num(y - r.sweep_step1_low[i]), np.nan_to_num(r.sweep_step1_high[i] - y)],
                    fmt="o-", ms=4, capsize=3, color=f"C{i}", label=f"{LABELS[m]}: step-1 KL")
        ok = np.isfinite(r.sweep_total[i])
        ax.plot(sizes[ok], r.sweep_total[i][ok], "s--", ms=4, color=f"C{i}", label=f"{LABELS[m]}: {r.config['n_steps']}-step total")
    ax.axvline(r.d_model, color="k", ls=":", lw=1, label=f"d_model = {r.d_model}")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("|H| (Option 1)")
    ax.set_ylabel("KL")
    ax.set_title(f"|H| sweep: step-1 KL (all targets, 95% CI) and\n{r.config['n_steps']}-step total (where generated)",
                 fontsize=7)
    ax.legend(fontsize=5)
    return save(fig, figures_dir, name)


def beats(o, a: str, b: str) -> str:
    """yes: a's interval entirely below b's; no: entirely above; else inconclusive."""
    (alo, ahi), (blo, bhi) = o.interval(a), o.interval(b)
    return "yes" if ahi < blo else ("no" if alo > bhi else "inconclusive")


def model_label(cfg: dict) -> str:
    """How the setting column names the model."""
    if cfg["model"] == "smollm2":
        return "SmolLM2-135M-Instruct"
    ckpt = Path(cfg["model"])                   # …/runs/<width>/checkpoints/step-NNNNNN of trained_lms
    return f"our trained LM {ckpt.parent.parent.name} ({ckpt.name})"


def _suffix(cfg: dict) -> str:
    return "" if cfg["model"] == "smollm2" else f", {model_label(cfg)}"


def claims(results_dir: Path, name: str) -> list[Claim]:
    r = RealLingenResult.load(results_dir)
    cfg = r.config
    out = []
    for opt, o in r.options.items():
        opt_name, paper = OPTIONS[opt]
        n_units = o.lingen.shape[0]
        b = [beats(o, "lingen", m) for m in ("next_token_only", "last_m_tokens")]
        v = "yes" if all(x == "yes" for x in b) else ("no" if all(x == "no" for x in b) else
                                                      ("partly" if "yes" in b else "inconclusive"))
        setting = (f"{model_label(cfg)} ({cfg['dtype']}), {opt_name}; corpus {cfg['corpus'] if cfg['model'] == 'smollm2' else 'held-out documents'!r}, seed {cfg['seed']}; "
                   f"|H| = {cfg['n_histories']} (d_model = {r.d_model}) windows of {cfg['history_length']} tokens, "
                   f"|F| = {cfg['n_futures']} of {cfg['future_length']}"
                   f"{' + the empty future' if cfg['include_empty_future'] else ''} (k = {cfg['k']}, {cfg['rule']}); "
                   f"{cfg['n_targets']} held-out targets of {cfg['target_length']} tokens × {cfg['n_samples']} samples "
                   f"({n_units} totals), {cfg['n_steps']} steps, KL(P_true ‖ P_method); 95% percentile bootstrap of "
                   f"the mean total; yes = LINGEN's interval below both baselines'")
        ours = "; ".join(f"{LABELS[m]} {o.total_mean(m):.2f} [{o.interval(m)[0]:.2f}, {o.interval(m)[1]:.2f}]"
                         for m in METHODS)
        out.append(Claim("logits", f"LINGEN beats both baselines in total KL over {cfg['n_steps']} steps ({opt_name}{_suffix(cfg)})",
                         f"OLMo-1b: LINGEN {paper[0]} vs next-token-only {paper[1]} vs last-5 {paper[2]}",
                         ours + f" (vs next-token-only: {b[0]}, vs last-5: {b[1]})", setting, v, name))
    if np.isfinite(r.sweep_step1).any():
        sizes = r.sweep_sizes
        nt = r.sweep_step1[1]
        below, above = nt[sizes < r.d_model], nt[sizes >= r.d_model]
        cells = []
        for j, nH in enumerate(sizes):
            tot = ("" if not np.isfinite(r.sweep_total[0, j]) else
                   f", {cfg['n_steps']}-step totals {r.sweep_total[0, j]:.2f} / {r.sweep_total[1, j]:.2f} "
                   f"({int(r.sweep_total_samples[j])} totals)")
            cells.append(f"|H| = {int(nH)}: step-1 KL LINGEN {r.sweep_step1[0, j]:.4f}, next-token-only "
                         f"{nt[j]:.4f}{tot}")
        if len(below) and len(above):
            v = "yes" if (above.max() < 1e-3 and below.min() > 1e-2) else "no"
        else:
            v = "inconclusive"
        out.append(Claim("logits", "A next-token fit matches the target's first step only once |H| ≥ d_model "
                         f"(centered logits are linear in a d_model-dim hidden state){_suffix(cfg)}",
                         "n/a (SPEC sizing note: step-1 KL 1.44 / 1.02 / 0.60 / 0.0000 at |H| = 48 / 144 / 288 / 576)",
                         "; ".join(cells), f"{model_label(cfg)}, Option 1, first n histories of the draw, {cfg['n_targets']} targets; "
                         f"d_model = {r.d_model}; totals: LINGEN / next-token-only, 1 sample per target below the "
                         f"main size; yes = step-1 KL < 1e-3 at every |H| ≥ d_model and > 1e-2 below", v, name))
    return out
