"""Experiments that check the logit-rank theorems' quantitative claims on synthetic models.

Each function returns plain dicts of arrays (JSON/NPZ-serialisable); the experiments in
:mod:`logitrank.experiments` wrap them in typed results that figure modules read.
"""

from __future__ import annotations

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import power_law_spectrum, random_hmm, random_isan
from logitrank.theory.logit_matrix import cutwise_logit_matrix, cutwise_ranks
from logitrank.theory.spectrum import rank_for_relative_error

__all__ = ["cutwise_rank_vs_dimension", "phase_transition_ranks", "continuum_rank_prediction", "lingen_synthetic",
           "synthetic_spectra"]


def cutwise_rank_vs_dimension(*, vocab_size: int, horizon: int, dims, n_seeds: int, seed: int,
                              hmm_states=()) -> dict:
    """Max cut-wise logit rank (over cuts t = 0 … T−1) of random ISANs of each dimension d.

    Theorem 4.3 ("only if"): every cut-wise rank is ≤ d. For contrast, random HMMs with k
    states — low *probability* rank k — whose *logit* rank is not bounded by k.
    Also returns the largest rank any model could have at each cut (the matrix shape).
    """
    rng = np.random.default_rng(seed)
    isan = np.zeros((len(dims), n_seeds), dtype=np.int64)
    per_cut = np.zeros((len(dims), n_seeds, horizon), dtype=np.int64)
    for i, d in enumerate(dims):
        for s in range(n_seeds):
            r = cutwise_ranks(random_isan(vocab_size, horizon, int(d), rng))
            per_cut[i, s] = r
            isan[i, s] = max(r)
    hmm = np.zeros((len(hmm_states), n_seeds), dtype=np.int64)
    for i, k in enumerate(hmm_states):
        for s in range(n_seeds):
            # HMM logits carry estimation-free rounding only; the default tolerance applies.
            hmm[i, s] = max(cutwise_ranks(random_hmm(int(k), vocab_size, rng, horizon=horizon)))
    cap = [min(vocab_size ** t, cutwise_logit_matrix(random_isan(vocab_size, horizon, 1, rng), t).values.shape[1])
           for t in range(horizon)]
    return {"dims": np.asarray(dims), "isan_max_rank": isan, "isan_rank_per_cut": per_cut,
            "hmm_states": np.asarray(hmm_states, dtype=np.int64), "hmm_max_rank": hmm,
            "max_possible_rank": np.asarray(cap), "vocab_size": vocab_size, "horizon": horizon}


def continuum_rank_prediction(alpha: float, n: np.ndarray, rel_err: float) -> np.ndarray:
    """Continuum approximation of the rank needed for relative Frobenius error ``rel_err``.

    With σ_i = i^(−α), e_r² ≈ (r^{1−2α} − N^{1−2α}) / (1 − N^{1−2α}) (α ≠ 1/2), solved for r.
    For α > 1/2 this tends to the constant rel_err^{−2/(2α−1)}; for α < 1/2 it grows ∝ N.
    At α = 1/2 the continuum sums are logarithms, e_r² ≈ ln(N/r) / ln N, so r = N^{1−rel_err²}
    (also the α → 1/2 limit of the general formula).
    """
    n = np.asarray(n, dtype=np.float64)
    if abs(alpha - 0.5) < 1e-12:
        return np.maximum(1.0, n ** (1.0 - rel_err ** 2))
    a = 1.0 - 2.0 * alpha
    return np.maximum(1.0, (rel_err ** 2 * (1.0 - n ** a) + n ** a) ** (1.0 / a))


def phase_transition_ranks(*, alphas, sizes, rel_err: float) -> dict:
    """Rank needed for relative Frobenius error ``rel_err`` vs size N, for spectra σ_i = i^(−α).

    The α = 1/2 phase transition (Golowich et al. 2025, §3.1): for α > 1/2 the needed rank
    saturates as N grows; for α < 1/2 it grows linearly with N. Also reports the local
    slope d log r / d log N over the last decade of sizes.
    """
    if not (0 < rel_err < 1):
        raise InvalidInputError(f"rel_err must lie in (0, 1), got {rel_err}")
    sizes = np.asarray(sizes, dtype=np.int64)
    ranks = np.array([[rank_for_relative_error(power_law_spectrum(int(N), a), rel_err) for N in sizes]
                      for a in alphas])
    pred = np.array([continuum_rank_prediction(a, sizes, rel_err) for a in alphas])
    last = sizes >= sizes[-1] / 10
    slopes = np.array([np.polyfit(np.log(sizes[last]), np.log(np.maximum(r[last], 1)), 1)[0] for r in ranks])
    return {"alphas": np.asarray(alphas), "sizes": sizes, "ranks": ranks, "predicted": pred,
            "last_decade_slope": slopes, "rel_err": rel_err}


