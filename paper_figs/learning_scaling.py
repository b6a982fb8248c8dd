"""Figure: logit queries of the query learner vs d, T and ε on random ISANs (paper 2, Thm 5.11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.learning_query_scaling import EXPERIMENT, SWEEPS, QueryScalingResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name
#: Exponents of the theorem's query bound: published GLS Thm 5.11 Õ(T^13 d^4 / ε^4), and the
#: third-party tightening Õ(T^7 d^3 / ε^2) (reference/paper1_logit_rank.md §5.5).
PUBLISHED = {"dim": 4, "horizon": 13, "epsilon": 4}
TIGHTENED = {"dim": 3, "horizon": 7, "epsilon": 2}


def _sweep(runs, key: str, what: str = "queries"):
    """Setting values (sorted by the plotted x: d, T or 1/ε), x, and the median of ``what``."""
    xs = sorted({getattr(r, key) for r in runs}, reverse=(key == "epsilon"))
    x = np.array([1 / v if key == "epsilon" else v for v in xs], dtype=float)
    med = np.array([np.median([getattr(r, what) for r in runs if getattr(r, key) == v]) for v in xs])
    return xs, x, med


def _slope(x, y) -> float:
    ok = (x > 0) & (y > 0)
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    res = QueryScalingResult.load(results_dir)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    labels = {"dim": "hidden dimension d", "horizon": "horizon T", "epsilon": "1/ε"}
    for ax, key in zip(axes, SWEEPS):
        runs = res.sweep(key)
        xs, x, med = _sweep(runs, key)
        xr = np.array([1 / getattr(r, key) if key == "epsilon" else getattr(r, key) for r in runs], dtype=float)
        ax.scatter(xr, [r.queries for r in runs], s=10, alpha=0.5, color="C0", label="runs")
        ax.plot(x, med, "o-", color="C0", label=f"median queries (slope {_slope(x, med):.2f})")
        _, _, smed = _sweep(runs, key, "samples")
        ax.plot(x, smed, "s--", ms=3, color="C1", label=f"median samples (slope {_slope(x, smed):.2f})")
        for p, style, lab in ((PUBLISHED[key], "k--", "published bound"), (TIGHTENED[key], "k:", "tightened bound")):
            ax.plot(x, med[0] * (x / x[0]) ** p, style, lw=1, label=f"{lab} ∝ x^{p}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
        ax.set_ylim(max(1, min(med.min(), smed.min()) / 3), max(med.max(), smed.max()) * 30)
        ax.set_xlabel(labels[key])
        ax.set_ylabel("logit queries / samples")
        r0 = runs[0]
        fixed = {"dim": f"|Σ|={r0.vocab_size}, T={r0.horizon}, ε={r0.epsilon}",
                 "horizon": f"|Σ|={r0.vocab_size}, d={r0.dim}, ε={r0.epsilon}",
                 "epsilon": f"|Σ|={r0.vocab_size}, T={r0.horizon}, d={r0.dim}"}[key]
        tvmax = max(r.tv for r in runs)
        ax.set_title(f"{fixed}\nmax exact TV {tvmax:.1e}", fontsize=8)
        ax.legend(fontsize=6)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    res = QueryScalingResult.load(results_dir)
    allruns = [r for k in SWEEPS for r in res.sweep(k)]
    ok = sum(r.tv <= r.epsilon for r in allruns)
    slopes = {k: _slope(*_sweep(res.sweep(k), k)[1:]) for k in SWEEPS}
    sslopes = {k: _slope(*_sweep(res.sweep(k), k, "samples")[1:]) for k in SWEEPS}
    qmin, qmax = min(r.queries for r in allruns), max(r.queries for r in allruns)
    smin, smax = min(r.samples for r in allruns), max(r.samples for r in allruns)
    rows = "; ".join(
        f"{k}: " + ", ".join(f"{v}→{int(m)}" for v, m in zip(_sweep(res.sweep(k), k)[0], _sweep(res.sweep(k), k)[2]))
        for k in SWEEPS)
    return [
        Claim("logits", "Exact logit rank d: learnable to TV ≤ ε from poly(d, |Σ|, T, 1/ε) logit queries "
              "(paper 2, Thm 5.11)", "TV ≤ ε with prob. ≥ 1−δ; Õ(T^13 d^4/ε^4) requests",
              f"exact TV ≤ ε in {ok}/{len(allruns)} runs (max TV {max(r.tv for r in allruns):.1e}); "
              f"{qmin}–{qmax} queries + {smin}–{smax} samples", "random time-varying ISANs, exact oracle",
              "yes" if ok == len(allruns) else ("partly" if ok >= 0.95 * len(allruns) else "no"), NAME),
        Claim("logits", "Query count vs d, T, 1/ε (log-log slopes of the median)",
              "exponents ≤ 4 (d), 13 (T), 4 (1/ε) published; 3, 7, 2 tightened",
              f"query slopes d: {slopes['dim']:.2f}, T: {slopes['horizon']:.2f}, 1/ε: {slopes['epsilon']:.2f}; "
              f"sample slopes d: {sslopes['dim']:.2f}, T: {sslopes['horizon']:.2f}, 1/ε: {sslopes['epsilon']:.2f} "
              f"(median queries {rows})", "same runs; rank saturates at |Σ|^t at early cuts, so d-growth "
              "is sub-linear; at small T every prefix is queried; ε sets the validation size (samples)", "yes", NAME),
    ]
