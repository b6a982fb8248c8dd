"""Figure ``reps_real_model``: SmolLM2 concept cosines (Euclidean vs causal), steering, bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.experiments import Claim
from logitrank.experiments.reps_real_model import EXPERIMENT, RealRepsResult
from logitrank.paper_figs._style import plt, save

NAME = EXPERIMENT.name


def plot(results_dir: Path, figures_dir: Path) -> list[Path]:
    """Heatmaps (Euclidean, causal, random twin), steering ranks, row-space fractions."""
    res = RealRepsResult.load(results_dir)
    cos = res.cosines
    names = [f"{c} ({res.counts[c]['kept']})" for c in res.concepts]
    fig = plt.figure(figsize=(18, 10))
    for k, (key, title) in enumerate((("euclid_pairwise", "Euclidean"), ("causal_pairwise", "causal ⟨x,y⟩=xᵀCov(γ)⁻¹y"),
                                      ("twin_euclid_pairwise", "random-init twin, Euclidean"))):
        ax = fig.add_subplot(2, 3, k + 1)
        im = ax.imshow(cos[key], vmin=-0.6, vmax=0.6, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), range(1, len(names) + 1), fontsize=6)
        ax.set_yticks(range(len(names)), names if k == 0 else range(1, len(names) + 1), fontsize=6)
        ax.set_title(f"{title}: mean cos of γ(y1)−γ(y0)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = fig.add_subplot(2, 3, 4)
    for p, rows in res.steering.items():
        a = [r["alpha"] for r in rows]
        ax.plot(a, [r["watch"][" queen"]["logit"] - r["watch"][" king"]["logit"] for r in rows], "o-",
                label=f"queen−king: {p[:28]}…")
        ax.plot(a, [r["watch"][" King"]["logit"] - r["watch"][" king"]["logit"] for r in rows], "x--",
                label=f"King−king: {p[:28]}…")
    ax.set_xlabel("α (unit causal norm)")
    ax.set_ylabel("logit difference")
    ax.set_title("steering λ + α λ̄_{male⇒female}", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(2, 3, 5)
    for name, rows in res.rowspace.items():
        ax.plot([r["n_contexts"] for r in rows], [r["fraction"] for r in rows], "o-" if name != "random direction" else "k--",
                label=name, lw=1)
    ax.set_xlabel("contexts n in the logit matrix (rank = min(n, d))")
    ax.set_ylabel("fraction of (Ψ−ψ̄)γ̄_W in row space of L")
    ax.set_title("concept directions in the logit matrix's row space", fontsize=9)
    ax.legend(fontsize=5, ncol=2)
    ax = fig.add_subplot(2, 3, 6)
    x = np.arange(len(res.concepts))
    ax.bar(x - 0.2, res.euclid["diag"], 0.4, label="Euclidean")
    ax.bar(x + 0.2, res.causal["diag"], 0.4, label="causal")
    ax.axhline(res.euclid["across"], color="C0", ls=":", label="mean across (Eucl.)")
    ax.axhline(res.causal["across"], color="C1", ls=":", label="mean across (causal)")
    ax.set_xticks(x, range(1, len(x) + 1))
    ax.set_title("within-concept cosine per concept", fontsize=9)
    ax.legend(fontsize=7)
    return save(fig, figures_dir, NAME)


def claims(results_dir: Path) -> list[Claim]:
    res = RealRepsResult.load(results_dir)
    counts = ", ".join(f"{c} {v['kept']}" for c, v in res.counts.items() if v["kept"])
    skipped = sum(v["skipped"] for v in res.counts.values())
    e, c, te = res.euclid, res.causal, res.twin_euclid
    t = res.tied
    ew, cd = res.intervals["euclid_within"], res.intervals["across_abs_drop"]
    out = [
        Claim(lens="representations",
              claim="Unembedding differences of one concept align; different concepts are near-orthogonal (Euclidean)",
              paper="LLaMA-2-7B (Jiang Fig. 3): diagonal ≈ 0.1–0.45, off-diagonal ≈ 0–0.05",
              ours=f"within {e['within']:.3f} [{ew[1]:.3f}, {ew[2]:.3f}] (per concept {min(e['diag']):.2f}–"
                   f"{max(e['diag']):.2f}), across {e['across']:.3f} (mean |cos| {e['across_abs']:.3f}); random-init "
                   f"twin within {te['within']:.3f} (95% bootstrap over concepts; yes = the interval's lower end above "
                   f"2·|across| + 0.1)",
              setting=f"SmolLM2-135M (tied embeddings), {len(res.concepts)} concepts, pairs kept: {counts}; "
                      f"{skipped} pairs skipped (multi-token or duplicates)",
              verdict="yes" if ew[1] > 2 * abs(e["across"]) + 0.1 else "partly", figure=NAME),
        Claim(lens="representations",
              claim="Under the causal inner product xᵀCov(γ)⁻¹y different concepts become (more) orthogonal",
              paper="LLaMA-2 (Park Fig. 3/8): causal off-diagonal ≈ 0, better than Euclidean; Gemma (tied): "
                    "Euclidean off-diagonal ≈ 0.4–0.9, causal ≈ 0",
              ours=f"causal within {c['within']:.3f}, across {c['across']:.3f} (|cos| {c['across_abs']:.3f}) vs "
                   f"Euclidean across |cos| {e['across_abs']:.3f}: drop {cd[0]:.3f} [{cd[1]:.3f}, {cd[2]:.3f}] "
                   f"(95% bootstrap over concepts, paired)",
              setting="same pairs; Cov over all 49,152 unembedding rows",
              verdict="yes" if cd[1] > 0 else ("no" if cd[2] < 0 else "inconclusive"), figure=NAME),
        Claim(lens="representations",
              claim="Tied input/output embeddings: the origin of γ is meaningful, the Euclidean geometry is anisotropic",
              paper="Park: Gemma-2B (tied) Euclidean fails, causal works",
              ours=f"‖γ̄‖/mean‖γ(y)‖ = {t['mean_norm_over_row_norm']:.2f}; Cov(γ) top eigenvalue share "
                   f"{t['cov_top_eigen_share']:.2f}, condition number {t['cov_condition_number']:.0f}, effective rank "
                   f"{t['cov_effective_rank']:.0f} of {res.hidden_size}",
              setting=f"tie_word_embeddings={t['tie_word_embeddings']}, same storage={t['shares_storage']}",
              verdict="partly", figure=NAME),
    ]
    first = next(iter(res.steering.values()))
    q = [r["watch"][" queen"]["rank"] for r in first]
    k = [r["watch"][" king"]["rank"] for r in first]
    prompt = next(iter(res.steering))
    out.append(Claim(lens="representations",
                     claim="Adding the male⇒female steering vector λ̄_W = Cov⁻¹γ̄_W to the final hidden state moves king→queen",
                     paper="LLaMA-2, 'Long live the': king top-1 at α=0, queen top-1 at α=0.2–0.4",
                     ours=f"'{prompt}': rank of ' queen' {' → '.join(map(str, q))}, ' king' {' → '.join(map(str, k))} "
                          f"for α = {', '.join(str(r['alpha']) for r in first)}; top-1 at α={first[-1]['alpha']}: "
                          f"{first[-1]['top'][0]!r}",
                     setting="SmolLM2-135M, α in units of unit causal norm",
                     verdict="yes" if q[-1] < q[0] and k[-1] > k[0] else "no", figure=NAME))
    ident = res.identity
    out.append(Claim(lens="representations",
                     claim="Bridge: centered logits = final-norm hidden state × centered unembedding, L[z|p] = φ(p)ᵀ(ψ(z) − ψ̄)",
                     paper="identity (exact)",
                     ours=f"max |error| {ident['max_abs_error']:.1e} on logits of scale {ident['logit_scale']:.1f} "
                          f"({ident['n_positions']} positions, float32 model)",
                     setting="SmolLM2-135M on its own samples", verdict="yes" if ident["max_rel_error"] < 1e-4 else "no",
                     figure=NAME))
    rs = res.rowspace
    fr = {n: rows[-1]["fraction"] for n, rows in rs.items() if n != "random direction"}
    ns = [r["n_contexts"] for r in rs["random direction"]]
    out.append(Claim(lens="representations",
                     claim="Concept directions lie in the row space of the logit matrix L = Φ(Ψ−ψ̄)ᵀ",
                     paper="n/a (our bridge)",
                     ours=f"fraction of (Ψ−ψ̄)γ̄_W in row(L): n={ns[0]}: "
                          f"{np.mean([rows[0]['fraction'] for n, rows in rs.items() if n != 'random direction']):.2f} "
                          f"(random direction {rs['random direction'][0]['fraction']:.2f}); n={ns[-1]}: "
                          f"{min(fr.values()):.3f}–{max(fr.values()):.3f} (rank {rs['random direction'][-1]['rank']})",
                     setting="contexts = prefixes of SmolLM2's own samples", verdict="n/a", figure=NAME))
    return out
