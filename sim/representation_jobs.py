"""Jobs of the representations lens (Jiang et al. 2024; Park et al. 2024) for ``logitrank figures``.

- ``reps_sim_cosines``: Tables 1–2 of Jiang et al. — within-concept cosines of trained
  latent-concept models, m = 3…7, SGD and Adam, several seeds.
- ``reps_theorems``: Thm 3 (log-odds matching ⇒ parallel projected steering vectors),
  Thm 4, Thm 12 and Thm 14 (gradient descent aligns steering vectors and embeddings).
- ``reps_real_model``: SmolLM2 concept directions — within vs across cosines under the
  Euclidean and causal inner products, steering, the centered-logit identity, the row
  space of a logit matrix, and the random-init twin as a null.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.jobs import Job

__all__ = ["JOBS", "sim_cosines_config", "compute_sim_cosines", "theorems_config", "compute_theorems",
           "real_model_config", "compute_real_model"]


# ---------------------------------------------------------------- simulation tables
def sim_cosines_config(profile: str) -> dict:
    """Quick: 3 seeds and larger learning rates (the paper's lr 0.1 / 1e-3 need far more steps
    than a 2-core budget allows); full: the paper's learning rates and run counts."""
    if profile == "full":
        return {"ms": [3, 4, 5, 6, 7], "runs": {"3": 100, "4": 100, "5": 50, "6": 20, "7": 10},
                "optimizers": {"sgd": {"lr": 0.1, "steps": {"3": 200000, "4": 200000, "5": 300000, "6": 400000,
                                                            "7": 500000}},
                               "adam": {"lr": 1e-3, "steps": {"3": 100000, "4": 100000, "5": 150000, "6": 200000,
                                                              "7": 300000}}},
                "batch_size": 100, "edge_prob": 0.5, "keep_prob": 0.5}
    return {"ms": [3, 4, 5, 6, 7], "runs": {str(m): 5 for m in range(3, 8)},
            "optimizers": {"sgd": {"lr": 1.0, "steps": {"3": 3000, "4": 4000, "5": 6000, "6": 15000, "7": 30000}},
                           "adam": {"lr": 0.01, "steps": {"3": 3000, "4": 4000, "5": 5000, "6": 8000, "7": 10000}}},
            "batch_size": 100, "edge_prob": 0.5, "keep_prob": 0.5}


