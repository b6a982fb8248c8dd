"""Singular vectors against the eigenvectors of the input-activation covariance (SmolLM2 and its twin).

For each matrix of the chosen blocks, O_k is the largest overlap of the k-th right singular
vector with an eigenvector of the covariance of the activations entering that matrix
(model-sampled text, seeded), next to the band of a random vector.

References
----------
Staats, Thamm, Rosenow (2024), Sec. 4, Figs. 2–4 and 10 (overlap with activation
covariance; none at initialisation).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.io import atomic_save_npz
from logitrank.real_models.activations import activation_overlaps
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.runtime import torch_threads

__all__ = ["ActivationsConfig", "ActivationsResult", "OverlapRecord", "compute", "EXPERIMENT"]


@dataclasses.dataclass(frozen=True)
class ActivationsConfig:
    """Model, sampled text (sequences × length, seed), the blocks analysed, twin seed, torch threads."""

    model: str = "smollm2"
    n_sequences: int = 16
    length: int = 64
    layers: tuple[int, ...] = (15,)
    seed: int = 1
    twin_seed: int = 0
    threads: int | None = None


PROFILES = {"quick": ActivationsConfig(),
            "full": ActivationsConfig(n_sequences=64, length=256, layers=(5, 15, 25))}


@dataclasses.dataclass(frozen=True)
class OverlapRecord:
    """One matrix: label (trained/twin), name, type, block, random band (mean, lo, hi), covariance facts."""

    label: str
    name: str
    type: str
    layer: int
    band: tuple[float, float, float]
    n_tokens: int
    covariance_rank: int
    input_dim: int
    full_rank: bool
    shape: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class ActivationsResult(SavedResult):
    """Per matrix its record, singular values and overlaps (``arrays["<label>|<name>|sv"/"overlap"]``)."""

    ARRAYS, RECORD = "overlaps.npz", "overlaps.json"

    matrices: tuple[OverlapRecord, ...]
    n_tokens: int
    threads: int
    arrays: dict[str, np.ndarray]

    def overlap(self, m: OverlapRecord) -> np.ndarray:
        """O_k of matrix ``m`` (descending singular values)."""
        return self.arrays[f"{m.label}|{m.name}|overlap"]

    def singular_values(self, m: OverlapRecord) -> np.ndarray:
        """Singular values of matrix ``m`` (descending)."""
        return self.arrays[f"{m.label}|{m.name}|sv"]


def _sampled_tokens(lm: HFCausalLM, n_sequences: int, length: int, seed: int, path: Path) -> torch.Tensor:
    """Seeded model samples (``method="generate"``), cached in ``path`` so a resumed run reuses them."""
    if path.exists():
        with np.load(path) as z:
            return torch.from_numpy(z["tokens"])
    toks = lm.sample_tokens(n_sequences, length, seed, method="generate")
    atomic_save_npz(path, tokens=toks)
    return torch.from_numpy(toks)


def compute(config: ActivationsConfig, out_dir: Path, inputs=None) -> ActivationsResult:
    """Overlaps of every matrix of ``config.layers``, trained and random-init twin."""
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        lm = HFCausalLM.load(config.model)
        tokens = _sampled_tokens(lm, config.n_sequences, config.length, config.seed,
                                 Path(out_dir) / "tokens-activations.npz")
        arrays, records = {}, []
        for label, m in (("trained", lm), ("twin", lm.twin(config.twin_seed))):
            mats = [wm for wm in m.weight_matrices() if wm.layer in config.layers]
            shapes = {wm.name: tuple(wm.shape) for wm in mats}
            for r in activation_overlaps(m, mats, tokens, rng=np.random.default_rng(config.seed)):
                arrays[f"{label}|{r.name}|sv"] = r.singular_values
                arrays[f"{label}|{r.name}|overlap"] = r.overlap
                records.append(OverlapRecord(label=label, name=r.name, type=r.matrix_type, layer=int(r.layer),
                                             band=tuple(float(b) for b in r.band), n_tokens=int(r.n_tokens),
                                             covariance_rank=int(r.covariance_rank), input_dim=int(r.input_dim),
                                             full_rank=bool(r.full_rank), shape=shapes[r.name]))
    return ActivationsResult(matrices=tuple(records), n_tokens=int(tokens.numel()), threads=threads, arrays=arrays)


EXPERIMENT = Experiment(
    name="weights_activations", lens="weights", order=501,
    title="Singular vectors vs activation-covariance eigenvectors (SmolLM2)",
    profiles=PROFILES, compute=compute, result_type=ActivationsResult, figure_module="weights_activations")
