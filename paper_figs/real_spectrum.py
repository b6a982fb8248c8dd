"""Figure: SmolLM2 vs its random-init twin — logit-matrix spectrum, α under subsampling, KL vs rank."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from logitrank.jobs import Claim
from logitrank.paper_figs._style import plt, save

NAME = "real_spectrum"
LABELS = {"trained": "SmolLM2-135M-Instruct", "untrained": "random-init twin"}


def _load(results_dir):
    d = Path(results_dir)
    return {lab: np.load(d / f"analysis_{lab}.npz") for lab in LABELS}, json.loads((d / "summary.json").read_text())


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    an, summ = _load(results_dir)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for i, (lab, name) in enumerate(LABELS.items()):
        a = an[lab]
        s = a["singular_values"]
        idx = np.arange(1, len(s) + 1)
        axes[0].loglog(idx, s, ".", ms=3, color=f"C{i}", label=f"{name}: α = {float(a['alpha']):.3f} ± {float(a['alpha_err']):.3f}")
        lo, hi = (int(v) for v in a["fit_range"])
        ii = np.arange(lo, hi + 1)
        axes[0].loglog(ii, np.exp(float(a["log_scale"])) * ii ** (-float(a["alpha"])), "-", color=f"C{i}", lw=1)
        axes[1].errorbar(a["factors"], a["alpha_mean"], yerr=a["alpha_std"], fmt="o-", ms=4, color=f"C{i}", label=name)
        r = a["ranks"]
        axes[2].loglog(r, np.maximum(a["average_kl"], 1e-12), "o-", ms=3, color=f"C{i}", label=f"{name}: avg KL")
        axes[2].loglog(r, np.maximum(a["frobenius_bound"], 1e-12), "--", color=f"C{i}", lw=1, label=f"{name}: ‖L−A_r‖²/(|H||F|)")
    axes[0].set_xlabel("index i")
    axes[0].set_ylabel("singular value σ_i of L_{M,k}(H,F)")
    axes[0].legend(fontsize=6)
    axes[0].set_title(f"spectrum, matrix {summ['trained']['shape'][0]}×{summ['trained']['shape'][1]}", fontsize=8)
    axes[1].axhline(0.5, color="k", lw=0.8, ls=":")
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("subsampling factor (|H|/f, |F|/f)")
    axes[1].set_ylabel("fitted α")
    axes[1].legend(fontsize=6)
    axes[1].set_title("α under subsampling (α = 1/2 dotted)", fontsize=8)
    axes[2].set_xlabel("rank r")
    axes[2].set_ylabel("average KL of best rank-r approx.")
    axes[2].legend(fontsize=5)
    axes[2].set_title("average KL vs rank and its bound", fontsize=8)
    return save(fig, figures_dir, NAME)


def _kl_slope(a) -> tuple[float, float]:
    r, kl = a["ranks"].astype(float), a["average_kl"]
    ok = (r > 0) & (kl > 0)
    x, y = np.log(r[ok]), np.log(kl[ok])
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    r2 = 1 - resid.var() / y.var() if y.var() > 0 else 0.0
    return float(slope), float(r2)


def claims(results_dir: Path) -> list[Claim]:
    an, summ = _load(results_dir)
    cfg = summ["config"]
    setting = (f"SmolLM2-135M-Instruct vs its random-init twin (seed {cfg['twin_seed']}); H, F = {cfg['n_histories']} / "
               f"{cfg['n_futures']} model samples of {cfg['history_length']} / {cfg['future_length']} tokens; "
               f"rule {cfg['rule']}, k={cfg['k']}; fit range {summ['trained']['fit_range']} (indices)")
    at, au = float(an["trained"]["alpha"]), float(an["untrained"]["alpha"])
    et, eu = float(an["trained"]["alpha_err"]), float(an["untrained"]["alpha_err"])
    if at > 0.5 > au:
        v1 = "yes"
    elif at > au:
        v1 = "partly"
    else:
        v1 = "no"
    out = [Claim("logits", "Trained LM: power-law α slightly above 1/2; untrained model below 1/2",
                 "OLMo-7b (wiki) α = 0.536; OLMo-1b step 0 α = 0.374",
                 f"SmolLM2 α = {at:.3f} ± {et:.3f}; random-init twin α = {au:.3f} ± {eu:.3f}", setting, v1, NAME)]
    for lab in ("trained", "untrained"):
        a = an[lab]
        m = a["alpha_mean"]
        spread = float(m.max() - m.min())
        v = "yes" if spread <= 0.05 else ("partly" if spread <= 0.15 else "no")
        out.append(Claim("logits", f"α is stable under 2×–16× subsampling of H and F ({LABELS[lab]})",
                         "consistent power laws for {2,4,8,16}× smaller submatrices",
                         "α by factor " + ", ".join(f"{int(f)}×: {x:.3f}" for f, x in zip(a["factors"], m))
                         + f" (spread {spread:.3f}; yes ≤ 0.05, partly ≤ 0.15)", setting, v, NAME))
    a = an["trained"]
    slope, r2 = _kl_slope(a)
    holds = bool(np.all(a["average_kl"] <= a["frobenius_bound"] * (1 + 1e-9) + 1e-12))
    out.append(Claim("logits", "Average KL of the best rank-r approximation decays as a power law in r, "
                     "below its Frobenius bound", "power law over ranks 5–500 (OLMo-7b), bound of Fact B.2",
                     f"log-log slope {slope:.2f} (R² = {r2:.3f}) over ranks {int(a['ranks'][0])}–{int(a['ranks'][-1])}; "
                     f"bound holds at every rank: {holds}", setting,
                     "yes" if holds and r2 >= 0.9 else ("partly" if holds else "no"), NAME))
    return out
