"""Claim texts and verdicts shared by figure modules that state the same claim on different models.

Like every figure module, this only reads numbers the experiments computed (no compute code).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kl_vs_rank_claim", "angles_claim"]


def kl_vs_rank_claim(ranks, average_kl, frobenius_bound, slope: float, slope_low: float, slope_high: float,
                     r2: float) -> tuple[str, str]:
    """Text and verdict of "average KL of the best rank-r approximation decays as a power law in r".

    yes: the Frobenius bound holds at every rank, the slope's interval lies below 0 and the
    log-log fit has R² ≥ 0.9; partly: bound holds and the interval lies below 0; inconclusive:
    the interval reaches 0; no: the bound fails somewhere.
    """
    ranks, kl, bound = np.asarray(ranks), np.asarray(average_kl), np.asarray(frobenius_bound)
    holds = bool(np.all(kl <= bound * (1 + 1e-9) + 1e-12))
    text = (f"log-log slope {slope:.2f} [{slope_low:.2f}, {slope_high:.2f}] (R² = {r2:.3f}) over ranks "
            f"{int(ranks[0])}–{int(ranks[-1])}; KL {kl[0]:.3g} → {kl[-1]:.3g}; bound holds at every rank: {holds} "
            f"(95% interval over resampled histories, rank-r subspaces held fixed)")
    if not holds:
        return text, "no"
    if slope_high >= 0:
        return text, "inconclusive"
    return text, "yes" if r2 >= 0.9 else "partly"


def angles_claim(ranks, cosines, mean_low, mean_high, random_low, random_high) -> tuple[str, str]:
    """Text and verdict of "column spaces from real and token-shuffled futures share most principal directions".

    Per rank, the 95% interval of the mean cosine is compared with the random-subspace interval:
    "above" when its lower end exceeds the random upper end by more than 0.2, "overlap" when it
    does not exceed it at all. yes: above at every rank; no: overlap at every rank; else partly.
    """
    parts, where = [], []
    for r, c, lo, hi, rlo, rhi in zip(ranks, cosines, mean_low, mean_high, random_low, random_high):
        c = np.asarray(c)
        parts.append(f"rank {int(r)}: mean cos {c.mean():.2f} [{lo:.2f}, {hi:.2f}] vs random "
                     f"[{rlo:.2f}, {rhi:.2f}], {(c > 0.9).mean() * 100:.0f}% of cosines > 0.9")
        where.append("above" if lo > rhi + 0.2 else ("overlap" if lo <= rhi else "between"))
    if all(w == "above" for w in where):
        verdict = "yes"
    elif any(w != "overlap" for w in where):
        verdict = "partly"
    else:
        verdict = "no"
    return "; ".join(parts), verdict
