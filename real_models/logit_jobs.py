"""Real-model lens-1 experiments (SmolLM2-135M-Instruct) as jobs of the main figure run.

Three jobs, each one figure (``logitrank.paper_figs.real_*``):

- ``real_spectrum`` — L_{M,50}(H, F) of SmolLM2 and of its random-init twin on the same
  token sequences: singular values, power-law α (paper: trained slightly above 1/2, e.g.
  OLMo-7b 0.536; untrained OLMo-1b 0.374), α under 2/4/8/16× subsampling, average KL of the
  best rank-r approximation vs r with its Frobenius bound (Golowich et al. 2025, §3.1,
  Def. 3.1, Fact B.2, Figs. 1a, 2, 7).
- ``real_principal_angles`` — principal-angle cosines between the rank-r column spaces of
  L(H, F) and L(H, F_nonsense) (token-shuffled futures) against random subspaces (Fig. 4).
- ``real_lingen`` — LINGEN on SmolLM2 with model-sampled and with nonsense histories,
  15 steps, per-step and total KL against the next-token-only and last-5-tokens baselines
  (Figs. 1b, 6).

No corpus ships here, so "text" is samples of SmolLM2 itself (seeded); the twin is scored
on the same sequences. ``quick`` runs in a few minutes on 2 CPU cores; ``full`` is sized
for one GPU (the engine picks CUDA when available).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.jobs import Job
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.engine import LogitMatrixEngine, engine_logit_matrix, load_matrix_chunks
from logitrank.real_models.runtime import torch_threads
from logitrank.real_models.text_sources import model_samples, token_shuffled
from logitrank.theory.lingen import lingen_evaluate
from logitrank.theory.spectrum import (PowerLawFit, alpha_subsample_stability, average_kl_vs_rank,
                                       principal_angle_cosines, random_subspace_cosines)

__all__ = ["JOBS", "spectrum_config", "spectrum_compute", "angles_config", "angles_compute",
           "lingen_config", "lingen_compute"]

def _load(cfg: dict, twin_seed=None) -> HFCausalLM:
    """The job's model (or its random-init twin); larger generic-path batches on a GPU."""
    lm = HFCausalLM.load(cfg["model"], dtype=cfg["dtype"], twin_seed=twin_seed)
    if lm.device.type == "cuda":
        lm.batch_size = 512                 # generic-path queries (sampling, LINGEN steps)
    return lm


def _with_threads(compute):
    """Run ``compute`` with ``cfg["cpu_threads"]`` (default 1) torch threads, see :func:`torch_threads`."""
    @functools.wraps(compute)
    def run(cfg, out, *inputs):
        with torch_threads(cfg.get("cpu_threads", 1)):
            return compute(cfg, out, *inputs)
    return run


def _engine(lm, cfg):
    return LogitMatrixEngine(lm, future_chunk=cfg.get("future_chunk", 16),
                             max_batch_tokens=cfg.get("max_batch_tokens", 2048),
                             max_kv_mib=cfg.get("max_kv_mib", 256), progress=cfg.get("progress", True))


def _pack(seqs) -> np.ndarray:
    return np.stack([np.asarray(s, dtype=np.int64) for s in seqs])


# --- spectrum ----------------------------------------------------------------------------
def spectrum_config(profile: str) -> dict:
    """Sizes: quick = a few CPU minutes; full = |H| = |F| = 1024 (a GPU)."""
    if profile == "full":
        return {"model": "smollm2", "dtype": "float32", "n_histories": 1024, "history_length": 32,
                "n_futures": 1024, "future_length": 8, "k": 50, "rule": "topk_average", "seed": 0,
                "twin_seed": 0, "factors": [1, 2, 4, 8, 16], "fit_range": [0.01, 0.5],
                "ranks": [1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500], "future_chunk": 64,
                "max_batch_tokens": 32768, "max_kv_mib": 8192}
    # 128 × 3200: large enough to fit α over indices 2–64 and subsample 8×; ≈4 CPU minutes.
    return {"model": "smollm2", "dtype": "float32", "n_histories": 128, "history_length": 20,
            "n_futures": 64, "future_length": 4, "k": 50, "rule": "topk_average", "seed": 0,
            "twin_seed": 0, "factors": [1, 2, 4, 8], "fit_range": [0.01, 0.5],
            "ranks": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 120], "future_chunk": 16,
            "max_batch_tokens": 2048}


