"""Jobs for the synthetic lens-1 figures (run by ``logitrank figures``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logitrank.io import atomic_save_npz, atomic_write_json
from logitrank.jobs import Job
from logitrank.sim.experiments import cutwise_rank_vs_dimension, phase_transition_ranks


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


JOBS = [
    Job("cutwise_rank_vs_dimension", "logits", "Cut-wise logit rank vs hidden dimension (random ISANs, HMMs)",
        _cutwise_config, _cutwise_compute, "cutwise_rank"),
    Job("alpha_phase_transition", "logits", "Rank needed for fixed relative error vs matrix size: the α = 1/2 transition",
        _phase_config, _phase_compute, "phase_transition"),
]
