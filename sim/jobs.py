"""Jobs for the synthetic lens-1 figures (run by ``logitrank figures``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.jobs import Job
from logitrank.sim.experiments import (
    cutwise_rank_vs_dimension,
    lingen_synthetic,
    phase_transition_ranks,
    synthetic_spectra,
)


def _cutwise_config(profile: str) -> dict:
    if profile == "full":
        return {"vocab_size": 3, "horizon": 7, "dims": list(range(1, 11)), "n_seeds": 10,
                "hmm_states": [2, 3, 4], "seed": 0}
    return {"vocab_size": 3, "horizon": 6, "dims": list(range(1, 9)), "n_seeds": 4,
            "hmm_states": [2, 3], "seed": 0}


def _cutwise_compute(cfg: dict, out: Path) -> None:
    res = cutwise_rank_vs_dimension(**cfg)
    atomic_save_npz(out / "cutwise.npz", **{k: np.asarray(v) for k, v in res.items()})


def _phase_config(profile: str) -> dict:
    top = 7 if profile == "full" else 6
    return {"alphas": [0.3, 0.4, 0.45, 0.55, 0.6, 0.8, 1.0],
            "sizes": np.unique(np.logspace(2, top, 6 * (top - 2) + 1).astype(int)).tolist(),
            "rel_err": 0.3}


def _phase_compute(cfg: dict, out: Path) -> None:
    res = phase_transition_ranks(**cfg)
    atomic_save_npz(out / "phase.npz", **{k: np.asarray(v) for k, v in res.items()})
    atomic_write_json(out / "summary.json", {"last_decade_slope": dict(zip(map(str, res["alphas"]),
                                                                          res["last_decade_slope"]))})


def _lingen_config(profile: str) -> dict:
    big = profile == "full"
    return {"vocab_size": 4, "horizon": 12, "dim": 4, "history_length": 5, "n_histories": 24 if big else 12,
            "n_futures": 21, "n_models": 20 if big else 6, "n_steps": 7, "n_samples": 10 if big else 5,
            "last_m": 2, "seed": 0, "hmm_concentration": 0.3}


def _lingen_compute(cfg: dict, out: Path) -> None:
    res = lingen_synthetic(**cfg)
    atomic_save_npz(out / "lingen.npz", **{k: np.asarray(v) for k, v in res.items()})


def _catalogue_config(profile: str) -> dict:
    big = profile == "full"
    return {"vocab_size": 8, "history_length": 6, "n_histories": 512 if big else 192,
            "n_futures": 128 if big else 48, "max_future_length": 3, "dims": [2, 4, 8, 16],
            "hmm_states": [2, 4, 8], "alphas": [0.3, 0.5, 0.8], "seed": 0}


def _catalogue_compute(cfg: dict, out: Path, inputs: dict) -> None:
    res = synthetic_spectra(**cfg)
    real = {}
    for label in ("trained", "untrained"):
        a = np.load(inputs["real_spectrum"] / f"analysis_{label}.npz")
        s = a["singular_values"]
        real[label] = {"curve": s / s[0], "alpha": float(a["alpha"]), "alpha_err": float(a["alpha_err"])}
    atomic_save_npz(out / "catalogue.npz", **{k: np.asarray(v) for k, v in res.items()},
                    real_trained=real["trained"]["curve"], real_untrained=real["untrained"]["curve"],
                    real_alpha=np.array([real["trained"]["alpha"], real["untrained"]["alpha"]]),
                    real_alpha_err=np.array([real["trained"]["alpha_err"], real["untrained"]["alpha_err"]]))


JOBS = [
    Job("cutwise_rank_vs_dimension", "logits", "Cut-wise logit rank vs hidden dimension (random ISANs, HMMs)",
        _cutwise_config, _cutwise_compute, "cutwise_rank"),
    Job("alpha_phase_transition", "logits", "Rank needed for fixed relative error vs matrix size: the α = 1/2 transition",
        _phase_config, _phase_compute, "phase_transition"),
    Job("lingen_synthetic", "logits", "LINGEN vs baselines on random ISANs (exact) and HMMs",
        _lingen_config, _lingen_compute, "lingen_synthetic"),
    Job("synthetic_vs_real_rank_curves", "logits",
        "Normalised singular-value curves: random ISANs/HMMs, power laws, SmolLM2 and its random-init twin",
        _catalogue_config, _catalogue_compute, "synthetic_vs_real", inputs=("real_spectrum",)),
]
