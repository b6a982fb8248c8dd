"""Normalised singular-value curves of synthetic models next to SmolLM2 and its random-init twin.

Reads the ``real_spectrum`` result (:class:`~logitrank.experiments.real_spectrum.RealSpectrumResult`).
Its figure module (``paper_figs/synthetic_vs_real.py``) still reads ``catalogue.npz`` by key;
the result keeps that file layout so the figure and cached results stay valid.

References
----------
Golowich, Liu, Shetty (2025), §3.1 and §6: exact low rank (ISANs), approximately low rank
(HMMs) and power laws σ_i ∝ i^(−α), against trained (α slightly above 1/2) and untrained LMs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.sim.experiments import synthetic_spectra

__all__ = ["RankCurvesConfig", "RankCurvesResult", "compute", "EXPERIMENT"]

@dataclasses.dataclass(frozen=True)
class RankCurvesConfig:
    """Synthetic matrix sizes and the model families whose spectra are drawn."""

    vocab_size: int = 8
    history_length: int = 6
    n_histories: int = 192
    n_futures: int = 48
    max_future_length: int = 3
    dims: tuple[int, ...] = (2, 4, 8, 16)
    hmm_states: tuple[int, ...] = (2, 4, 8)
    alphas: tuple[float, ...] = (0.3, 0.5, 0.8)
    seed: int = 0


PROFILES = {"quick": RankCurvesConfig(), "full": RankCurvesConfig(n_histories=512, n_futures=128)}


@dataclasses.dataclass(frozen=True)
class RankCurvesResult(SavedResult):
    """Synthetic curves σ_i/σ_1 with labels and fitted α; real curves (trained, untrained) and their α ± err."""

    ARRAYS = "catalogue.npz"
    labels: np.ndarray          # (n_curves,) str
    curves: np.ndarray          # (n_curves, n)
    alpha: np.ndarray           # (n_curves,) NaN where no power law can be fitted
    shape: np.ndarray           # (2,) synthetic matrix shape
    real_trained: np.ndarray    # (n_real,)
    real_untrained: np.ndarray  # (n_real,)
    real_alpha: np.ndarray      # (2,) trained, untrained
    real_alpha_err: np.ndarray  # (2,)


def compute(config: RankCurvesConfig, out_dir: Path | None = None,
            inputs: dict[str, Path] | None = None) -> RankCurvesResult:
    """Synthetic spectra (:func:`logitrank.sim.experiments.synthetic_spectra`) plus the real curves."""
    res = synthetic_spectra(**dataclasses.asdict(config))
    from logitrank.experiments.real_spectrum import RealSpectrumResult
    spec = RealSpectrumResult.load(Path(inputs["real_spectrum"]))
    real = {}
    for label in ("trained", "untrained"):
        a = getattr(spec, label)
        real[label] = (a.singular_values / a.singular_values[0], a.alpha, a.alpha_err)
    return RankCurvesResult(
        labels=res["labels"], curves=res["curves"], alpha=res["alpha"], shape=res["shape"],
        real_trained=real["trained"][0], real_untrained=real["untrained"][0],
        real_alpha=np.array([real["trained"][1], real["untrained"][1]]),
        real_alpha_err=np.array([real["trained"][2], real["untrained"][2]]))


EXPERIMENT = Experiment(
    name="synthetic_vs_real_rank_curves", lens="logits", order=130,
    title="Normalised singular-value curves: random ISANs/HMMs, power laws, SmolLM2 and its random-init twin",
    profiles=PROFILES, compute=compute, result_type=RankCurvesResult, figure_module="synthetic_vs_real",
    inputs=("real_spectrum",))
