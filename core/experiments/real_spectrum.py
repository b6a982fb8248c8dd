"""Spectrum of a real LM's extended logit matrix on real text, against its random-init twin.

L_{M,k}(H, F) (top-k columns per future, rule ``topk_average``) of the model and of its
random-init twin on the *same* held-out real-text windows (histories and futures from
:func:`logitrank.real_models.corpus.corpus_windows`, disjoint token regions, seeded). For
both models:

- the power-law α of σ_i ≈ C·i^(−α) with a 95% Bayesian-bootstrap interval over histories
  and futures (:func:`logitrank.theory.intervals.alpha_bootstrap`);
- a **goodness-of-fit check** (:func:`logitrank.theory.spectrum.power_law_check`): the
  half-range slopes must agree, so a spectrum that is not a power law (e.g. an i.i.d.
  Gaussian matrix) is reported as such instead of as a small α;
- a **scale sweep**: α (with its interval) of the nested sub-matrices made of the first
  |H|/f histories and |F|/f futures of the seeded draw (f = 8, 4, 2, 1; |F|·k ∝ |H|), so a
  reader sees whether trained and twin separate as the matrix grows;
- α under random 2/4/8× subsampling (the paper's stability test) and the average KL of the
  best rank-r approximation with its Frobenius bound, and the log-log slope of that KL
  against r with a 95% interval over resampled histories
  (:func:`logitrank.theory.intervals.kl_slope_bootstrap`; the rank-r subspaces are held fixed).

The verdict of "trained α > 1/2 > twin α" uses the intervals: yes when the trained interval
lies above 1/2 and the twin's below; inconclusive when an interval straddles 1/2 or a
spectrum fails the power-law check.

References
----------
Golowich, Liu, Shetty (2025), §3.1, Def. 3.1, Fact B.2, Figs. 1a, 2 and 7 (trained OLMo-7b
α = 0.536 on wiki; OLMo-1b at step 0 α = 0.374).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment
from logitrank.io import atomic_save_npz, atomic_write_json, read_json

__all__ = ["RealSpectrumConfig", "ModelSpectrum", "RealSpectrumResult", "compute", "EXPERIMENT"]

FILE = "spectrum.npz"
MODELS = ("trained", "untrained")


@dataclasses.dataclass(frozen=True)
class RealSpectrumConfig:
    """Model, corpus, window sizes, column rule, fit range, sweep factors, bootstrap size, threads."""

    model: str = "smollm2"
    dtype: str = "float32"
    twin_seed: int = 0
    corpus: str = "shakespeare"
    seed: int = 0
    n_histories: int = 256
    history_length: int = 24
    n_futures: int = 32
    future_length: int = 4
    k: int = 50
    rule: str = "topk_average"
    fit_range: tuple[float, float] = (0.01, 0.5)
    gof_rtol: float = 0.5
    sweep_factors: tuple[int, ...] = (8, 4, 2, 1)
    subsample_factors: tuple[int, ...] = (1, 2, 4, 8)
    n_boot: int = 100
    ranks: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20, 32, 50, 80, 128, 200)
    future_chunk: int = 16
    max_batch_tokens: int = 2048
    max_kv_mib: float = 256.0
    threads: int | None = None


PROFILES = {"quick": RealSpectrumConfig(),
            "full": RealSpectrumConfig(n_histories=1024, history_length=32, n_futures=1024, future_length=8,
                                       sweep_factors=(16, 8, 4, 2, 1), subsample_factors=(1, 2, 4, 8, 16),
                                       n_boot=200, ranks=(1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500),
                                       future_chunk=64, max_batch_tokens=32768, max_kv_mib=8192.0)}


@dataclasses.dataclass(frozen=True)
class ModelSpectrum:
    """One model's spectrum, α with interval, power-law check, sweep, subsampling and KL vs rank."""

    singular_values: np.ndarray     # (n,)
    alpha: float
    alpha_low: float
    alpha_high: float
    alpha_err: float                # PowerLawFit's own error (slope se ⊕ half-range sensitivity)
    log_scale: float
    fit_range: np.ndarray           # (2,) 1-based indices used
    alpha_lower_half: float
    alpha_upper_half: float
    gof_relative_disagreement: float
    gof_r_squared: float
    is_power_law: bool
    sweep_histories: np.ndarray     # (n_sizes,) |H| of each nested sub-matrix
    sweep_columns: np.ndarray       # (n_sizes,) |F|·k
    sweep_alpha: np.ndarray
    sweep_low: np.ndarray
    sweep_high: np.ndarray
    sweep_is_power_law: np.ndarray  # (n_sizes,) bool
    subsample_factors: np.ndarray
    subsample_alpha_mean: np.ndarray
    subsample_alpha_std: np.ndarray
    ranks: np.ndarray
    average_kl: np.ndarray
    frobenius_bound: np.ndarray
    seconds: float
    tokens: int
    kl_slope: float                 # log-log slope of average KL vs rank
    kl_slope_low: float             # 95% interval over resampled histories (subspaces held fixed)
    kl_slope_high: float
    kl_r_squared: float             # of the log-log fit of average KL vs rank


