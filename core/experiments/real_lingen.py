"""LINGEN on a real LM, sized by the theory: |H| above d_model, real-text targets, intervals.

Histories H, futures F and target prompts are held-out windows of real text (one
:func:`~logitrank.real_models.corpus.corpus_windows` call, so targets never overlap H or F).
Option 1 uses them as they are; Option 2 ("nonsense") token-shuffles every history and
future (the targets stay real text). For each option and target:

- **LINGEN**: v fitted by least squares on L_{M,k}(H, {∅} ∪ F) (``topk_average`` columns,
  one history matrix shared by all targets; :class:`~logitrank.theory.lingen.LinGen`);
- **next-token-only**: v fitted on the full-vocabulary next-token rows L(H, {∅}) = Φ_H Ψ_cᵀ,
  done in the d_model-dimensional hidden space (:func:`~logitrank.theory.lingen.hidden_space_rows`;
  no |H| × |Σ| matrix);
- **last-m tokens**: the true model on the last m prompt tokens;

then 15 generated tokens per sample (:func:`~logitrank.theory.lingen.lingen_score` through
:class:`~logitrank.real_models.lingen_decoder.LinGenDecoder`, which keeps the histories' KV
caches), per-step KL(P_true ‖ P_method), and a 95% percentile-bootstrap interval of the mean
total over the target × sample totals (:func:`~logitrank.theory.intervals.bootstrap_mean`).

**|H| sweep** (Option 1): the first n histories of the draw, n in ``sweep_sizes`` (48 …
≥ 2·d_model). Every point has the step-1 KL of both fits (cheap: from hidden states, over
all targets, with an interval); sizes ≤ ``sweep_generate_max`` also have the 15-step total
(one sample per target), and the main size ``n_histories`` has the full evaluation. Columns
of the LINGEN fit are chosen once from all ``max(sweep_sizes)`` histories.

Each finished option is written to ``part_<option>.npz`` in the results directory, so a killed
run redoes at most the option it was in.

References
----------
Golowich, Liu, Shetty (2025), §3, Algorithm 1 (LINGEN), Figs. 1b and 6 (OLMo-1b, 50 targets ×
5 samples: totals 2.85 / 10.79 / 17.77 in distribution, 4.95 / 14.41 / 17.56 nonsense).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.experiments._base import Experiment
from logitrank.io import atomic_save_npz, atomic_write_json, read_json

__all__ = ["RealLingenConfig", "OptionResult", "RealLingenResult", "compute", "EXPERIMENT", "METHODS", "OPTIONS"]

FILE = "lingen.npz"
METHODS = ("lingen", "next_token_only", "last_m_tokens")
OPTIONS = ("in_distribution", "nonsense")


@dataclasses.dataclass(frozen=True)
class RealLingenConfig:
    """Model (any name or path the loader accepts), corpus, sizes, sweep, seeds, threads."""

    model: str = "smollm2"
    dtype: str = "float32"
    corpus: str = "shakespeare"
    seed: int = 10
    n_histories: int = 640
    history_length: int = 32
    n_futures: int = 16
    future_length: int = 4
    include_empty_future: bool = True
    n_targets: int = 5
    target_length: int = 32
    n_samples: int = 1
    n_steps: int = 15
    k: int = 50
    rule: str = "topk_average"
    last_m: int = 5
    method: str = "lstsq"
    options: tuple[str, ...] = OPTIONS
    sweep_sizes: tuple[int, ...] = (48, 144, 288, 640, 1152)
    sweep_generate_max: int = 144
    n_boot: int = 2000
    future_chunk: int = 16
    max_batch_tokens: int = 2048
    max_kv_mib: float = 256.0
    history_batch: int = 64
    threads: int | None = None


PROFILES = {"quick": RealLingenConfig(),
            "full": RealLingenConfig(n_histories=2304, n_futures=64, future_length=8, n_targets=50, n_samples=5,
                                     sweep_sizes=(48, 144, 288, 576, 1152, 2304), sweep_generate_max=1152,
                                     future_chunk=64, max_batch_tokens=32768, max_kv_mib=8192.0, history_batch=256)}


@dataclasses.dataclass(frozen=True)
class OptionResult:
    """Per-step KL per method, ``(n_targets · n_samples, n_steps)``; totals' 95% intervals; fit residuals."""

    lingen: np.ndarray
    next_token_only: np.ndarray
    last_m_tokens: np.ndarray
    total_low: np.ndarray           # (3,) in METHODS order
    total_high: np.ndarray
    residual_lingen: np.ndarray     # (n_targets,)
    residual_next_token_only: np.ndarray

    def per_step(self, method: str) -> np.ndarray:
        return getattr(self, method)

    def total_mean(self, method: str) -> float:
        return float(self.per_step(method).sum(axis=1).mean())

    def interval(self, method: str) -> tuple[float, float]:
        i = METHODS.index(method)
        return float(self.total_low[i]), float(self.total_high[i])