def spectrum_compute(cfg: dict, out: Path) -> None:
    """Matrices of the model and its twin; α, subsample stability, KL vs rank for both."""
    out = Path(out)
    lm = _load(cfg)
    H = model_samples(lm, cfg["n_histories"], cfg["history_length"], cfg["seed"])
    F = model_samples(lm, cfg["n_futures"], cfg["future_length"], cfg["seed"] + 1)
    atomic_save_npz(out / "sequences.npz", histories=_pack(H), futures=_pack(F))
    summary = {}
    for label, model in (("trained", lm), ("untrained", None)):
        path = out / f"matrix_{label}.npz"
        if not path.exists():                    # resumable per model
            m = model if model is not None else lm.twin(cfg["twin_seed"])
            t0 = time.perf_counter()
            eng = _engine(m, cfg)
            g = eng.gram(H, F, rule=cfg["rule"], k=cfg["k"], run_dir=out / f"ckpt_{label}", save_matrix=True)
            values = load_matrix_chunks(out / f"ckpt_{label}")
            atomic_save_npz(path, values=values, column_tokens=g.column_tokens,
                            singular_values_gram=g.singular_values(),
                            seconds=np.array(time.perf_counter() - t0), tokens=np.array(g.tokens))
        data = np.load(path)
        values = data["values"].astype(np.float64)
        s = np.linalg.svd(values, compute_uv=False)
        fit = PowerLawFit(fit_range=tuple(cfg["fit_range"])).fit(s)
        stab = alpha_subsample_stability(values, cfg["k"], np.random.default_rng(cfg["seed"]),
                                         factors=tuple(cfg["factors"]), fit_range=tuple(cfg["fit_range"]))
        ranks = [r for r in cfg["ranks"] if r <= min(values.shape)]
        kl = average_kl_vs_rank(values, cfg["k"], ranks)
        atomic_save_npz(out / f"analysis_{label}.npz", singular_values=s, alpha=np.array(fit.alpha_),
                        alpha_err=np.array(fit.alpha_err_), log_scale=np.array(fit.log_scale_),
                        fit_range=np.asarray(fit.fit_range_), factors=stab.factors, alpha_mean=stab.alpha_mean,
                        alpha_std=stab.alpha_std, ranks=kl.ranks, average_kl=kl.average_kl,
                        frobenius_bound=kl.frobenius_bound)
        summary[label] = {"alpha": fit.alpha_, "alpha_err": fit.alpha_err_, "fit_range": list(fit.fit_range_),
                          "subsample_alpha": dict(zip(map(str, stab.factors.tolist()), stab.alpha_mean.tolist())),
                          "seconds": float(data["seconds"]), "tokens": int(data["tokens"]),
                          "shape": list(values.shape)}
    atomic_write_json(out / "summary.json", {"config": cfg, **summary})


# --- principal angles ---------------------------------------------------------------------
def angles_config(profile: str) -> dict:
    if profile == "full":
        return {"model": "smollm2", "dtype": "float32", "k": 50, "rule": "topk_average", "shuffle_seed": 1,
                "ranks": [10, 50, 100], "seed": 0, "future_chunk": 64, "max_batch_tokens": 32768,
                "max_kv_mib": 8192}
    return {"model": "smollm2", "dtype": "float32", "k": 50, "rule": "topk_average", "shuffle_seed": 1,
            "ranks": [5, 10, 20, 40], "seed": 0, "future_chunk": 16, "max_batch_tokens": 2048}


def angles_compute(cfg: dict, out: Path, inputs: dict) -> None:
    """Cosines of principal angles: real futures vs token-shuffled futures vs random subspaces."""
    out = Path(out)
    src = Path(inputs["real_spectrum"])
    seqs = np.load(src / "sequences.npz")
    H, F = list(seqs["histories"]), list(seqs["futures"])
    real = np.load(src / "matrix_trained.npz")["values"].astype(np.float64)
    F_nonsense = token_shuffled(F, cfg["shuffle_seed"])
    lm = _load(cfg)
    eng = _engine(lm, cfg)
    eng.gram(H, F_nonsense, rule=cfg["rule"], k=cfg["k"], run_dir=out / "ckpt_nonsense", save_matrix=True)
    nonsense = load_matrix_chunks(out / "ckpt_nonsense").astype(np.float64)
    rng = np.random.default_rng(cfg["seed"])
    res = {}
    for r in cfg["ranks"]:
        if r > min(real.shape[0], real.shape[1], nonsense.shape[1]):
            continue
        res[f"real_vs_nonsense/{r}"] = principal_angle_cosines(real, nonsense, r)
        res[f"random/{r}"] = random_subspace_cosines(real.shape[0], r, rng)
    atomic_save_npz(out / "angles.npz", n_histories=np.array(real.shape[0]), n_futures=np.array(len(F)),
                    k=np.array(cfg["k"]), **res)


