"""Jobs of the learning figures (query learner vs theorem, noise, noisy parity, SmolLM2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from logitrank.io import atomic_write_json
from logitrank.jobs import Job
from logitrank.sim.learning import (noise_sweep, parity_comparison, query_scaling, real_model_demo,
                                    spectral_samples_needed)

__all__ = ["JOBS"]


def _runs(rows) -> list[dict]:
    return [dataclasses.asdict(r) for r in rows]


# --- queries vs d, T, ε --------------------------------------------------------------------
def _scaling_config(profile: str) -> dict:
    if profile == "full":
        return {"vocab_size": 4, "base_horizon": 5, "base_dim": 2, "base_epsilon": 0.05,
                "dims": [1, 2, 3, 4, 6, 8, 12, 16], "horizons": [2, 3, 4, 5, 6, 7],
                "epsilons": [0.4, 0.2, 0.1, 0.05, 0.025, 0.0125], "n_seeds": 20}
    return {"vocab_size": 4, "base_horizon": 5, "base_dim": 2, "base_epsilon": 0.05,
            "dims": [1, 2, 3, 4, 6, 8], "horizons": [2, 3, 4, 5, 6, 7],
            "epsilons": [0.2, 0.1, 0.05, 0.025], "n_seeds": 5}


def _scaling_compute(cfg: dict, out: Path) -> None:
    res = query_scaling(**cfg)
    atomic_write_json(out / "scaling.json", {k: _runs(v) for k, v in res.items()})


# --- TV vs oracle error ξ ------------------------------------------------------------------
def _noise_config(profile: str) -> dict:
    return {"noises": [0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], "vocab_size": 3, "horizon": 5, "dim": 3,
            "epsilon": 0.05, "n_seeds": 20 if profile == "full" else 6}


def _noise_compute(cfg: dict, out: Path) -> None:
    atomic_write_json(out / "noise.json", {"runs": _runs(noise_sweep(**cfg)), "config": cfg})


# --- noisy parity: queries vs samples --------------------------------------------------------
def _parity_config(profile: str) -> dict:
    if profile == "full":
        return {"n_bits": list(range(4, 25, 2)), "seeds": [0, 1, 2, 3, 4], "noise": 0.1, "epsilon": 0.05,
                "needed_n_bits": [4, 6, 8, 10, 12], "needed_max_samples": 256_000}
    return {"n_bits": [4, 6, 8, 10, 12, 14, 16, 18, 20], "seeds": [0, 1], "noise": 0.1, "epsilon": 0.05,
            "needed_n_bits": [4, 6, 8, 10], "needed_max_samples": 16_000}


def _parity_compute(cfg: dict, out: Path) -> None:
    rows = [parity_comparison(n, s, noise=cfg["noise"], epsilon=cfg["epsilon"])
            for n in cfg["n_bits"] for s in cfg["seeds"]]
    needed = [spectral_samples_needed(n, 0, noise=cfg["noise"], target=cfg["epsilon"],
                                      max_samples=cfg["needed_max_samples"])
              for n in cfg["needed_n_bits"]]
    atomic_write_json(out / "parity.json", {"rows": rows, "needed": needed, "config": cfg})


# --- SmolLM2 demonstration ---------------------------------------------------------------------
def _real_config(profile: str) -> dict:
    if profile == "full":
        return {"token_texts": [" red", " green", " blue", " yellow", " black", " white"], "horizon": 5,
                "max_ranks": [1, 2, 4, 8, 16, None], "epsilon": 0.1, "max_epochs": 30, "tv_samples": 4000}
    return {"token_texts": [" red", " green", " blue", " yellow"], "horizon": 5,
            "max_ranks": [1, 2, 4, 8, None], "epsilon": 0.1, "max_epochs": 20, "tv_samples": 1000}


def _real_compute(cfg: dict, out: Path) -> None:
    res = real_model_demo(**cfg)
    atomic_write_json(out / "real.json", res)


JOBS = [
    Job("learning_query_scaling", "logits",
        "Query learner on random ISANs: logit queries vs d, T and ε (against the theorem's polynomial)",
        _scaling_config, _scaling_compute, "learning_scaling"),
    Job("learning_oracle_noise", "logits", "Query learner: TV of the learned model vs oracle error ξ",
        _noise_config, _noise_compute, "learning_noise"),
    Job("learning_noisy_parity", "logits",
        "Noisy parity: query learner (poly(n) queries) vs spectral learner (same budget in samples)",
        _parity_config, _parity_compute, "learning_parity"),
    Job("learning_smollm2", "logits",
        "Query learner on SmolLM2 restricted to a few colour tokens, short horizon (experimental)",
        _real_config, _real_compute, "learning_real"),
]