def lingen_synthetic(*, vocab_size: int, horizon: int, dim: int, history_length: int, n_histories: int,
                     n_futures: int, n_models: int, n_steps: int, n_samples: int, last_m: int, seed: int,
                     hmm_concentration: float = 1.0) -> dict:
    """LINGEN vs its baselines on random ISANs (exact theory) and random HMMs (approximate).

    For each model: a random target and ``n_histories`` random other histories of the same
    length, futures = the first ``n_futures`` cut-wise futures (shortest first); per-step
    KL(P_true ‖ P_method) along the method's own samples (Alg. 1 of Golowich et al. 2025).
    A small ``hmm_concentration`` (sparse Dirichlet rows) gives slowly mixing HMMs whose
    history matters for many steps.
    Returns per-step KL arrays of shape (n_models, n_steps) per family and method.
    """
    from logitrank.theory.lingen import lingen_evaluate
    from logitrank.theory.logit_matrix import cutwise_futures

    if history_length + n_steps > horizon:
        raise InvalidInputError(f"history_length + n_steps = {history_length + n_steps} exceeds horizon {horizon}")
    rng = np.random.default_rng(seed)
    futures = cutwise_futures(vocab_size, horizon, history_length)[:n_futures]
    out: dict = {}
    for family in ("isan", "hmm"):
        for _ in range(n_models):
            model = (random_isan(vocab_size, horizon, dim, rng) if family == "isan"
                     else random_hmm(dim, vocab_size, rng, horizon=horizon, concentration=hmm_concentration))
            target = rng.integers(0, vocab_size, history_length)
            H = [rng.integers(0, vocab_size, history_length) for _ in range(n_histories)]
            ev = lingen_evaluate(model, target, H, futures, n_steps=n_steps, n_samples=n_samples, rng=rng,
                                 last_m=last_m)
            for name, kl in ev.per_step_kl.items():
                out.setdefault(f"{family}/{name}", []).append(kl)
    res = {k: np.asarray(v) for k, v in out.items()}
    res.update({"vocab_size": vocab_size, "horizon": horizon, "dim": dim, "n_histories": n_histories,
                "n_futures": len(futures), "n_models": n_models, "n_samples": n_samples, "last_m": last_m})
    return res


def synthetic_spectra(*, vocab_size: int, history_length: int, n_histories: int, n_futures: int,
                      max_future_length: int, dims, hmm_states, alphas, seed: int) -> dict:
    """Normalised singular-value curves of synthetic models' extended logit matrices.

    Random ISANs of each dimension d (exact rank ≤ d), random HMMs of each number of states
    (approximately low rank), and exact power-law spectra σ_i = i^(−α) of the same length,
    each with its fitted α (NaN where fewer than 20 singular values lie above 1e-10·σ_1:
    an exactly low-rank spectrum has no power law to fit).
    Histories and futures are uniform random sequences; full-vocabulary columns.
    """
    from logitrank.errors import InvalidInputError as _Bad
    from logitrank.theory.logit_matrix import extended_logit_matrix
    from logitrank.theory.spectrum import PowerLawFit, singular_values

    rng = np.random.default_rng(seed)
    horizon = history_length + max_future_length + 1
    H = [rng.integers(0, vocab_size, history_length) for _ in range(n_histories)]
    F = [rng.integers(0, vocab_size, int(rng.integers(0, max_future_length + 1))) for _ in range(n_futures)]
    curves, alphas_fit, labels = [], [], []

    def add(label, s):
        s = np.asarray(s, dtype=np.float64)
        curves.append(s / s[0])
        above = s[s > s[0] * 1e-10]          # the part above the float64 noise floor
        try:
            alphas_fit.append(PowerLawFit().fit(above).alpha_ if above.size >= 20 else np.nan)
        except _Bad:
            alphas_fit.append(np.nan)
        labels.append(label)

    for d in dims:
        add(f"ISAN d={d}", singular_values(extended_logit_matrix(
            random_isan(vocab_size, horizon, int(d), rng), H, F).values))
    for k in hmm_states:
        add(f"HMM k={k}", singular_values(extended_logit_matrix(
            random_hmm(int(k), vocab_size, rng, horizon=horizon, concentration=0.3), H, F).values))
    n = len(curves[0])
    for a in alphas:
        add(f"power law α={a:g}", power_law_spectrum(n, a))
    return {"labels": np.array(labels), "curves": np.array(curves), "alpha": np.array(alphas_fit),
            "shape": np.array([n_histories, n_futures * vocab_size])}