# --- LINGEN ---------------------------------------------------------------------------------
def lingen_config(profile: str) -> dict:
    if profile == "full":
        return {"model": "smollm2", "dtype": "float32", "n_histories": 256, "history_length": 24,
                "n_futures": 128, "future_length": 8, "include_empty_future": True, "n_targets": 50, "target_length": 24, "n_samples": 5,
                "n_steps": 15, "k": 50, "rule": "topk_average", "last_m": 5, "method": "lstsq", "seed": 10,
                "shuffle_seed": 2, "options": ["in_distribution", "nonsense"]}
    return {"model": "smollm2", "dtype": "float32", "n_histories": 48, "history_length": 12,
            "n_futures": 16, "future_length": 4, "include_empty_future": True, "n_targets": 2,
            "target_length": 12, "n_samples": 2,
            "n_steps": 15, "k": 50, "rule": "topk_average", "last_m": 5, "method": "lstsq", "seed": 10,
            "shuffle_seed": 2, "options": ["in_distribution", "nonsense"]}


def lingen_compute(cfg: dict, out: Path) -> None:
    """LINGEN (Golowich et al. 2025, Alg. 1) per target and option; per-step KL per method."""
    out = Path(out)
    lm = _load(cfg)
    seed = cfg["seed"]
    H = model_samples(lm, cfg["n_histories"], cfg["history_length"], seed)
    F = model_samples(lm, cfg["n_futures"], cfg["future_length"], seed + 1)
    targets = model_samples(lm, cfg["n_targets"], cfg["target_length"], seed + 2)
    if cfg.get("include_empty_future", True):
        # The empty future makes the fit see next-token logits too (generation step 1 needs
        # exactly those); the other futures are model samples.
        F = [np.zeros(0, dtype=np.int64)] + list(F)
    sets = {"in_distribution": (H, F),
            "nonsense": (token_shuffled(H, cfg["shuffle_seed"]), token_shuffled(F, cfg["shuffle_seed"] + 1))}
    arrays = {"targets": _pack(targets)}
    for option in cfg["options"]:
        Ho, Fo = sets[option]
        path = out / f"lingen_{option}.npz"
        if path.exists():
            continue
        per = {}
        for t, target in enumerate(targets):
            ev = lingen_evaluate(lm, target, Ho, Fo, n_steps=cfg["n_steps"], n_samples=cfg["n_samples"],
                                 rng=np.random.default_rng(seed + 100 * t), rule=cfg["rule"], k=cfg["k"],
                                 method=cfg["method"], last_m=cfg["last_m"], matrix_fn=engine_logit_matrix)
            for m, kl in ev.per_step_kl.items():
                per.setdefault(m, []).append(kl)
            for m, r in ev.residual.items():
                per.setdefault(f"residual/{m}", []).append(r)
            lm.clear_kv_cache()
        atomic_save_npz(path, **{m: np.asarray(v) for m, v in per.items()})
    atomic_save_npz(out / "sequences.npz", **arrays)


JOBS = [
    Job("real_spectrum", "logits", "SmolLM2 vs random-init twin: logit-matrix spectrum, power-law α, "
        "subsampling, average KL vs rank", spectrum_config, _with_threads(spectrum_compute), "real_spectrum"),
    Job("real_principal_angles", "logits", "SmolLM2: principal angles between column spaces, real vs "
        "token-shuffled futures", angles_config, _with_threads(angles_compute), "real_principal_angles",
        inputs=("real_spectrum",)),
    Job("real_lingen", "logits", "LINGEN on SmolLM2: model-sampled and nonsense histories, 15 steps",
        lingen_config, _with_threads(lingen_compute), "real_lingen"),
]