@dataclasses.dataclass(frozen=True)
class RealSpectrumResult:
    """Both models' spectra, the trained matrix and the windows (read by ``real_principal_angles``)."""

    trained: ModelSpectrum
    untrained: ModelSpectrum
    matrix_trained: np.ndarray      # (|H|, |F|·k) float32
    column_tokens: np.ndarray       # (|F|, k)
    histories: np.ndarray           # (|H|, history_length) token ids
    futures: np.ndarray             # (|F|, future_length)
    config: dict
    threads_used: int

    def save(self, out_dir: Path) -> None:
        arrays = {f"{m}/{f.name}": np.asarray(getattr(getattr(self, m), f.name))
                  for m in MODELS for f in dataclasses.fields(ModelSpectrum)}
        atomic_save_npz(Path(out_dir) / FILE, matrix_trained=self.matrix_trained, column_tokens=self.column_tokens,
                        histories=self.histories, futures=self.futures, **arrays)
        atomic_write_json(Path(out_dir) / "spectrum.json", {"config": self.config, "threads_used": self.threads_used})

    @classmethod
    def load(cls, results_dir: Path) -> RealSpectrumResult:
        meta = read_json(Path(results_dir) / "spectrum.json")
        with np.load(Path(results_dir) / FILE) as z:
            models = {}
            for m in MODELS:
                kw = {}
                for f in dataclasses.fields(ModelSpectrum):
                    v = z[f"{m}/{f.name}"]
                    kw[f.name] = v.item() if v.ndim == 0 else v
                models[m] = ModelSpectrum(**kw)
            return cls(**models, matrix_trained=z["matrix_trained"], column_tokens=z["column_tokens"],
                       histories=z["histories"], futures=z["futures"], config=meta["config"],
                       threads_used=int(meta["threads_used"]))


