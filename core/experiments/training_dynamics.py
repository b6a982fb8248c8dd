"""Logit rank, held-out loss and weight spectra through training, at every checkpoint of the trained family.

For each width of ``trained_lms`` and each of its checkpoints (log-spaced, from step 0):

- **lens 1**: L_{M,k}(H, F) with the fast engine on held-out real-text windows (the same H,
  F for every checkpoint and width, cut from the held-out documents); the power-law α of its
  singular values with a Bayesian-bootstrap interval (:func:`~logitrank.theory.intervals.alpha_bootstrap`),
  α under 2×/4× subsampling of H and F (scale consistency), and the average KL of the best
  rank-r approximation at a fixed r (:func:`~logitrank.theory.spectrum.average_kl_vs_rank`)
  with a percentile interval over resampled histories;
- the **held-out loss** the training run recorded on the held-out documents;
- **lens 2**: every weight matrix against Marchenko–Pastur
  (:func:`~logitrank.real_models.weights.analyze_model_weights`): the fraction consistent with
  MP and the outlier counts below and above the band.

**Fit range.** The centered logits of a transformer are linear in its final hidden state, so
each future's block of L(H, F) has rank ≤ d_model and L(H, F) rank ≤ |F|·min(k, d_model) (only
L(H, {∅}) is capped at d_model). α is fitted over the paper's fractions (0.01, 0.5) of
n_eff = min(|H|, |F|·min(k, d_model)) singular values, i.e. indices max(2, ⌈0.01·n_eff⌉) …
⌊0.5·n_eff⌋ (:func:`fit_range_for`); with k ≤ d_model that is the default of
:class:`~logitrank.theory.spectrum.PowerLawFit`.

References
----------
Golowich, Liu, Shetty (2025), Def. 2.2, Def. 3.1, §3.1, Fig. 3 (OLMo-1b Stage-1 checkpoints),
Fig. 7d (OLMo-1b step 0: α ≈ 0.374, not scale-consistent). Staats, Thamm, Rosenow (2024),
Fig. 1 (random init agrees with MP) and App. A (deviations emerge with training).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.experiments._base import Experiment
from logitrank.io import atomic_save_npz, atomic_write_json, read_json

__all__ = ["TrainingDynamicsConfig", "TrainingDynamicsResult", "checkpoint_point", "compute", "fit_range_for",
           "EXPERIMENT"]

FILE = "training_dynamics.json"
ARRAYS = "singular_values.npz"


@dataclasses.dataclass(frozen=True)
class TrainingDynamicsConfig:
    """Probe sizes (held-out windows), k, the fixed rank r, bootstrap sizes, MP margin, threads."""

    n_histories: int = 192
    history_length: int = 24
    n_futures: int = 24
    future_length: int = 3
    k: int = 50
    rule: str = "topk_average"
    rank: int = 8
    factors: tuple[int, ...] = (1, 2, 4)
    n_boot: int = 50
    n_boot_kl: int = 30
    level: float = 0.95
    tw_quantile: float = 0.99
    seed: int = 0
    future_chunk: int = 24
    max_batch_tokens: int = 8192
    threads: int | None = None


PROFILES = {"quick": TrainingDynamicsConfig(),
            "full": TrainingDynamicsConfig(n_histories=1024, history_length=32, n_futures=256, future_length=8,
                                           rank=32, factors=(1, 2, 4, 8), n_boot=200, n_boot_kl=100,
                                           future_chunk=64, max_batch_tokens=65536)}


def fit_range_for(n_histories: int, n_futures: int, k: int, d_model: int, fraction=(0.01, 0.5)) -> tuple[int, int]:
    """1-based fit range (lo, hi) of α: the paper's fractions of n_eff = min(|H|, |F|·min(k, d_model)).

    n_eff bounds the rank of L_{M,k}(H, F) of a model of width d_model (each future's block
    is linear in the d_model-dimensional final hidden state).

    Examples
    --------
    >>> fit_range_for(1024, 1024, 50, 128)
    (11, 512)
    >>> fit_range_for(1024, 4, 200, 64)        # four futures of a d=64 model: rank <= 256
    (3, 128)
    """
    n_eff = min(int(n_histories), int(n_futures) * min(int(k), int(d_model)))
    lo, hi = max(2, math.ceil(fraction[0] * n_eff)), int(math.floor(fraction[1] * n_eff))
    if hi - lo + 1 < 3:
        raise InvalidInputError(f"a logit matrix of {n_histories} histories × {n_futures} futures × k={k} leaves "
                                f"{max(hi - lo + 1, 0)} singular values to fit α; use more histories/futures")
    return lo, hi


def scale_consistency(values: np.ndarray, k: int, d_model: int, factors, rng: np.random.Generator) -> dict:
    """α of 1/f subsamples of H and F, each fitted over its own :func:`fit_range_for` (§3.1, Fig. 7d).

    Factors whose subsample leaves fewer than three singular values to fit are skipped
    (``factors`` of the record lists those used; the full matrix, f = 1, is always one).
    """
    from logitrank.theory.spectrum import alpha_subsample_stability
    n_h, n_f = values.shape[0], values.shape[1] // k
    mean, std, used = [], [], []
    for f in sorted({1, *(int(x) for x in factors)}):
        try:
            fr = fit_range_for(max(1, n_h // f), max(1, n_f // f), k, d_model)
        except InvalidInputError:
            if f == 1:
                raise
            continue
        used.append(f)
        st = alpha_subsample_stability(values, k, rng, factors=(int(f),), fit_range=fr)
        mean.append(float(st.alpha_mean[0]))
        std.append(float(st.alpha_std[0]))
    return {"factors": used, "alpha_mean": mean, "alpha_std": std,
            "spread": float(max(mean) - min(mean))}


def kl_interval(values: np.ndarray, k: int, rank: int, rng: np.random.Generator, n_boot: int, level: float):
    """Average KL of the best rank-r approximation (Def. 3.1) with a percentile interval over resampled histories.

    A resampled matrix repeats rows, which a rank-r approximation fits better, so the
    replicates sit below the estimate; like :func:`~logitrank.theory.intervals.alpha_bootstrap`
    the interval takes the spread from the replicates and is centred on the estimate.
    """
    from logitrank.theory.intervals import percentile_interval
    from logitrank.theory.spectrum import average_kl_vs_rank
    est = average_kl_vs_rank(values, k, [rank])
    reps = [average_kl_vs_rank(values[rng.integers(0, values.shape[0], values.shape[0])], k, [rank]).average_kl[0]
            for _ in range(n_boot)]
    return est, percentile_interval(float(est.average_kl[0]), reps, level, centred=True)


def checkpoint_point(lm, H, F, config, d_model: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Every number of one checkpoint: α (interval, subsampling), KL at rank r (interval), MP lens.

    ``lm`` is an :class:`~logitrank.real_models.adapter.HFCausalLM`; ``config`` has the fields
    of :class:`TrainingDynamicsConfig` (the checkpoint-series command reuses this function).
    Returns the JSON record and the singular values.
    """
    import time

    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.weights import analyze_model_weights
    from logitrank.theory.intervals import alpha_bootstrap
    from logitrank.theory.rmt import MarchenkoPasturFit
    from logitrank.theory.spectrum import PowerLawFit, singular_values
    t0 = time.perf_counter()
    eng = LogitMatrixEngine(lm, future_chunk=config.future_chunk, max_batch_tokens=config.max_batch_tokens,
                            progress=False)
    values = eng.matrix(H, F, rule=config.rule, k=config.k).values
    t1 = time.perf_counter()
    fr = fit_range_for(values.shape[0], values.shape[1] // config.k, config.k, d_model)
    s = singular_values(values)
    fit = PowerLawFit(fit_range=fr).fit(s)
    iv = alpha_bootstrap(values, config.k, rng, n_boot=config.n_boot, level=config.level, fit_range=fr)
    scale = scale_consistency(values, config.k, d_model, config.factors, rng)
    kl, kl_iv = kl_interval(values, config.k, config.rank, rng, config.n_boot_kl, config.level)
    weights = analyze_model_weights(lm, mp_fit=MarchenkoPasturFit(tw_quantile=config.tw_quantile), power_law=False)
    rows = weights.rows
    per_type: dict = {}
    for r in rows:
        t = per_type.setdefault(r["type"], {"n": 0, "consistent": 0, "n_below_band": 0, "n_above_band": 0})
        t["n"] += 1
        t["consistent"] += int(bool(r["consistent_mp"]))
        t["n_below_band"] += int(r["n_below_band"])
        t["n_above_band"] += int(r["n_above_band"])
    consistent = [float(bool(r["consistent_mp"])) for r in rows]
    rec = {"shape": list(values.shape), "fit_range": list(fr), "alpha": float(fit.alpha_),
           "alpha_err": float(fit.alpha_err_), "alpha_low": iv.low, "alpha_high": iv.high,
           "alpha_boot_shift": iv.shift, "scale": scale, "rank": int(config.rank),
           "kl_at_rank": float(kl.average_kl[0]), "kl_low": kl_iv.low, "kl_high": kl_iv.high,
           "kl_boot_shift": kl_iv.shift,
           "kl_bound_at_rank": float(kl.frobenius_bound[0]),
           "mp_n_matrices": len(rows), "mp_consistent": int(sum(consistent)),
           "mp_consistent_fraction": float(np.mean(consistent)),
           "mean_n_below_band": float(np.mean([r["n_below_band"] for r in rows])),
           "mean_n_above_band": float(np.mean([r["n_above_band"] for r in rows])),
           "mp_by_type": per_type, "matrix_seconds": t1 - t0, "seconds": time.perf_counter() - t0}
    return rec, s


@dataclasses.dataclass(frozen=True)
class TrainingDynamicsResult:
    """Per width, one record per checkpoint (``points[width]``, in step order), and the singular values."""

    config: dict
    widths: tuple[str, ...]
    d_model: dict
    points: dict
    singular_values: dict
    n_train_tokens: int
    threads: int

    def save(self, out_dir: Path) -> None:
        out_dir = Path(out_dir)
        rec = dataclasses.asdict(self)
        rec.pop("singular_values")
        atomic_save_npz(out_dir / ARRAYS, **self.singular_values)
        atomic_write_json(out_dir / FILE, rec)

    @classmethod
    def load(cls, results_dir: Path) -> TrainingDynamicsResult:
        rec = read_json(Path(results_dir) / FILE)
        with np.load(Path(results_dir) / ARRAYS) as z:
            sv = {k: z[k] for k in z.files}
        rec["widths"] = tuple(rec["widths"])
        return cls(singular_values=sv, **rec)


def probe_windows(corpus, config) -> tuple[list, list]:
    """Held-out histories and futures (disjoint segments) of the configured sizes."""
    w = corpus.windows({"histories": (config.n_histories, config.history_length),
                        "futures": (config.n_futures, config.future_length)}, seed=config.seed)
    return w["histories"].tokens, w["futures"].tokens


def compute(config: TrainingDynamicsConfig, out_dir: Path, inputs=None) -> TrainingDynamicsResult:
    """Probe every checkpoint of every width (one JSON per checkpoint under ``points/``: resumable)."""
    import torch

    from logitrank.experiments.trained_lms import TrainedLMsResult, heldout_corpus
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.runtime import torch_threads
    out_dir = Path(out_dir)
    src = Path(inputs["trained_lms"])
    family = TrainedLMsResult.load(src)
    H, F = probe_windows(heldout_corpus(src, family), config)
    points: dict = {}
    svals: dict = {}
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        for m in family.models:
            points[m.width] = []
            for (step, path), val in zip(family.checkpoint_paths(src, m.width), m.val_loss):
                rec_path = out_dir / "points" / f"{m.width}-step-{step:06d}.json"
                sv_path = rec_path.with_suffix(".npz")
                if rec_path.exists():
                    rec = read_json(rec_path)
                    with np.load(sv_path) as z:
                        s = z["s"]
                else:
                    lm = HFCausalLM.load(path)                # default device rule (CUDA when available)
                    rng = np.random.default_rng([config.seed, m.d_model, step])
                    rec, s = checkpoint_point(lm, H, F, config, m.d_model, rng)
                    rec.update(step=int(step), val_loss=float(val))
                    atomic_save_npz(sv_path, s=s)
                    atomic_write_json(rec_path, rec)
                points[m.width].append(rec)
                svals[f"{m.width}/{step}"] = s
    return TrainingDynamicsResult(config=dataclasses.asdict(config), widths=tuple(m.width for m in family.models),
                                  d_model={m.width: m.d_model for m in family.models}, points=points,
                                  singular_values=svals, n_train_tokens=family.n_train_tokens, threads=int(threads))


EXPERIMENT = Experiment(
    name="training_dynamics", lens="logits", order=361, version=3,
    title="α, KL at fixed rank, held-out loss and MP consistency through training (trained family, from step 0)",
    profiles=PROFILES, compute=compute, result_type=TrainingDynamicsResult, figure_module="training_dynamics",
    inputs=("trained_lms",))
