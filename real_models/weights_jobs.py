"""Jobs of the weights lens (Staats, Thamm & Rosenow 2024) for ``logitrank figures``.

- ``weights_spectra``: every matrix of SmolLM2-135M and all-MiniLM-L6-v2 and of their
  random-init twins against Marchenko–Pastur (outliers, KS, spacing ratio, alpha), plus
  singular-vector localisation of one middle block. Figures: spectra vs MP, outlier
  counts per type and layer, localisation.
- ``weights_activations``: overlap of singular vectors with the eigenvectors of the input
  covariance (model-sampled text), trained vs twin, one middle block of SmolLM2.
- ``weights_removal``: perplexity change when one decile of singular values of one matrix
  type is zeroed in all blocks of SmolLM2 (types x deciles heatmap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.jobs import Job

__all__ = ["JOBS"]


def _load(name: str):
    from logitrank.real_models.loading import load_minilm, load_smollm2
    torch.set_num_threads(min(torch.get_num_threads(), 2) if not torch.cuda.is_available() else torch.get_num_threads())
    return load_smollm2() if name == "smollm2" else load_minilm()


# --------------------------------------------------------------------------- spectra

def _spectra_config(profile: str) -> dict:
    return {"models": ["smollm2", "minilm"], "twin_seed": 0, "tw_quantile": 0.99,
            "vector_layers": {"smollm2": 15, "minilm": 3}}


def _spectra_compute(cfg: dict, out: Path) -> None:
    from logitrank.real_models.loading import random_init_twin
    from logitrank.real_models.weights import analyze_weight_matrices, extract_weight_matrices, write_details_csv
    from logitrank.theory.rmt import MarchenkoPasturFit, marchenko_pastur_pdf
    for name in cfg["models"]:
        if (out / f"{name}.json").exists():          # checkpoint per model
            continue
        model, _ = _load(name)
        summary = {}
        arrays = {}
        for label, m in (("twin", random_init_twin(model, cfg["twin_seed"])), ("trained", model)):
            mats = extract_weight_matrices(m)
            res = analyze_weight_matrices(mats, mp_fit=MarchenkoPasturFit(tw_quantile=cfg["tw_quantile"]))
            write_details_csv(res, out / f"{name}-{label}-details.csv")
            summary[label] = {"rows": [dict(r) for r in res.rows], "svd_seconds": res.svd_seconds,
                              "diagnostics_seconds": res.diagnostics_seconds}
            layer = cfg["vector_layers"][name]
            for wm in mats:
                arrays[f"{label}|{wm.name}|sv"] = res.singular_values[wm.name]
            vec_mats = [wm for wm in mats if wm.layer == layer]
            # The MP density drawn over each plotted histogram is computed here, so the
            # figure module only reads results.
            rows = {r["name"]: r for r in res.rows}
            for wm in vec_mats:
                r, sv = rows[wm.name], res.singular_values[wm.name]
                x = np.linspace(0, float(np.max(sv)) * 1.02, 600)
                arrays[f"{label}|{wm.name}|mp_x"] = x
                arrays[f"{label}|{wm.name}|mp_pdf"] = marchenko_pastur_pdf(x, (r["rows"], r["cols"]), r["sigma"])
            vres = analyze_weight_matrices(vec_mats, vectors=True, power_law=False)
            for wm in vec_mats:
                st = vres.vector_statistics[wm.name]
                arrays[f"{label}|{wm.name}|max_entry"] = st.max_entry
                arrays[f"{label}|{wm.name}|ipr"] = st.ipr
                arrays[f"{label}|{wm.name}|pt_pvalue"] = st.porter_thomas_pvalue
        atomic_save_npz(out / f"{name}.npz", **arrays)
        atomic_write_json(out / f"{name}.json", summary)


# --------------------------------------------------------------------------- activations

def _activations_config(profile: str) -> dict:
    if profile == "full":
        return {"model": "smollm2", "n_sequences": 64, "length": 256, "layers": [5, 15, 25], "seed": 1, "twin_seed": 0}
    return {"model": "smollm2", "n_sequences": 16, "length": 64, "layers": [15], "seed": 1, "twin_seed": 0}


def _sampled_tokens(model, cfg: dict, out: Path, tag: str) -> torch.Tensor:
    from logitrank.real_models.activations import sample_token_sequences
    path = out / f"tokens-{tag}.npz"
    if path.exists():
        return torch.from_numpy(np.load(path)["tokens"])
    toks = sample_token_sequences(model, cfg["n_sequences"], cfg["length"], seed=cfg["seed"])
    atomic_save_npz(path, tokens=toks.numpy())
    return toks


def _activations_compute(cfg: dict, out: Path) -> None:
    from logitrank.real_models.activations import activation_overlaps
    from logitrank.real_models.loading import random_init_twin
    from logitrank.real_models.weights import extract_weight_matrices
    model, _ = _load(cfg["model"])
    tokens = _sampled_tokens(model, cfg, out, "activations")
    arrays, meta = {}, []
    for label, m in (("trained", model), ("twin", random_init_twin(model, cfg["twin_seed"]))):
        mats = [wm for wm in extract_weight_matrices(m) if wm.layer in cfg["layers"]]
        shapes = {wm.name: list(wm.shape) for wm in mats}
        for r in activation_overlaps(m, mats, tokens, rng=np.random.default_rng(cfg["seed"])):
            key = f"{label}|{r.name}"
            arrays[key + "|sv"] = r.singular_values
            arrays[key + "|overlap"] = r.overlap
            meta.append({"label": label, "name": r.name, "type": r.matrix_type, "layer": r.layer,
                         "band": list(r.band), "n_tokens": r.n_tokens, "covariance_rank": r.covariance_rank,
                         "input_dim": r.input_dim, "full_rank": r.full_rank, "shape": shapes[r.name]})
    atomic_save_npz(out / "overlaps.npz", **arrays)
    atomic_write_json(out / "overlaps.json", {"matrices": meta, "n_tokens": int(tokens.numel())})


# --------------------------------------------------------------------------- removal

def _removal_config(profile: str) -> dict:
    if profile == "full":
        return {"model": "smollm2", "n_sequences": 32, "length": 256, "seed": 2,
                "types": ["query", "key", "value", "attention_output", "gate", "up", "down"]}
    # Quick (CPU) profile: one square type and the rectangular MLP pair, 4 x 64 held-out tokens
    # (~30 forward passes of 256 tokens); the full profile covers all seven types.
    return {"model": "smollm2", "n_sequences": 4, "length": 64, "seed": 2,
            "types": ["query", "up", "down"]}


def _removal_compute(cfg: dict, out: Path) -> None:
    from logitrank.io import read_json
    from logitrank.real_models.removal import decile_removal
    from logitrank.real_models.weights import extract_weight_matrices
    model, _ = _load(cfg["model"])
    tokens = _sampled_tokens(model, cfg, out, "heldout")
    mats = extract_weight_matrices(model)
    partial = out / "removal-partial.json"          # checkpoint: one matrix type at a time
    done = read_json(partial) if partial.exists() else {}
    base = None
    for t in cfg["types"]:
        if t in done:
            continue
        res = decile_removal(model, mats, tokens, types=[t])
        base = res.base_perplexity
        done[t] = {"perplexity": res.perplexity[0].tolist(), "base": base, "n_tokens": res.n_tokens}
        atomic_write_json(partial, done)
    ppl = np.array([done[t]["perplexity"] for t in cfg["types"]])
    shapes = {}
    for wm in mats:
        shapes.setdefault(wm.matrix_type, list(wm.shape))
    atomic_save_npz(out / "removal.npz", perplexity=ppl)
    first = done[cfg["types"][0]]
    atomic_write_json(out / "removal.json", {"types": list(cfg["types"]), "base_perplexity": first["base"],
                                             "n_tokens": first["n_tokens"], "shapes": shapes})


JOBS = [
    Job("weights_spectra", "weights", "Weight spectra vs Marchenko–Pastur (SmolLM2, MiniLM, random-init twins)",
        _spectra_config, _spectra_compute, "weights_spectra"),
    Job("weights_activations", "weights", "Singular vectors vs activation-covariance eigenvectors (SmolLM2)",
        _activations_config, _activations_compute, "weights_activations"),
    Job("weights_removal", "weights", "Perplexity change when one singular-value decile is removed (SmolLM2)",
        _removal_config, _removal_compute, "weights_removal"),
]