def analyse_spectrum(values: np.ndarray, config: RealSpectrumConfig, rng: np.random.Generator,
                     *, seconds: float = 0.0, tokens: int = 0) -> ModelSpectrum:
    """α with bootstrap interval, power-law check, nested sweep, subsampling, KL vs rank of one matrix."""
    from logitrank.theory.intervals import alpha_bootstrap, kl_slope_bootstrap
    from logitrank.theory.spectrum import (
        PowerLawFit,
        alpha_subsample_stability,
        average_kl_vs_rank,
        log_log_slope,
        power_law_check,
        singular_values,
    )
    L = np.asarray(values, dtype=np.float64)
    k, fr = config.k, tuple(config.fit_range)
    s = singular_values(L)
    fit = PowerLawFit(fit_range=fr).fit(s)
    check = power_law_check(s, fit_range=fr, rtol=config.gof_rtol)
    iv = alpha_bootstrap(L, k, rng, n_boot=config.n_boot, fit_range=fr)
    nH, nF = L.shape[0], L.shape[1] // k
    sw = {"h": [], "c": [], "a": [], "lo": [], "hi": [], "ok": []}
    for f in config.sweep_factors:
        h, g = nH // f, nF // f
        sub = L[:h, :g * k]                         # nested: the first |H|/f and |F|/f of the seeded draw
        siv = alpha_bootstrap(sub, k, rng, n_boot=config.n_boot, fit_range=fr)
        sw["h"].append(h)
        sw["c"].append(g * k)
        sw["a"].append(siv.estimate)
        sw["lo"].append(siv.low)
        sw["hi"].append(siv.high)
        s_sub = s if sub.shape == L.shape else singular_values(sub)     # f = 1: the whole matrix again
        sw["ok"].append(power_law_check(s_sub, fit_range=fr, rtol=config.gof_rtol).is_power_law)
    stab = alpha_subsample_stability(L, k, rng, factors=tuple(config.subsample_factors), fit_range=fr)
    ranks = [r for r in config.ranks if r <= min(L.shape)]
    kl = average_kl_vs_rank(L, k, ranks)
    kiv = kl_slope_bootstrap(kl.ranks, kl.per_history, rng, n_boot=config.n_boot)   # last: earlier draws unchanged
    return ModelSpectrum(
        singular_values=s, alpha=float(fit.alpha_), alpha_low=float(iv.low), alpha_high=float(iv.high),
        alpha_err=float(fit.alpha_err_), log_scale=float(fit.log_scale_), fit_range=np.asarray(fit.fit_range_),
        alpha_lower_half=check.alpha_lower, alpha_upper_half=check.alpha_upper,
        gof_relative_disagreement=check.relative_disagreement, gof_r_squared=check.r_squared,
        is_power_law=bool(check.is_power_law), sweep_histories=np.array(sw["h"]), sweep_columns=np.array(sw["c"]),
        sweep_alpha=np.array(sw["a"]), sweep_low=np.array(sw["lo"]), sweep_high=np.array(sw["hi"]),
        sweep_is_power_law=np.array(sw["ok"], dtype=bool), subsample_factors=np.asarray(stab.factors),
        subsample_alpha_mean=stab.alpha_mean, subsample_alpha_std=stab.alpha_std, ranks=np.asarray(kl.ranks),
        average_kl=kl.average_kl, frobenius_bound=kl.frobenius_bound, seconds=float(seconds), tokens=int(tokens),
        kl_slope=kiv.estimate, kl_slope_low=kiv.low, kl_slope_high=kiv.high,
        kl_r_squared=log_log_slope(kl.ranks, kl.average_kl)[1])


def compute(config: RealSpectrumConfig, out_dir: Path | None = None, inputs=None) -> RealSpectrumResult:
    """Windows from the corpus, both models' matrices (checkpointed per model), their analyses."""
    import torch

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.corpus import corpus_windows
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.runtime import torch_threads

    out = Path(out_dir) if out_dir is not None else None
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        lm = HFCausalLM.load(config.model, dtype=config.dtype)
        w = corpus_windows(config.corpus, lm, {"histories": (config.n_histories, config.history_length),
                                               "futures": (config.n_futures, config.future_length)},
                           seed=config.seed)
        H, F = w["histories"], w["futures"]
        analyses, matrix, columns = {}, None, None
        for label in MODELS:
            model = lm if label == "trained" else lm.twin(config.twin_seed)
            eng = LogitMatrixEngine(model, future_chunk=config.future_chunk, max_batch_tokens=config.max_batch_tokens,
                                    max_kv_mib=config.max_kv_mib, progress=True)
            t0 = time.perf_counter()
            # checkpointed under out_dir: a killed run resumes from the last chunk
            m = eng.matrix(H, F, rule=config.rule, k=config.k, run_dir=None if out is None else out / f"ckpt_{label}")
            values, cols, tokens = m.values, m.column_tokens, eng.tokens_processed
            seconds = time.perf_counter() - t0
            analyses[label] = analyse_spectrum(values, config, np.random.default_rng(config.seed + 1),
                                               seconds=seconds, tokens=tokens)
            if label == "trained":
                matrix, columns = np.asarray(values, dtype=np.float32), np.asarray(cols)
    return RealSpectrumResult(**analyses, matrix_trained=matrix, column_tokens=columns,
                              histories=np.stack(H), futures=np.stack(F),
                              config=dataclasses.asdict(config), threads_used=int(threads))


EXPERIMENT = Experiment(
    name="real_spectrum", lens="logits", order=300, version=3,
    title="SmolLM2 vs random-init twin on real text: logit-matrix spectrum, α with intervals, power-law check, "
          "scale sweep, subsampling, average KL vs rank",
    profiles=PROFILES, compute=compute, result_type=RealSpectrumResult, figure_module="real_spectrum")
