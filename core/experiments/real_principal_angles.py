"""Principal angles between the column spaces of L(H, F) and L(H, F_nonsense) on real text.

The histories H and real-text futures F are those of ``real_spectrum`` (its trained matrix
is reused); F_nonsense is F with each future's tokens permuted (Option 2). Cosines of the
principal angles between the rank-r column spaces (top-r left singular vectors) are
compared with two Haar-random r-dimensional subspaces of R^|H|. Intervals: a paired
bootstrap over futures (the same resampled future blocks of both matrices; 95%
percentile interval of the mean cosine) and the spread of the random baseline over draws.

References
----------
Golowich, Liu, Shetty (2025), §3.2, Fig. 4 (many cosines near 1, far above random).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment
from logitrank.io import atomic_save_npz, atomic_write_json, read_json

__all__ = ["RealAnglesConfig", "RealAnglesResult", "compute", "EXPERIMENT"]

FILE = "angles.npz"


@dataclasses.dataclass(frozen=True)
class RealAnglesConfig:
    """Model, column rule, shuffle seed, ranks, bootstrap and random-draw counts, threads."""

    model: str = "smollm2"
    dtype: str = "float32"
    k: int = 50
    rule: str = "topk_average"
    shuffle_seed: int = 1
    ranks: tuple[int, ...] = (5, 10, 20, 40)
    seed: int = 0
    n_boot: int = 100
    n_random: int = 100
    future_chunk: int = 16
    max_batch_tokens: int = 2048
    max_kv_mib: float = 256.0
    threads: int | None = None


PROFILES = {"quick": RealAnglesConfig(),
            "full": RealAnglesConfig(ranks=(10, 50, 100), n_boot=200, future_chunk=64, max_batch_tokens=32768,
                                     max_kv_mib=8192.0)}


@dataclasses.dataclass(frozen=True)
class RealAnglesResult:
    """Per rank: cosines (real vs nonsense), bootstrap interval of their mean, random baseline."""

    ranks: np.ndarray               # (n_ranks,)
    cosines: list                   # per rank, (r,) cosines real vs nonsense
    mean_low: np.ndarray            # (n_ranks,) 95% bootstrap interval of the mean cosine
    mean_high: np.ndarray
    random_cosines: list            # per rank, (r,) mean over draws
    random_mean_low: np.ndarray     # (n_ranks,) 2.5% / 97.5% of the mean cosine over random draws
    random_mean_high: np.ndarray
    n_histories: int
    n_futures: int
    k: int
    config: dict
    threads_used: int

    def save(self, out_dir: Path) -> None:
        arrays = {f"cosines/{r}": c for r, c in zip(self.ranks.tolist(), self.cosines)}
        arrays.update({f"random/{r}": c for r, c in zip(self.ranks.tolist(), self.random_cosines)})
        atomic_save_npz(Path(out_dir) / FILE, ranks=self.ranks, mean_low=self.mean_low, mean_high=self.mean_high,
                        random_mean_low=self.random_mean_low, random_mean_high=self.random_mean_high, **arrays)
        atomic_write_json(Path(out_dir) / "angles.json", {"n_histories": self.n_histories, "n_futures": self.n_futures,
                                                          "k": self.k, "config": self.config,
                                                          "threads_used": self.threads_used})

    @classmethod
    def load(cls, results_dir: Path) -> RealAnglesResult:
        meta = read_json(Path(results_dir) / "angles.json")
        with np.load(Path(results_dir) / FILE) as z:
            ranks = z["ranks"]
            return cls(ranks=ranks, cosines=[z[f"cosines/{r}"] for r in ranks.tolist()], mean_low=z["mean_low"],
                       mean_high=z["mean_high"], random_cosines=[z[f"random/{r}"] for r in ranks.tolist()],
                       random_mean_low=z["random_mean_low"], random_mean_high=z["random_mean_high"],
                       n_histories=int(meta["n_histories"]), n_futures=int(meta["n_futures"]), k=int(meta["k"]),
                       config=meta["config"], threads_used=int(meta["threads_used"]))


def angle_intervals(real: np.ndarray, nonsense: np.ndarray, k: int, ranks, rng: np.random.Generator,
                    *, n_boot: int = 100, n_random: int = 100, level: float = 0.95) -> dict:
    """Cosines per rank with a paired future-bootstrap interval of their mean and the random baseline."""
    from logitrank.theory.spectrum import principal_angle_cosines_by_rank, random_subspace_cosine_draws
    nH, nF = real.shape[0], real.shape[1] // k
    A, B = real.reshape(nH, nF, k), nonsense.reshape(nH, nF, k)
    ranks = [r for r in ranks if r <= min(nH, real.shape[1], nonsense.shape[1])]
    boots = np.empty((n_boot, len(ranks)))
    for b in range(n_boot):
        idx = rng.integers(0, nF, size=nF)
        cb = principal_angle_cosines_by_rank(A[:, idx].reshape(nH, -1), B[:, idx].reshape(nH, -1), ranks)
        boots[b] = [cb[r].mean() for r in ranks]
    q = (1 - level) / 2
    out = {"ranks": np.array(ranks), "cosines": [], "mean_low": [], "mean_high": [], "random": [],
           "random_low": [], "random_high": []}
    cos = principal_angle_cosines_by_rank(real, nonsense, ranks)
    for j, r in enumerate(ranks):
        c = cos[r]
        rand = random_subspace_cosine_draws(nH, r, rng, n_random)
        lo, hi = np.quantile(boots[:, j], [q, 1 - q])
        rlo, rhi = np.quantile(rand.mean(axis=1), [q, 1 - q])
        for key, val in (("cosines", c), ("mean_low", lo), ("mean_high", hi), ("random", rand.mean(axis=0)),
                         ("random_low", rlo), ("random_high", rhi)):
            out[key].append(val)
    return out


def compute(config: RealAnglesConfig, out_dir: Path | None = None, inputs=None) -> RealAnglesResult:
    """L(H, F_nonsense) with the spectrum run's H and F; angles against its trained L(H, F)."""
    import torch

    from logitrank.experiments.real_spectrum import RealSpectrumResult
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.runtime import torch_threads
    from logitrank.real_models.text_sources import token_shuffled

    spec = RealSpectrumResult.load(Path(inputs["real_spectrum"]))
    if spec.config["k"] != config.k or spec.config["rule"] != config.rule or spec.config["model"] != config.model:
        from logitrank.errors import InvalidInputError
        raise InvalidInputError("real_principal_angles must use the model, k and rule of real_spectrum")
    H, F = list(spec.histories), list(spec.futures)
    real = spec.matrix_trained.astype(np.float64)
    F_nonsense = token_shuffled(F, config.shuffle_seed)
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        lm = HFCausalLM.load(config.model, dtype=config.dtype)
        eng = LogitMatrixEngine(lm, future_chunk=config.future_chunk, max_batch_tokens=config.max_batch_tokens,
                                max_kv_mib=config.max_kv_mib, progress=True)
        nonsense = eng.matrix(H, F_nonsense, rule=config.rule, k=config.k,       # checkpointed: resumes
                              run_dir=None if out_dir is None else Path(out_dir) / "ckpt_nonsense").values
    res = angle_intervals(real, nonsense, config.k, config.ranks, np.random.default_rng(config.seed),
                          n_boot=config.n_boot, n_random=config.n_random)
    return RealAnglesResult(ranks=res["ranks"], cosines=res["cosines"], mean_low=np.array(res["mean_low"]),
                            mean_high=np.array(res["mean_high"]), random_cosines=res["random"],
                            random_mean_low=np.array(res["random_low"]), random_mean_high=np.array(res["random_high"]),
                            n_histories=len(H), n_futures=len(F), k=config.k, config=dataclasses.asdict(config),
                            threads_used=int(threads))


EXPERIMENT = Experiment(
    name="real_principal_angles", lens="logits", order=301, version=3,
    title="SmolLM2 on real text: principal angles between column spaces, real vs token-shuffled futures",
    profiles=PROFILES, compute=compute, result_type=RealAnglesResult, figure_module="real_principal_angles",
    inputs=("real_spectrum",))