def compute_sim_cosines(config: dict, out_dir: Path) -> None:
    """Train every (m, optimiser) cell; one JSON per cell so a killed run resumes per cell."""
    from logitrank.sim.concept_training import cosine_table, train_concept_models
    out_dir = Path(out_dir)
    for opt, spec in config["optimizers"].items():
        for m in config["ms"]:
            path = out_dir / f"cell_{opt}_m{m}.json"
            if path.exists():
                continue
            t0 = time.perf_counter()
            res = train_concept_models(m, seeds=range(1000 * m, 1000 * m + config["runs"][str(m)]),
                                       optimizer=opt, lr=spec["lr"], n_steps=spec["steps"][str(m)],
                                       batch_size=config["batch_size"], edge_prob=config["edge_prob"],
                                       keep_prob=config["keep_prob"], log_every=max(1, spec["steps"][str(m)] // 50))
            table = cosine_table(res)
            table["seconds"] = time.perf_counter() - t0
            table["loss_curve"] = {"steps": res.logged_steps.tolist(), "mean": res.loss_history.mean(1).tolist()}
            atomic_write_json(path, table)


# ---------------------------------------------------------------- theorem checks
def theorems_config(profile: str) -> dict:
    return {"thm3_ms": [3, 4, 5, 6], "thm3_extra_dims": 4, "thm12_steps": 4000,
            "thm14": {"K": 8, "dim": 12, "steps": 20000 if profile == "quick" else 200000},
            "thm4": {"m": 4, "steps": 20000 if profile == "quick" else 200000}, "seed": 0}


def compute_theorems(config: dict, out_dir: Path) -> None:
    """Thm 3 on the exact construction, and the GD trajectories of Thms 4, 12, 14."""
    from logitrank.sim.concept_training import (gd_exponential_alignment, gd_fixed_embedding_alignment,
                                                gd_joint_alignment)
    from logitrank.theory.concepts import (LatentConceptModel, log_odds_matching_residual,
                                           log_odds_matching_tables, mean_pairwise_cosine,
                                           projected_steering_vectors, steering_cosines,
                                           unembedding_steering_vectors)
    rng = np.random.default_rng(config["seed"])
    thm3 = []
    for m in config["thm3_ms"]:
        probs = rng.uniform(0.3, 0.7, size=m)
        model = LatentConceptModel.independent(probs)
        F, G = log_odds_matching_tables(model, extra_dims=config["thm3_extra_dims"], rng=rng)
        res = log_odds_matching_residual(F, G, model)
        raw = [mean_pairwise_cosine(unembedding_steering_vectors(G, i)) for i in range(m)]
        proj = [mean_pairwise_cosine(projected_steering_vectors(F, G, i)) for i in range(m)]
        # Perturb G: log-odds matching breaks and so does parallelism (the theorem's converse direction
        # is not claimed; this shows the check can fail).
        Gp = G + 0.3 * rng.standard_normal(G.shape)
        thm3.append({"m": m, "residual_max": float(res.max()), "raw_cos_mean": float(np.mean(raw)),
                     "projected_cos_min": float(np.min(proj)),
                     "perturbed_residual_max": float(log_odds_matching_residual(F, Gp, model).max()),
                     "perturbed_projected_cos_min": float(min(mean_pairwise_cosine(projected_steering_vectors(F, Gp, i))
                                                              for i in range(m))),
                     "across_abs": steering_cosines(F, G).means()["across_abs"]})
    u0, v0 = rng.standard_normal(6), rng.standard_normal(6)
    t12 = gd_exponential_alignment(u0, v0, n_steps=config["thm12_steps"], log_every=20)
    c14 = config["thm14"]
    t14 = gd_joint_alignment(c14["K"], c14["dim"], n_steps=c14["steps"], log_every=max(1, c14["steps"] // 200), rng=rng)
    t14g = gd_joint_alignment(c14["K"], c14["dim"], n_steps=c14["steps"], log_every=max(1, c14["steps"] // 200),
                              rng=rng, orthogonal_init=False)
    c4 = config["thm4"]
    t4 = gd_fixed_embedding_alignment(c4["m"], n_steps=c4["steps"], log_every=max(1, c4["steps"] // 200), rng=rng)
    arrays = {}
    for name, tr in (("thm12", t12), ("thm14", t14), ("thm14_gauss", t14g), ("thm4", t4)):
        for field in ("steps", "loss", "cos_within", "cos_embedding"):
            arrays[f"{name}_{field}"] = getattr(tr, field)
    atomic_save_npz(Path(out_dir) / "trajectories.npz", **arrays)
    final = {name: {"cos_within": float(tr.cos_within[-1]), "cos_embedding": float(tr.cos_embedding[-1]),
                    "cos_embedding_monotone": bool(np.all(np.diff(tr.cos_embedding) >= -1e-12)),
                    "loss": float(tr.loss[-1])}
             for name, tr in (("thm12", t12), ("thm14", t14), ("thm14_gauss", t14g), ("thm4", t4))}
    atomic_write_json(Path(out_dir) / "theorems.json", {"thm3": thm3, "gd": final})


# ---------------------------------------------------------------- real model
def real_model_config(profile: str) -> dict:
    return {"model": "smollm2", "leading_space": True, "alphas": [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8],
            "steer_concept": "male⇒female", "steer_prompts": ["Long live the", "The prince matured and eventually became the",
                                                              "In a monarchy, the ruler is usually a"],
            "watch": [" king", " queen", " King", " Queen"],
            "rowspace_contexts": [64, 256, 640] if profile == "quick" else [64, 256, 640, 1024],
            "sample_len": 16, "seed": 0, "twin_seed": 0}


def compute_real_model(config: dict, out_dir: Path) -> None:
    """SmolLM2: cosine tables, steering, identity, row-space fractions, random twin."""
    from logitrank.real_models.runtime import torch_threads
    # On a loaded 2-core machine OpenMP threads spin against each other: one forward pass of
    # SmolLM2 took 3.6 s with 2 threads and 0.06 s with 1 (measured here), so run single-threaded.
    with torch_threads(1):
        _compute_real_model(config, out_dir)


def _compute_real_model(config: dict, out_dir: Path) -> None:
    import torch

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.linear_reps import (causal_whitening, centered_logit_identity_error,
                                                   concept_cosine_tables, concept_row_space_fraction,
                                                   filter_single_token_pairs, steering_ranks)
    from logitrank.real_models.word_pairs import WORD_PAIRS
    out_dir = Path(out_dir)
    lm = HFCausalLM.load(config["model"], device="cpu")
    model = lm.model
    pairs = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS, leading_space=config["leading_space"])
    gamma = lm.unembedding()
    geo = causal_whitening(gamma)
    euc = concept_cosine_tables(gamma, pairs)
    cau = concept_cosine_tables(geo.whiten(gamma), pairs)
    twin = lm.twin(config["twin_seed"])
    tg = twin.unembedding()
    twin_euc = concept_cosine_tables(tg, pairs)
    twin_cau = concept_cosine_tables(causal_whitening(tg).whiten(tg), pairs)
    del twin
    tp = pairs.token_pairs[config["steer_concept"]]
    direction = (gamma[tp[:, 1]] - gamma[tp[:, 0]]).mean(0)
    v = geo.steering_vector(direction)
    steer = {p: steering_ranks(lm, p, v, config["alphas"], watch=config["watch"])
             for p in config["steer_prompts"]}
    # Bridge: identity on sampled text, and concept directions in the logit matrix's row space.
    n_max = max(config["rowspace_contexts"])
    n_seq = -(-n_max // config["sample_len"])
    seqs = torch.from_numpy(lm.sample_tokens(n_seq, config["sample_len"], config["seed"], method="multinomial"))
    ident = centered_logit_identity_error(lm, seqs[:4].numpy())
    with torch.no_grad():
        H = lm.decoder()(input_ids=seqs).last_hidden_state.double().reshape(-1, gamma.shape[1]).numpy()
    order = np.random.default_rng(config["seed"]).permutation(len(H))
    names = pairs.concepts + ["random direction"]
    dirs = np.array([(gamma[pairs.token_pairs[n][:, 1]] - gamma[pairs.token_pairs[n][:, 0]]).mean(0)
                     for n in pairs.concepts] + [np.random.default_rng(config["seed"]).standard_normal(gamma.shape[1])])
    rowspace = {n: [] for n in names}
    for n_ctx in config["rowspace_contexts"]:
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
    atomic_save_npz(out_dir / "cosines.npz", euclid_pairwise=euc.pairwise, causal_pairwise=cau.pairwise,
                    euclid_directions=euc.directions, causal_directions=cau.directions,
                    twin_euclid_pairwise=twin_euc.pairwise, twin_causal_pairwise=twin_cau.pairwise)

    def summary(c):
        return {"within": c.within, "across": c.across, "across_abs": c.across_abs,
                "diag": np.diag(c.pairwise).tolist()}
    atomic_write_json(out_dir / "real_model.json", {
        "concepts": pairs.concepts, "counts": pairs.counts(),
        "skipped": {k: [[list(p), why] for p, why in v] for k, v in pairs.skipped.items()},
        "euclid": summary(euc), "causal": summary(cau), "twin_euclid": summary(twin_euc),
        "twin_causal": summary(twin_cau), "steering": steer, "identity": ident,
        "identity_smollm2_hidden": gamma.shape[1], "rowspace": rowspace, "tied": tied,
        "causal_ridge": geo.ridge})





JOBS = [
    Job(name="reps_sim_cosines", lens="representations",
        title="Latent-concept model: within-concept steering-vector cosines, m = 3…7, SGD and Adam (Jiang et al. Tables 1–2)",
        config=sim_cosines_config, compute=compute_sim_cosines, figure_module="reps_sim"),
    Job(name="reps_theorems", lens="representations",
        title="Log-odds matching ⇒ parallel steering vectors; gradient descent aligns them (Jiang et al. Thms 3, 4, 12, 14)",
        config=theorems_config, compute=compute_theorems, figure_module="reps_theorems"),
    Job(name="reps_real_model", lens="representations",
        title="SmolLM2 concept directions: Euclidean vs causal inner product, steering, centered-logit bridge",
        config=real_model_config, compute=compute_real_model, figure_module="reps_real"),
]
