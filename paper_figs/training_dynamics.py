"""Figure: α, KL at fixed rank, held-out loss and MP consistency vs training step (``training_dynamics``).

Paper analogues: Golowich et al. (2025) Fig. 3 (KL of the low-rank approximation over OLMo-1b
Stage-1 checkpoints) and Fig. 7d (step 0: α ≈ 0.374, not scale-consistent); Staats et al.
(2024) Fig. 1 / App. A (random init agrees with MP, deviations emerge with training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.training_dynamics import TrainingDynamicsResult
from logitrank.paper_figs._style import plt, save

NAME = "training_dynamics"


def _x(points) -> np.ndarray:
    return np.array([p["step"] for p in points], float)


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    res = TrainingDynamicsResult.load(results_dir)
    cfg = res.config
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.4))
    (a_alpha, a_kl), (a_loss, a_mp) = axes
    for i, w in enumerate(res.widths):
        pts, c = res.points[w], f"C{i}"
        x = _x(pts)
        a = np.array([p["alpha"] for p in pts])
        a_alpha.errorbar(x, a, yerr=[a - [p["alpha_low"] for p in pts], [p["alpha_high"] for p in pts] - a],
                         fmt="o-", ms=3, color=c, capsize=2, label=f"{w} (d = {res.d_model[w]})")
        kl = np.array([p["kl_at_rank"] for p in pts])
        a_kl.errorbar(x, kl, yerr=[kl - [p["kl_low"] for p in pts], [p["kl_high"] for p in pts] - kl],
                      fmt="o-", ms=3, color=c, capsize=2, label=w)
        a_loss.plot(x, [p["val_loss"] for p in pts], "o-", ms=3, color=c, label=w)
        a_mp.plot(x, [p["mp_consistent_fraction"] for p in pts], "o-", ms=3, color=c, label=f"{w}: fraction MP-consistent")
        ax2 = a_mp.twinx() if i == 0 else ax2  # noqa: F821 - created on the first width
        ax2.plot(x, [p["mean_n_above_band"] for p in pts], "s--", ms=3, color=c, alpha=0.6)
        ax2.plot(x, [p["mean_n_below_band"] for p in pts], "v:", ms=3, color=c, alpha=0.6)
    ax2.set_ylabel("mean outliers per matrix (■ above, ▼ below band)", fontsize=7)
    a_alpha.axhline(0.5, color="k", lw=0.8, ls=":")
    a_alpha.axhline(0.374, color="gray", lw=0.8, ls="--", label="OLMo-1b step 0: 0.374")
    a_alpha.set_ylabel(f"α of L_(M,{cfg['k']})(H,F), {cfg['level']:.0%} interval")
    a_kl.set_yscale("log")
    a_kl.set_ylabel(f"average KL of best rank-{cfg['rank']} approx.")
    a_loss.set_ylabel("held-out loss (nats/token)")
    a_mp.set_ylabel("fraction of weight matrices consistent with MP")
    a_mp.set_ylim(-0.05, 1.05)
    for ax in axes.ravel():
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=-0.3)
        ax.set_xlabel("training step (symlog: step 0 included)")
        ax.legend(fontsize=6)
    fig.suptitle(f"Through training: H, F = {cfg['n_histories']} / {cfg['n_futures']} held-out windows of "
                 f"{cfg['history_length']} / {cfg['future_length']} tokens, k = {cfg['k']}", fontsize=9)
    return save(fig, figures_dir, NAME)


def _setting(res, extra: str = "") -> str:
    c = res.config
    return (f"our trained family ({', '.join(f'{w} d={res.d_model[w]}' for w in res.widths)}), checkpoints at steps "
            f"{[p['step'] for p in res.points[res.widths[0]]]}; H, F = {c['n_histories']} / {c['n_futures']} held-out "
            f"windows of {c['history_length']} / {c['future_length']} tokens; rule {c['rule']}, k={c['k']}; "
            f"{c['level']:.0%} intervals ({c['n_boot']} Bayesian-bootstrap replicates for α){extra}")


def _fig3(res) -> Claim:
    parts, verdicts = [], []
    for w in res.widths:
        pts = res.points[w]
        kl = [p["kl_at_rank"] for p in pts]
        j = int(np.argmin(kl))
        first, low, last = pts[0], pts[j], pts[-1]
        fell = low["kl_high"] < first["kl_low"]
        rose = j < len(pts) - 1 and last["kl_low"] > low["kl_high"]
        parts.append(f"{w}: {first['kl_at_rank']:.3g} [{first['kl_low']:.3g}, {first['kl_high']:.3g}] at step 0 → "
                     f"min {low['kl_at_rank']:.3g} [{low['kl_low']:.3g}, {low['kl_high']:.3g}] at step {low['step']} "
                     f"→ {last['kl_at_rank']:.3g} [{last['kl_low']:.3g}, {last['kl_high']:.3g}] at step {last['step']}")
        overshoot = last["kl_low"] > first["kl_high"]
        verdicts.append("yes" if fell and rose and not overshoot else ("partly" if fell or rose else "no"))
    v = "yes" if all(x == "yes" for x in verdicts) else ("no" if all(x == "no" for x in verdicts) else "partly")
    return Claim("logits", f"KL of the best rank-{res.config['rank']} approximation falls sharply early in "
                 "training, then rises slowly", "OLMo-1b Stage-1 checkpoints: falls sharply, then rises slowly to "
                 "its final value (Fig. 3)", "; ".join(parts), _setting(res, "; yes = significant fall to the "
                 "minimum, significant rise after it (intervals disjoint) and the last value below step 0's; "
                 "partly = fall and rise but the rise overshoots step 0, or only one of them"), v, NAME)


def _fig7d(res) -> Claim:
    parts, verdicts = [], []
    for w in res.widths:
        p = res.points[w][0]
        sc = p["scale"]
        below = p["alpha_high"] < 0.5
        above = p["alpha_low"] > 0.5
        inconsistent = sc["spread"] > 0.05
        parts.append(f"{w} step 0: α = {p['alpha']:.3f} [{p['alpha_low']:.3f}, {p['alpha_high']:.3f}], "
                     f"by subsampling " + ", ".join(f"{f}×: {a:.3f}" for f, a in zip(sc["factors"], sc["alpha_mean"]))
                     + f" (spread {sc['spread']:.3f})")
        if above:
            verdicts.append("no")
        elif not below:
            verdicts.append("inconclusive")
        else:
            verdicts.append("yes" if inconsistent else "partly")
    v = verdicts[0] if len(set(verdicts)) == 1 else ("no" if "no" in verdicts else "partly")
    return Claim("logits", "The untrained model (step 0) has α below 1/2 and its power law is not scale-consistent",
                 "OLMo-1b step 0: α ≈ 0.374 < 1/2, not scale-consistent (Fig. 7d)", "; ".join(parts),
                 _setting(res, "; yes = interval below 1/2 and subsampling spread > 0.05"), v, NAME)


def _alpha_trend(res) -> Claim:
    parts, verdicts = [], []
    for w in res.widths:
        a, b = res.points[w][0], res.points[w][-1]
        parts.append(f"{w}: {a['alpha']:.3f} [{a['alpha_low']:.3f}, {a['alpha_high']:.3f}] at step 0 → "
                     f"{b['alpha']:.3f} [{b['alpha_low']:.3f}, {b['alpha_high']:.3f}] at step {b['step']}")
        if b["alpha_low"] > a["alpha_high"]:
            verdicts.append("yes" if a["alpha_high"] < 0.5 < b["alpha_low"] and b["alpha"] < 0.7 else "partly")
        elif b["alpha_high"] < a["alpha_low"]:
            verdicts.append("no")
        else:
            verdicts.append("inconclusive")
    v = verdicts[0] if len(set(verdicts)) == 1 else "partly"
    return Claim("logits", "Training raises α from below 1/2 (step 0) to slightly above 1/2 (trained)",
                 "OLMo-1b step 0 α ≈ 0.374; trained OLMo-7b 0.536 (Figs. 2, 7d)", "; ".join(parts),
                 _setting(res, "; yes = step-0 interval below 1/2, last one above 1/2 with α < 0.7; partly = α rises "
                              "significantly but not across 1/2 or far above it"), v, NAME)


def _rmt(res) -> Claim:
    parts, verdicts = [], []
    for w in res.widths:
        a, b = res.points[w][0], res.points[w][-1]
        parts.append(f"{w}: {a['mp_consistent']}/{a['mp_n_matrices']} MP-consistent at step 0 (outliers per matrix "
                     f"{a['mean_n_below_band']:.1f} below | {a['mean_n_above_band']:.1f} above) → "
                     f"{b['mp_consistent']}/{b['mp_n_matrices']} at step {b['step']} "
                     f"({b['mean_n_below_band']:.1f} | {b['mean_n_above_band']:.1f})")
        init_ok = a["mp_consistent_fraction"] >= 0.9
        deviates = (b["mp_consistent_fraction"] <= a["mp_consistent_fraction"] - 0.3
                    or b["mean_n_above_band"] + b["mean_n_below_band"] >= 2 * (a["mean_n_above_band"] + a["mean_n_below_band"]) + 1)
        verdicts.append("yes" if init_ok and deviates else ("partly" if init_ok or deviates else "no"))
    v = "yes" if all(x == "yes" for x in verdicts) else ("no" if all(x == "no" for x in verdicts) else "partly")
    return Claim("weights", "Random init agrees with Marchenko–Pastur; deviations (outliers) emerge with training",
                 "random init agrees 'perfectly' (Fig. 1a,c); Pythia: deviations grow over pretraining (App. A)",
                 "; ".join(parts), _setting(res, f"; MP with median σ, outliers beyond the "
                                                 f"{res.config['tw_quantile']:.0%} Tracy–Widom margin; yes = ≥ 90 % "
                                                 f"consistent at step 0 and ≥ 30 points fewer (or ≥ 2× outliers) at "
                                                 f"the end"), v, NAME)


def claims(results_dir: Path) -> list[Claim]:
    res = TrainingDynamicsResult.load(results_dir)
    return [_fig3(res), _fig7d(res), _alpha_trend(res), _rmt(res)]
