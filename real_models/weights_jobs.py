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

import functools
from pathlib import Path

import numpy as np
import torch

from logitrank.io import atomic_save_npz, atomic_write_json, read_json
from logitrank.jobs import Job
from logitrank.real_models.activations import activation_overlaps
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.removal import decile_removal
from logitrank.real_models.runtime import torch_threads
from logitrank.real_models.weights import analyze_weight_matrices, write_details_csv
from logitrank.theory.rmt import MarchenkoPasturFit, marchenko_pastur_pdf

__all__ = ["JOBS"]


def _load(name: str) -> HFCausalLM:
    return HFCausalLM.load(name)


def _threads() -> int:
    """At most two torch CPU threads (this machine's cores); a GPU run keeps its count."""
    n = torch.get_num_threads()
    return n if torch.cuda.is_available() else min(n, 2)


def _with_threads(compute):
    @functools.wraps(compute)
    def run(cfg, out, *inputs):
        with torch_threads(_threads()):
            return compute(cfg, out, *inputs)
    return run


# --------------------------------------------------------------------------- spectra

def _spectra_config(profile: str) -> dict:
    return {"models": ["smollm2", "minilm"], "twin_seed": 0, "tw_quantile": 0.99,
            "vector_layers": {"smollm2": 15, "minilm": 3}}


def _spectra_compute(cfg: dict, out: Path) -> None:
    for name in cfg["models"]:
        if (out / f"{name}.json").exists():          # checkpoint per model
            continue
        lm = _load(name)
        summary = {}
        arrays = {}
        for label, m in (("twin", lm.twin(cfg["twin_seed"])), ("trained", lm)):
            mats = m.weight_matrices()
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


def _sampled_tokens(lm, cfg: dict, out: Path, tag: str) -> torch.Tensor:
    path = out / f"tokens-{tag}.npz"
    if path.exists():
        return torch.from_numpy(np.load(path)["tokens"])
    toks = lm.sample_tokens(cfg["n_sequences"], cfg["length"], cfg["seed"], method="generate")
    atomic_save_npz(path, tokens=toks)
    return torch.from_numpy(toks)


def _activations_compute(cfg: dict, out: Path) -> None:
    lm = _load(cfg["model"])
    tokens = _sampled_tokens(lm, cfg, out, "activations")
    arrays, meta = {}, []
    for label, m in (("trained", lm), ("twin", lm.twin(cfg["twin_seed"]))):
        mats = [wm for wm in m.weight_matrices() if wm.layer in cfg["layers"]]
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
    lm = _load(cfg["model"])
    tokens = _sampled_tokens(lm, cfg, out, "heldout")
    mats = lm.weight_matrices()
    partial = out / "removal-partial.json"          # checkpoint: one matrix type at a time
    done = read_json(partial) if partial.exists() else {}
    base = None
    for t in cfg["types"]:
        if t in done:
            continue
        res = decile_removal(lm, mats, tokens, types=[t])
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
        _spectra_config, _with_threads(_spectra_compute), "weights_spectra"),
    Job("weights_activations", "weights", "Singular vectors vs activation-covariance eigenvectors (SmolLM2)",
        _activations_config, _with_threads(_activations_compute), "weights_activations"),
    Job("weights_removal", "weights", "Perplexity change when one singular-value decile is removed (SmolLM2)",
        _removal_config, _with_threads(_removal_compute), "weights_removal"),
]
