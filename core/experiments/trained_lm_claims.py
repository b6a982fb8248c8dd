"""Every lens-1 claim on the widest trained LM, at the paper's ratios: |H| ≈ 1024 ≫ d_model, k = 50.

On the last checkpoint of the widest width of ``trained_lms`` (a real LM trained on real text,
cheap enough on CPU), with held-out histories and futures cut from the held-out documents:

- α of L_{M,50}(H, F) with a Bayesian-bootstrap interval
  (:func:`~logitrank.theory.intervals.alpha_bootstrap`) and its stability under 2×–8×
  subsampling of H and F (:func:`~logitrank.experiments.training_dynamics.scale_consistency`);
- the average KL of the best rank-r approximation over two decades of r with its Frobenius
  bound (:func:`~logitrank.theory.spectrum.average_kl_vs_rank`), and the log-log slope with a
  95% interval over resampled histories (:func:`~logitrank.theory.intervals.kl_slope_bootstrap`);
- principal-angle cosines between the rank-r column spaces of L(H, F) and L(H, F_nonsense)
  (token-shuffled futures), with a paired future-bootstrap interval of their mean, against
  Haar-random subspaces (:func:`~logitrank.experiments.real_principal_angles.angle_intervals`,
  the same statistic and verdict as ``real_principal_angles``).

α is fitted over the paper's fractions (0.01, 0.5) of n_eff = min(|H|, |F|·min(k, d_model))
singular values (:func:`~logitrank.experiments.training_dynamics.fit_range_for`; with k ≤
d_model the PowerLawFit default). LINGEN on the trained LM is left to the
real-text LINGEN experiment (it loads the checkpoint by path).

References
----------
Golowich, Liu, Shetty (2025), §3.1, Def. 3.1, Fact B.2, Figs. 1a, 2, 4, 7.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment
from logitrank.io import atomic_save_npy, atomic_save_npz, atomic_write_json, read_json

__all__ = ["TrainedLMClaimsConfig", "TrainedLMClaimsResult", "compute", "EXPERIMENT"]

FILE = "trained_lm_claims.json"
ARRAYS = "trained_lm_claims.npz"


@dataclasses.dataclass(frozen=True)
class TrainedLMClaimsConfig:
    """Sizes (held-out windows), k, subsampling factors, ranks, bootstrap and seeds.

    ``width``: which trained width (None: the widest). |H| = |F| = 1024 with k = 50, the
    paper's ratios, in both profiles: the 1024 × 51,200 matrix costs two engine passes (real
    and shuffled futures) and, per claim, one 1024 × 1024 Gram (the bootstrap one per
    replicate) instead of a full SVD. ``full`` has longer histories and futures and more ranks
    and replicates.
    """

    width: str | None = None
    n_histories: int = 1024
    history_length: int = 24
    n_futures: int = 1024
    future_length: int = 3
    k: int = 50
    rule: str = "topk_average"
    factors: tuple[int, ...] = (1, 2, 4, 8)
    ranks: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 20, 32, 50, 80, 100)
    angle_ranks: tuple[int, ...] = (5, 10, 20, 40)
    n_boot: int = 25
    n_random: int = 100
    level: float = 0.95
    seed: int = 0
    shuffle_seed: int = 1
    future_chunk: int = 32
    max_batch_tokens: int = 8192
    threads: int | None = None


PROFILES = {"quick": TrainedLMClaimsConfig(),
            "full": TrainedLMClaimsConfig(history_length=32, future_length=8,
                                          ranks=(1, 2, 3, 5, 8, 13, 20, 32, 50, 80, 128, 200, 256),
                                          angle_ranks=(10, 50, 100), n_boot=100, future_chunk=64,
                                          max_batch_tokens=65536)}


@dataclasses.dataclass(frozen=True)
class TrainedLMClaimsResult:
    """Summary numbers (``summary``) and arrays (spectrum, KL vs rank, cosines) of one trained LM."""

    config: dict
    summary: dict
    arrays: dict

    def save(self, out_dir: Path) -> None:
        atomic_save_npz(Path(out_dir) / ARRAYS, **self.arrays)
        atomic_write_json(Path(out_dir) / FILE, {"config": self.config, "summary": self.summary})

    @classmethod
    def load(cls, results_dir: Path) -> TrainedLMClaimsResult:
        rec = read_json(Path(results_dir) / FILE)
        with np.load(Path(results_dir) / ARRAYS) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(config=rec["config"], summary=rec["summary"], arrays=arrays)


def compute(config: TrainedLMClaimsConfig, out_dir: Path, inputs=None) -> TrainedLMClaimsResult:
    """Two engine matrices (real and token-shuffled futures, cached in ``out_dir``), then the claims."""
    import time

    import torch

    from logitrank.experiments.real_principal_angles import angle_intervals
    from logitrank.experiments.trained_lms import TrainedLMsResult, heldout_corpus
    from logitrank.experiments.training_dynamics import fit_range_for, scale_consistency
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.runtime import torch_threads
    from logitrank.real_models.text_sources import token_shuffled
    from logitrank.theory.intervals import alpha_bootstrap, kl_slope_bootstrap
    from logitrank.theory.spectrum import PowerLawFit, average_kl_vs_rank, log_log_slope, singular_values
    out_dir = Path(out_dir)
    src = Path(inputs["trained_lms"])
    family = TrainedLMsResult.load(src)
    model = family.model(config.width) if config.width else max(family.models, key=lambda m: m.d_model)
    step, path = family.checkpoint_paths(src, model.width)[-1]
    w = heldout_corpus(src, family).windows({"histories": (config.n_histories, config.history_length),
                                             "futures": (config.n_futures, config.future_length)}, seed=config.seed)
    H, F = w["histories"].tokens, w["futures"].tokens
    F_nonsense = token_shuffled(F, config.shuffle_seed)
    t0 = time.perf_counter()
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        mats = {}
        lm = None
        for label, fut in (("real", F), ("nonsense", F_nonsense)):
            cache = out_dir / f"matrix_{label}.npy"
            if not cache.exists():                       # resumable per matrix
                lm = lm or HFCausalLM.load(path)      # default device rule
                eng = LogitMatrixEngine(lm, future_chunk=config.future_chunk,
                                        max_batch_tokens=config.max_batch_tokens, progress=True)
                atomic_save_npy(cache, eng.matrix(H, fut, rule=config.rule, k=config.k).values.astype(np.float32))
            mats[label] = np.load(cache).astype(np.float64)
        t1 = time.perf_counter()
        L, k = mats["real"], config.k
        rng = np.random.default_rng(config.seed)
        fr = fit_range_for(L.shape[0], L.shape[1] // k, k, model.d_model)
        s = singular_values(L)
        fit = PowerLawFit(fit_range=fr).fit(s)
        iv = alpha_bootstrap(L, k, rng, n_boot=config.n_boot, level=config.level, fit_range=fr)
        scale = scale_consistency(L, k, model.d_model, config.factors, rng)
        ranks = [r for r in config.ranks if r <= min(L.shape)]
        kl = average_kl_vs_rank(L, k, ranks)
        ang = angle_intervals(L, mats["nonsense"], k, config.angle_ranks, rng, n_boot=config.n_boot,
                              n_random=config.n_random, level=config.level)
        kiv = kl_slope_bootstrap(kl.ranks, kl.per_history, rng, n_boot=config.n_boot, level=config.level)
    arrays = {"singular_values": s, "ranks": kl.ranks, "average_kl": kl.average_kl,
              "frobenius_bound": kl.frobenius_bound, "alpha_boot": iv.samples, "kl_slope_boot": kiv.samples,
              "angle_ranks": ang["ranks"], **{f"angle_{key}": np.asarray(ang[key]) for key in
                                              ("mean_low", "mean_high", "random_low", "random_high")},
              **{f"cos_real_vs_nonsense/{r}": c for r, c in zip(ang["ranks"], ang["cosines"])},
              **{f"cos_random/{r}": c for r, c in zip(ang["ranks"], ang["random"])}}
    summary = {"width": model.width, "d_model": model.d_model, "step": int(step), "checkpoint": str(path.relative_to(src)),
               "val_loss": float(model.val_loss[-1]), "shape": list(L.shape), "fit_range": list(fr),
               "alpha": float(fit.alpha_), "alpha_err": float(fit.alpha_err_), "alpha_low": iv.low,
               "alpha_high": iv.high, "alpha_boot_shift": iv.shift, "scale": scale,
               "kl_slope": kiv.estimate, "kl_slope_low": kiv.low, "kl_slope_high": kiv.high,
               "kl_r_squared": log_log_slope(kl.ranks, kl.average_kl)[1],
               "numerical_rank": int((s > s[0] * 1e-6).sum()), "threads": int(threads),
               "matrix_seconds": t1 - t0, "analysis_seconds": time.perf_counter() - t1}
    return TrainedLMClaimsResult(config=dataclasses.asdict(config), summary=summary, arrays=arrays)


EXPERIMENT = Experiment(
    name="trained_lm_claims", lens="logits", order=362, version=4,
    title="Lens-1 claims on the widest trained LM at |H| = 1024 = 8·d_model, k = 50 (α, subsampling, KL vs rank, angles)",
    profiles=PROFILES, compute=compute, result_type=TrainedLMClaimsResult, figure_module="training_claims",
    inputs=("trained_lms",))