@dataclasses.dataclass(frozen=True)
class RealLingenResult:
    """Options' results, the |H| sweep, d_model and the setting."""

    options: dict                   # option name → OptionResult
    sweep_sizes: np.ndarray         # (n,)
    sweep_step1: np.ndarray         # (2, n) mean step-1 KL: LINGEN, next-token-only
    sweep_step1_low: np.ndarray     # (2, n)
    sweep_step1_high: np.ndarray
    sweep_total: np.ndarray         # (2, n) 15-step total (NaN where not generated)
    sweep_total_samples: np.ndarray  # (n,) target × sample totals behind each sweep_total
    d_model: int
    config: dict
    threads_used: int

    def save(self, out_dir: Path) -> None:
        arrays = {}
        for opt, r in self.options.items():
            arrays.update({f"{opt}/{f.name}": getattr(r, f.name) for f in dataclasses.fields(OptionResult)})
        atomic_save_npz(Path(out_dir) / FILE, sweep_sizes=self.sweep_sizes, sweep_step1=self.sweep_step1,
                        sweep_step1_low=self.sweep_step1_low, sweep_step1_high=self.sweep_step1_high,
                        sweep_total=self.sweep_total, sweep_total_samples=self.sweep_total_samples, **arrays)
        atomic_write_json(Path(out_dir) / "lingen.json", {"options": list(self.options), "d_model": self.d_model,
                                                          "config": self.config, "threads_used": self.threads_used})

    @classmethod
    def load(cls, results_dir: Path) -> RealLingenResult:
        meta = read_json(Path(results_dir) / "lingen.json")
        with np.load(Path(results_dir) / FILE) as z:
            opts = {o: OptionResult(**{f.name: z[f"{o}/{f.name}"] for f in dataclasses.fields(OptionResult)})
                    for o in meta["options"]}
            return cls(options=opts, sweep_sizes=z["sweep_sizes"], sweep_step1=z["sweep_step1"],
                       sweep_step1_low=z["sweep_step1_low"], sweep_step1_high=z["sweep_step1_high"],
                       sweep_total=z["sweep_total"], sweep_total_samples=z["sweep_total_samples"],
                       d_model=int(meta["d_model"]), config=meta["config"], threads_used=int(meta["threads_used"]))


