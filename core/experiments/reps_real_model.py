"""SmolLM2 concept directions: Euclidean vs causal inner product, steering, the centered-logit bridge.

Counterfactual word pairs (single-token words only) give one concept direction each in
unembedding space; their cosines within and across concepts are compared under the
Euclidean and the causal inner product ⟨x, y⟩ = xᵀ Cov(γ)⁻¹ y, with the random-init twin as
a null. Also: steering the final hidden state, the identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) on
the model's own samples, and the share of each concept direction in the row space of a
logit matrix.

References
----------
Park, Choe, Veitch (2024), "The Linear Representation Hypothesis and the Geometry of Large
Language Models", Secs. 2–3 (causal inner product, Figs. 3, 8); Jiang et al. (2024), Fig. 3.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.io import to_jsonable
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.linear_reps import (
    causal_whitening,
    centered_logit_identity_error,
    concept_cosine_tables,
    concept_row_space_fraction,
    filter_single_token_pairs,
    steering_ranks,
)
from logitrank.real_models.runtime import torch_threads
from logitrank.real_models.word_pairs import WORD_PAIRS

__all__ = ["RealRepsConfig", "RealRepsResult", "compute", "EXPERIMENT"]


@dataclasses.dataclass(frozen=True)
class RealRepsConfig:
    """Model, pair filter, steering (concept, α grid, prompts, watched tokens), row-space sizes, sampling, threads."""

    model: str = "smollm2"
    leading_space: bool = True
    alphas: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)
    steer_concept: str = "male⇒female"
    steer_prompts: tuple[str, ...] = ("Long live the", "The prince matured and eventually became the",
                                      "In a monarchy, the ruler is usually a")
    watch: tuple[str, ...] = (" king", " queen", " King", " Queen")
    rowspace_contexts: tuple[int, ...] = (64, 256, 640)
    sample_len: int = 16
    seed: int = 0
    twin_seed: int = 0
    n_boot: int = 2000
    threads: int | None = None


PROFILES = {"quick": RealRepsConfig(), "full": RealRepsConfig(rowspace_contexts=(64, 256, 640, 1024))}


@dataclasses.dataclass(frozen=True)
class RealRepsResult(SavedResult):
    """Cosine tables (``cosines``: pairwise matrices; summaries per geometry), steering, bridge, row space.

    Summaries (``euclid``, ``causal``, ``twin_euclid``, ``twin_causal``) hold ``within``,
    ``across``, ``across_abs`` and the per-concept ``diag``; ``steering[prompt]`` one row per α;
    ``rowspace[concept]`` one row per context count; ``tied`` the facts of the tied embedding.
    """

    ARRAYS, RECORD = "cosines.npz", "real_model.json"

    concepts: tuple[str, ...]
    counts: dict[str, dict]
    skipped: dict[str, list]
    euclid: dict
    causal: dict
    twin_euclid: dict
    twin_causal: dict
    steering: dict[str, list]
    identity: dict
    hidden_size: int
    rowspace: dict[str, list]
    tied: dict
    causal_ridge: float
    threads: int
    cosines: dict[str, np.ndarray]
    intervals: dict[str, list]      # 95% bootstrap over concepts, [estimate, low, high] (concept_intervals)


def _summary(c) -> dict:
    return {"within": c.within, "across": c.across, "across_abs": c.across_abs, "diag": np.diag(c.pairwise).tolist()}


def concept_intervals(euclid: np.ndarray, causal: np.ndarray, rng: np.random.Generator, *, n_boot: int = 2000,
                      level: float = 0.95) -> dict[str, list]:
    """Percentile-bootstrap intervals over concepts of the within-concept cosine and of how much the
    causal inner product lowers the across-concept |cos| (Jiang et al. Fig. 3, Park et al. Fig. 3).

    ``euclid``, ``causal``: the (k, k) ``pairwise`` tables of
    :func:`~logitrank.real_models.linear_reps.concept_cosine_tables` under the two inner products.
    Each replicate draws k concepts with replacement (the same draw for both tables: paired) and
    recomputes the mean diagonal and the mean |off-diagonal| over pairs of distinct drawn concepts.
    Returns ``{"euclid_within", "causal_within", "across_abs_drop"}`` as ``[estimate, low, high]``,
    with ``across_abs_drop`` = Euclidean − causal mean |across| (> 0: causal is more orthogonal).
    """
    from logitrank.theory.intervals import percentile_interval

    def stats(ix):
        off = ix[:, None] != ix[None, :]
        e, c = euclid[np.ix_(ix, ix)], causal[np.ix_(ix, ix)]
        return (np.diag(euclid)[ix].mean(), np.diag(causal)[ix].mean(),
                np.abs(e[off]).mean() - np.abs(c[off]).mean() if off.any() else np.nan)

    k = euclid.shape[0]
    est = stats(np.arange(k))
    reps = np.array([stats(ix) for ix in rng.integers(0, k, size=(n_boot, k))])
    out = {}
    for j, key in enumerate(("euclid_within", "causal_within", "across_abs_drop")):
        r = reps[:, j][np.isfinite(reps[:, j])]      # a draw of one concept k times has no across pair
        iv = percentile_interval(float(est[j]), r, level)
        out[key] = [iv.estimate, iv.low, iv.high]
    return out


def compute(config: RealRepsConfig, out_dir: Path | None = None, inputs=None) -> RealRepsResult:
    """SmolLM2: cosine tables, steering, identity, row-space fractions, random twin."""
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        lm = HFCausalLM.load(config.model, device="cpu")
        model = lm.model
        pairs = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS, leading_space=config.leading_space)
        gamma = lm.unembedding()
        geo = causal_whitening(gamma)
        euc = concept_cosine_tables(gamma, pairs)
        cau = concept_cosine_tables(geo.whiten(gamma), pairs)
        twin = lm.twin(config.twin_seed)
        tg = twin.unembedding()
        twin_euc = concept_cosine_tables(tg, pairs)
        twin_cau = concept_cosine_tables(causal_whitening(tg).whiten(tg), pairs)
        del twin
        tp = pairs.token_pairs[config.steer_concept]
        v = geo.steering_vector((gamma[tp[:, 1]] - gamma[tp[:, 0]]).mean(0))
        steer = {p: steering_ranks(lm, p, v, list(config.alphas), watch=list(config.watch))
                 for p in config.steer_prompts}
        # Bridge: identity on sampled text, and concept directions in the logit matrix's row space.
        n_max = max(config.rowspace_contexts)
        n_seq = -(-n_max // config.sample_len)
        seqs = torch.from_numpy(lm.sample_tokens(n_seq, config.sample_len, config.seed, method="multinomial"))
        ident = centered_logit_identity_error(lm, seqs[:4].numpy())
        with torch.no_grad():
            H = lm.decoder()(input_ids=seqs).last_hidden_state.double().reshape(-1, gamma.shape[1]).numpy()
    order = np.random.default_rng(config.seed).permutation(len(H))
    names = pairs.concepts + ["random direction"]
    dirs = np.array([(gamma[pairs.token_pairs[n][:, 1]] - gamma[pairs.token_pairs[n][:, 0]]).mean(0)
                     for n in pairs.concepts] + [np.random.default_rng(config.seed).standard_normal(gamma.shape[1])])
    rowspace = {n: [] for n in names}
    for n_ctx in config.rowspace_contexts:
        r = concept_row_space_fraction(H[order[:n_ctx]], gamma, dirs)
        for name, f in zip(names, r["fractions"]):
            rowspace[name].append({"n_contexts": r["n_contexts"], "rank": r["rank"], "fraction": f})
    norms = np.linalg.norm(gamma, axis=1)
    w = geo.eigenvalues
    tied = {"tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
            "shares_storage": bool(model.get_input_embeddings().weight.data_ptr()
                                   == model.get_output_embeddings().weight.data_ptr()),
            "mean_norm_over_row_norm": float(np.linalg.norm(geo.mean) / norms.mean()),
            "cov_condition_number": float(w[-1] / w[0]),
            "cov_top_eigen_share": float(w[-1] / w.sum()),
            "cov_effective_rank": float(np.exp(-(w / w.sum() * np.log(w / w.sum())).sum()))}
    # The record parts in their JSON form (lists, plain floats), so the result equals its reload.
    record = to_jsonable({
        "counts": pairs.counts(), "skipped": {k: [[list(p), why] for p, why in v] for k, v in pairs.skipped.items()},
        "euclid": _summary(euc), "causal": _summary(cau), "twin_euclid": _summary(twin_euc),
        "twin_causal": _summary(twin_cau), "steering": steer, "identity": ident, "rowspace": rowspace, "tied": tied})
    return RealRepsResult(concepts=tuple(pairs.concepts), hidden_size=int(gamma.shape[1]),
                          causal_ridge=float(geo.ridge), threads=threads, **record,
                          cosines={"euclid_pairwise": euc.pairwise, "causal_pairwise": cau.pairwise,
                                   "euclid_directions": euc.directions, "causal_directions": cau.directions,
                                   "twin_euclid_pairwise": twin_euc.pairwise,
                                   "twin_causal_pairwise": twin_cau.pairwise},
                          intervals=concept_intervals(euc.pairwise, cau.pairwise, np.random.default_rng(config.seed),
                                                      n_boot=config.n_boot))


EXPERIMENT = Experiment(
    name="reps_real_model", lens="representations", order=402, version=2,
    title="SmolLM2 concept directions: Euclidean vs causal inner product, steering, centered-logit bridge",
    profiles=PROFILES, compute=compute, result_type=RealRepsResult, figure_module="reps_real")