def _kl(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(softmax p ‖ softmax q) per row."""
    lp = p_logits - p_logits.max(axis=-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(axis=-1, keepdims=True))
    lq = q_logits - q_logits.max(axis=-1, keepdims=True)
    lq = lq - np.log(np.exp(lq).sum(axis=-1, keepdims=True))
    return (np.exp(lp) * (lp - lq)).sum(axis=-1)


@dataclasses.dataclass(frozen=True)
class _Fitted:
    """What the fits of one option need: L(H, F) and the targets' rows; hidden states and Ψ_cᵀΨ_c."""

    history_matrix: np.ndarray      # (|H|, C) L_{M,k}(H, F)
    target_rows: np.ndarray         # (n_targets, C) on the same columns
    states: np.ndarray              # (|H|, d) φ(h)
    target_states: np.ndarray       # (n_targets, d)
    gram: np.ndarray                # (d, d)
    method: str

    def fits(self, n: int):
        """LINGEN and next-token-only fits (one per target) on the first ``n`` histories."""
        from logitrank.theory.lingen import LinGen, hidden_space_rows
        fl = [LinGen(method=self.method).fit(self.history_matrix[:n], row) for row in self.target_rows]
        fn = [LinGen(method=self.method).fit(*hidden_space_rows(self.states[:n], phi, self.gram))
              for phi in self.target_states]
        return fl, fn


def _evaluate(lm, H, targets, fl, fn, config: RealLingenConfig, n_samples: int, seed_base: int) -> dict:
    """Per-step KL per method, ``(n_targets · n_samples, n_steps)``, generating through one LinGenDecoder."""
    from logitrank.progress import progress
    from logitrank.real_models.lingen_decoder import LinGenDecoder
    from logitrank.theory.lingen import lingen_score
    dec = LinGenDecoder(lm, H, history_batch=config.history_batch)
    per: dict = {m: [] for m in METHODS}
    units = len(targets) * n_samples * len(METHODS) * config.n_steps
    bar = progress(total=units, desc=f"LINGEN generation |H|={len(H)}", unit="step", leave=False)
    try:
        for t, target in enumerate(targets):
            for s in range(n_samples):
                start = bar.n
                ev = lingen_score(dec, target, H, {"lingen": fl[t].coef_, "next_token_only": fn[t].coef_},
                                  n_steps=config.n_steps, n_samples=1, last_m=config.last_m,
                                  rng=np.random.default_rng([seed_base, t, s]),
                                  on_step=lambda done, total, start=start: bar.update(start + done - bar.n))
                for m in METHODS:
                    per[m].append(ev.per_step_kl[m])
    finally:
        bar.close()
        dec.clear()
    return {m: np.asarray(v) for m, v in per.items()}


def compute(config: RealLingenConfig, out_dir: Path | None = None, inputs=None) -> RealLingenResult:
    """Fits, generation and scoring per option and target; the |H| sweep on Option 1."""
    import torch

    from logitrank.errors import InvalidInputError
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.corpus import corpus_windows
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.real_models.lingen_decoder import centered_unembedding, next_token_states
    from logitrank.real_models.runtime import torch_threads
    from logitrank.real_models.text_sources import token_shuffled
    from logitrank.theory.intervals import bootstrap_mean

    unknown = set(config.options) - set(OPTIONS)
    if unknown:
        raise InvalidInputError(f"unknown LINGEN options {sorted(unknown)}; choose from {OPTIONS}")
    if config.n_histories not in config.sweep_sizes:
        raise InvalidInputError(f"n_histories={config.n_histories} must be one of sweep_sizes {config.sweep_sizes}")
    if config.n_targets < 2:
        raise InvalidInputError(f"n_targets must be >= 2 for a bootstrap interval, got {config.n_targets}")
    if config.target_length <= config.last_m:
        raise InvalidInputError(f"target_length {config.target_length} must exceed last_m {config.last_m}")
    n_all = max(config.sweep_sizes)
    boot_rng = np.random.default_rng(config.seed + 7)
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        lm = HFCausalLM.load(config.model, dtype=config.dtype)
        w = corpus_windows(config.corpus, lm, {"histories": (n_all, config.history_length),
                                               "futures": (config.n_futures, config.future_length),
                                               "targets": (config.n_targets, config.target_length)},
                           seed=config.seed)
        targets = w["targets"]
        Psi_c = centered_unembedding(lm)
        gram = Psi_c.T @ Psi_c
        phi_t = next_token_states(lm, targets)
        eng = LogitMatrixEngine(lm, future_chunk=config.future_chunk, max_batch_tokens=config.max_batch_tokens,
                                max_kv_mib=config.max_kv_mib, progress=True)
        empty = [np.zeros(0, np.int64)] if config.include_empty_future else []
        results = {}
        sweep = None
        for o, option in enumerate(config.options):
            part = None if out_dir is None else Path(out_dir) / f"part_{option}.npz"
            if part is not None and part.is_file():         # resume: this option finished before a kill
                with np.load(part) as z:
                    results[option] = OptionResult(**{f.name: z[f.name] for f in dataclasses.fields(OptionResult)})
                    if option == "in_distribution":
                        sweep = tuple(z[f"sweep/{i}"] for i in range(6))
                continue
            if option == "in_distribution":
                H_all, F = w["histories"], empty + list(w["futures"])
            else:
                H_all = token_shuffled(w["histories"][:config.n_histories], config.seed + 1)
                F = empty + token_shuffled(w["futures"], config.seed + 2)
            MH = eng.matrix(H_all, F, rule=config.rule, k=config.k)
            # φ(h) from the engine's history pass (identity head); a model whose head is not
            # Ψ_c φ gets next_token_states' own error.
            Phi = eng.history_states_ if eng.history_states_ is not None else next_token_states(lm, H_all)
            rows_t = eng.matrix(targets, F, column_tokens=MH.column_tokens).values

            fitted = _Fitted(MH.values, rows_t, Phi, phi_t, gram, config.method)
            fl, fn = fitted.fits(config.n_histories)
            per = _evaluate(lm, H_all[:config.n_histories], targets, fl, fn, config, config.n_samples,
                            config.seed + 100 * (o + 1))
            ivs = [bootstrap_mean(per[m].sum(axis=1), boot_rng, n_boot=config.n_boot) for m in METHODS]
            results[option] = OptionResult(
                **per, total_low=np.array([iv.low for iv in ivs]), total_high=np.array([iv.high for iv in ivs]),
                residual_lingen=np.array([f.residual_ for f in fl]),
                residual_next_token_only=np.array([f.residual_ for f in fn]))
            if option == "in_distribution":
                sizes = np.array(sorted(config.sweep_sizes))
                s1 = np.full((2, len(sizes)), np.nan)
                s1_lo, s1_hi, tot = s1.copy(), s1.copy(), s1.copy()
                tot_n = np.zeros(len(sizes), dtype=np.int64)
                true = phi_t @ Psi_c.T                         # (T, V) centered next-token logits
                for j, n in enumerate(sizes):
                    fl, fn = fitted.fits(int(n))
                    for i, f in enumerate((fl, fn)):
                        approx = np.stack([Phi[:n].T @ fit.coef_ for fit in f]) @ Psi_c.T
                        kl = _kl(true, approx)
                        iv = bootstrap_mean(kl, boot_rng, n_boot=config.n_boot) if len(kl) > 1 else None
                        s1[i, j] = kl.mean()
                        s1_lo[i, j], s1_hi[i, j] = (iv.low, iv.high) if iv else (np.nan, np.nan)
                    if n == config.n_histories:
                        tot[:, j] = [per["lingen"].sum(axis=1).mean(), per["next_token_only"].sum(axis=1).mean()]
                        tot_n[j] = len(per["lingen"])
                    elif n <= config.sweep_generate_max:
                        p = _evaluate(lm, H_all[:n], targets, fl, fn, config, 1, config.seed + 1000 + int(n))
                        tot[:, j] = [p["lingen"].sum(axis=1).mean(), p["next_token_only"].sum(axis=1).mean()]
                        tot_n[j] = len(p["lingen"])
                sweep = (sizes, s1, s1_lo, s1_hi, tot, tot_n)
            if part is not None:
                extra = {f"sweep/{i}": a for i, a in enumerate(sweep)} if option == "in_distribution" else {}
                atomic_save_npz(part, **{f.name: getattr(results[option], f.name)
                                         for f in dataclasses.fields(OptionResult)}, **extra)
        if sweep is None:
            sizes = np.array(sorted(config.sweep_sizes))
            nan = np.full((2, len(sizes)), np.nan)
            sweep = (sizes, nan, nan, nan, nan, np.zeros(len(sizes), dtype=np.int64))
    return RealLingenResult(options=results, sweep_sizes=sweep[0], sweep_step1=sweep[1], sweep_step1_low=sweep[2],
                            sweep_step1_high=sweep[3], sweep_total=sweep[4], sweep_total_samples=sweep[5],
                            d_model=int(Psi_c.shape[1]), config=dataclasses.asdict(config),
                            threads_used=int(threads))


EXPERIMENT = Experiment(
    name="real_lingen", lens="logits", order=302, version=2,
    title="LINGEN on SmolLM2, real text, |H| above d_model: Options 1 and 2 with intervals, |H| sweep",
    profiles=PROFILES, compute=compute, result_type=RealLingenResult, figure_module="real_lingen")
