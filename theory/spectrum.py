"""Spectrum tools for logit matrices (Golowich, Liu, Shetty 2025, §2–3).

- Power-law fit of the singular values σ_i ≈ C·i^(−α) (§3.1). α = 1/2 is the phase
  transition: for α > 1/2 the squared tail Σ_{i>r} σ_i² ≈ C² r^{1−2α}/(2α−1) does not depend
  on the matrix size, so a constant rank reaches any fixed relative error; for α < 1/2 the
  needed rank grows linearly with the size.
- Average KL of the best rank-r approximation (Def. 3.1) and its bound (Fact B.2):
  D = (1/(|H||F|)) Σ_{h,f} KL(softmax(L_{h,f}) ‖ softmax(A_{h,f})) ≤ ‖L − A‖²_F / (|H||F|).
  (Hoeffding's lemma gives KL(softmax x ‖ softmax y) ≤ ‖x − y‖²_∞/2 ≤ ‖x − y‖²₂.)
- α stability under subsampling of H and F by 2, 4, 8, 16 (the paper's scale test).
- Principal angles between column spaces (Fig. 4), with a random-subspace baseline.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from logitrank.errors import InvalidInputError
from logitrank.theory.sequence_model import log_softmax

__all__ = [
    "singular_values",
    "PowerLawFit",
    "fit_power_law",
    "PowerLawCheck",
    "power_law_check",
    "relative_tail_error",
    "rank_for_relative_error",
    "AverageKL",
    "log_log_slope",
    "average_kl_vs_rank",
    "SubsampleStability",
    "alpha_subsample_stability",
    "principal_angle_cosines",
    "principal_angle_cosines_by_rank",
    "random_subspace_cosines",
    "random_subspace_cosine_draws",
]


def _matrix(m) -> np.ndarray:
    M = np.asarray(m, dtype=np.float64)
    if M.ndim != 2 or M.size == 0:
        raise InvalidInputError(f"expected a non-empty 2-D matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise InvalidInputError("matrix contains NaN or infinite entries")
    return M


def singular_values(matrix) -> np.ndarray:
    """Singular values in decreasing order (dense LAPACK SVD, float64).

    Examples
    --------
    >>> singular_values([[3.0, 0.0], [0.0, -4.0]]).tolist()
    [4.0, 3.0]
    """
    return scipy.linalg.svdvals(_matrix(matrix))


class PowerLawFit:
    """Fit σ_i ≈ C·i^(−α) to a decreasing spectrum (Golowich et al. 2025, §3.1, Fig. 2).

    Parameters
    ----------
    fit_range : (lo, hi)
        Indices (1-based, inclusive) of the singular values used. Values in (0, 1] are
        fractions of the spectrum length n. Default ``(0.01, 0.5)``: from
        ``max(2, ⌈0.01·n⌉)`` to ``⌊0.5·n⌋`` — the top singular value (dominated by the
        common direction of all rows) and the lower half (finite-size roll-off and the
        numerical noise floor) are left out.

    Attributes
    ----------
    alpha_ : fitted exponent α.
    log_scale_ : fitted log C.
    alpha_err_ : uncertainty of α: ``sqrt(se² + (Δ/2)²)`` with ``se`` the standard error of
        the weighted least-squares slope and ``Δ`` the difference between the α fitted on
        the lower and upper halves of the range (in log i) — the fit-range sensitivity,
        which dominates for real spectra that are not exact power laws. It does not include
        bias from noise (e.g. a noise floor, or re-sorting a noisy spectrum).
    fit_range_ : (lo, hi) 1-based indices actually used.

    Notes
    -----
    Least squares on (log i, log σ_i) with weights 1/i, i.e. equal weight per unit of
    log i (an unweighted fit would be dominated by the many tail indices).

    Examples
    --------
    An exact power law σ_i = 5·i^(−0.8) is recovered, with no fit-range sensitivity:

    >>> fit = PowerLawFit().fit(5.0 * np.arange(1, 201) ** -0.8)
    >>> round(fit.alpha_, 6), round(float(np.exp(fit.log_scale_)), 6), fit.fit_range_
    (0.8, 5.0, (2, 100))
    >>> round(fit.alpha_err_, 9)
    0.0
    """

    def __init__(self, *, fit_range=(0.01, 0.5)):
        self.fit_range = fit_range

    def _indices(self, n: int, *, strict: bool = False) -> tuple[int, int]:
        lo, hi = self.fit_range
        lo = max(2, int(np.ceil(lo * n))) if 0 < lo <= 1 and isinstance(lo, float) else int(lo)
        hi = int(np.floor(hi * n)) if 0 < hi <= 1 and isinstance(hi, float) else int(hi)
        if strict and hi > n:
            raise InvalidInputError(f"fit range {self.fit_range} reaches index {hi} but there are only {n} "
                                    f"singular values; use an upper index <= {n} or a fraction of n")
        hi = min(hi, n)
        if hi - lo + 1 < 3:
            raise InvalidInputError(
                f"fit range {self.fit_range} leaves {max(hi - lo + 1, 0)} singular values of {n}; "
                f"need at least 3 — use a larger matrix or a wider fit_range")
        return lo, hi

    @staticmethod
    def _wls(i: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
        """Weighted least squares of log σ on log i, weights ∝ 1/i; returns (α, log C, se(α))."""
        x, y = np.log(i), np.log(s)
        w = (1.0 / i) / (1.0 / i).mean()
        X = np.stack([np.ones_like(x), x], axis=1)
        XtWX = (X.T * w) @ X
        beta = np.linalg.solve(XtWX, (X.T * w) @ y)
        resid = y - X @ beta
        sigma2 = float((w * resid ** 2).sum()) / max(len(x) - 2, 1)
        cov = sigma2 * np.linalg.inv(XtWX)
        return float(-beta[1]), float(beta[0]), float(np.sqrt(max(cov[1, 1], 0.0)))

    def indices(self, n: int, *, strict: bool = False) -> tuple[int, int]:
        """The 1-based indices ``(lo, hi)`` this fit uses on ``n`` singular values.

        An index range reaching past ``n`` is clipped to ``n`` (``fit`` does so and reports the
        range used in ``fit_range_``), or with ``strict`` refused; fewer than 3 values is an
        :class:`~logitrank.errors.InvalidInputError` either way.
        """
        return self._indices(int(n), strict=strict)

    def fit(self, singular_values) -> "PowerLawFit":
        s = np.asarray(singular_values, dtype=np.float64).ravel()
        if s.size < 3 or not np.all(np.isfinite(s)):
            raise InvalidInputError("need at least 3 finite singular values")
        s = np.sort(s)[::-1]
        lo, hi = self._indices(s.size)
        idx = np.arange(lo, hi + 1)
        sel = s[lo - 1:hi]
        if np.any(sel <= 0):
            raise InvalidInputError(
                f"singular values in the fit range {lo}..{hi} include zeros (the matrix has rank "
                f"{int((s > 0).sum())}); restrict fit_range to the non-zero part")
        self.alpha_, self.log_scale_, se = self._wls(idx.astype(float), sel)
        mid = np.sqrt(lo * hi)
        a_lo = self._wls(idx[idx <= mid].astype(float), sel[idx <= mid])[0] if (idx <= mid).sum() >= 3 else self.alpha_
        a_hi = self._wls(idx[idx >= mid].astype(float), sel[idx >= mid])[0] if (idx >= mid).sum() >= 3 else self.alpha_
        self.alpha_stderr_ = se
        self.alpha_range_sensitivity_ = abs(a_lo - a_hi)
        self.alpha_err_ = float(np.hypot(se, self.alpha_range_sensitivity_ / 2))
        self.fit_range_ = (lo, hi)
        return self

    def predict(self, indices) -> np.ndarray:
        """C·i^(−α) at the given 1-based indices."""
        return np.exp(self.log_scale_) * np.asarray(indices, dtype=np.float64) ** (-self.alpha_)


def fit_power_law(singular_values, **kwargs) -> PowerLawFit:
    """Shorthand for ``PowerLawFit(**kwargs).fit(singular_values)``."""
    return PowerLawFit(**kwargs).fit(singular_values)


@dataclasses.dataclass(frozen=True)
class PowerLawCheck:
    """Goodness of fit of σ_i ≈ C·i^(−α) over the fit range (:func:`power_law_check`).

    ``alpha``: the fitted α; ``alpha_lower``/``alpha_upper``: α fitted on the lower/upper
    half of the range in log i; ``relative_disagreement``: |α_lower − α_upper| / α;
    ``r_squared``: weighted R² of the log-log line (reported, not used to decide: a smooth
    concave curve also has R² near 1); ``is_power_law``: the verdict; ``rtol``: its tolerance.
    """

    alpha: float
    alpha_lower: float
    alpha_upper: float
    relative_disagreement: float
    r_squared: float
    is_power_law: bool
    rtol: float


def power_law_check(singular_values, *, fit_range=(0.01, 0.5), rtol: float = 0.5) -> PowerLawCheck:
    """Is the spectrum a power law over the fit range? Local log-log slopes must agree.

    A power law has one slope in log σ vs log i at every scale; the check fits α on the
    lower and upper halves of the fit range (in log i, as :class:`PowerLawFit` does for its
    error) and calls the spectrum a power law when ``α > 0`` and
    ``|α_lower − α_upper| ≤ rtol · α``. Calibration (seeded, ``tests/test_spectrum.py``):
    i.i.d. Gaussian matrices (Marchenko–Pastur spectra: flat top, steep edge) give a relative
    disagreement of 1.1–1.7 at shapes 64×64 … 512×2000, exact power laws 0, power laws with
    10% multiplicative noise on σ_i or additive Gaussian noise ≤ 0.15; ``rtol = 0.5`` sits
    between. A straight line on a log-log plot with high R² is not evidence of a power law
    (Clauset, Shalizi, Newman 2009), which is why R² is reported but not used.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3.1 (σ_i ≈ C·i^(−α), Fig. 2); Clauset, Shalizi, Newman
    (2009), "Power-law distributions in empirical data", SIAM Review 51(4), 661–703.

    Examples
    --------
    >>> bool(power_law_check(np.arange(1, 201) ** -0.6).is_power_law)
    True
    >>> rng = np.random.default_rng(0)
    >>> bool(power_law_check(singular_values(rng.normal(size=(128, 3200)))).is_power_law)
    False
    """
    if rtol <= 0:
        raise InvalidInputError(f"rtol must be > 0, got {rtol}")
    fit = PowerLawFit(fit_range=fit_range).fit(singular_values)
    s = np.sort(np.asarray(singular_values, dtype=np.float64).ravel())[::-1]
    lo, hi = fit.fit_range_
    idx = np.arange(lo, hi + 1).astype(float)
    sel = s[lo - 1:hi]
    mid = np.sqrt(lo * hi)
    halves = [fit._wls(idx[m], sel[m])[0] if m.sum() >= 3 else fit.alpha_ for m in (idx <= mid, idx >= mid)]
    x, y, w = np.log(idx), np.log(sel), 1.0 / idx
    resid = y - (fit.log_scale_ - fit.alpha_ * x)
    ybar = (w * y).sum() / w.sum()
    ss_tot = float((w * (y - ybar) ** 2).sum())
    r2 = 1.0 - float((w * resid ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    disagreement = abs(halves[0] - halves[1])
    rel = disagreement / fit.alpha_ if fit.alpha_ > 0 else float("inf")
    return PowerLawCheck(alpha=fit.alpha_, alpha_lower=float(halves[0]), alpha_upper=float(halves[1]),
                         relative_disagreement=float(rel), r_squared=float(r2),
                         is_power_law=bool(fit.alpha_ > 0 and rel <= rtol), rtol=float(rtol))


def relative_tail_error(singular_values) -> np.ndarray:
    """e_r = sqrt(Σ_{i>r} σ_i² / Σ_i σ_i²) for r = 0 … n: relative Frobenius error of the best rank-r approximation.

    Examples
    --------
    σ = (3, 2, 1, 1): Σσ² = 15, so e_1 = √(6/15), e_2 = √(2/15), e_3 = √(1/15).

    >>> np.round(relative_tail_error([1.0, 3.0, 2.0, 1.0]) ** 2 * 15, 12).tolist()
    [15.0, 6.0, 2.0, 1.0, 0.0]
    """
    s2 = np.sort(np.asarray(singular_values, dtype=np.float64) ** 2)[::-1]
    tail = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])
    return np.sqrt(tail / tail[0])


def rank_for_relative_error(singular_values, rel_err: float) -> int:
    """Smallest r whose best rank-r approximation has relative Frobenius error ≤ ``rel_err``.

    Examples
    --------
    With σ = (3, 2, 1, 1) the errors are 1, 0.63, 0.37, 0.26, 0 for r = 0 … 4:

    >>> rank_for_relative_error([3.0, 2.0, 1.0, 1.0], 0.4), rank_for_relative_error([3.0, 2.0, 1.0, 1.0], 0.0)
    (2, 4)
    """
    if not (0 <= rel_err < 1):
        raise InvalidInputError(f"rel_err must lie in [0, 1), got {rel_err}")
    e = relative_tail_error(singular_values)
    return int(np.argmax(e <= rel_err + 1e-15))


@dataclasses.dataclass(frozen=True)
class AverageKL:
    """Average KL of the best rank-r approximations and its Frobenius bound (Def. 3.1, Fact B.2)."""

    ranks: np.ndarray
    average_kl: np.ndarray
    frobenius_bound: np.ndarray
    per_history: np.ndarray | None = None   # (|H|, n_ranks): KL averaged over futures, one row per history


def log_log_slope(x, y) -> tuple[float, float]:
    """Least-squares slope of log y against log x over the points with x, y > 0, and its R².

    The exponent of a power law y ∝ x^slope (the average-KL-vs-rank decay of Fig. 1a).

    Examples
    --------
    >>> slope, r2 = log_log_slope([1, 2, 4, 8], [1.0, 0.25, 0.0625, 0.015625])
    >>> round(slope, 12), round(r2, 12)
    (-2.0, 1.0)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        raise InvalidInputError(f"need at least 2 positive points for a log-log slope, got {int(ok.sum())}")
    lx, ly = np.log(x[ok]), np.log(y[ok])
    slope, icpt = np.polyfit(lx, ly, 1)
    r2 = 1 - (ly - slope * lx - icpt).var() / ly.var() if ly.var() > 0 else 0.0
    return float(slope), float(r2)


def average_kl_vs_rank(values, k: int, ranks) -> AverageKL:
    """D^avg_KL(L, A_r) for the best rank-r approximations A_r of L (truncated SVD).

    A_r is the projection of L onto its top-r left (or, for a tall L, right) singular
    vectors, taken from the eigenvectors of the smaller Gram matrix (:func:`_smaller_gram_eigh`):
    for a 1024 × 51,200 matrix that is one GEMM instead of a full SVD.

    Parameters
    ----------
    values : (|H|, |F|·k) extended logit matrix, columns future-major in blocks of k.
    k : block length (tokens per future).
    ranks : ranks r to evaluate.
    """
    L = _matrix(values)
    if k < 1 or L.shape[1] % k:
        raise InvalidInputError(f"k={k} does not divide the number of columns {L.shape[1]}")
    ranks = np.asarray(sorted({int(r) for r in ranks}), dtype=np.int64)
    if ranks.size == 0 or ranks[0] < 0 or ranks[-1] > min(L.shape):
        raise InvalidInputError(f"ranks must lie in [0, {min(L.shape)}], got {ranks.tolist()}")
    lam, Q = _smaller_gram_eigh(L)
    wide = L.shape[0] <= L.shape[1]
    nH, nF = L.shape[0], L.shape[1] // k
    logp = log_softmax(L.reshape(nH, nF, k))
    p = np.exp(logp)
    kl, bound, per_history = [], [], []
    for r in ranks:
        Qr = Q[:, :r]
        A = Qr @ (Qr.T @ L) if wide else (L @ Qr) @ Qr.T       # = U_r Σ_r V_rᵀ
        logq = log_softmax(A.reshape(nH, nF, k))
        pair = (p * (logp - logq)).sum(axis=2)                  # (|H|, |F|): KL(p_hf ‖ q_hf)
        kl.append(float(pair.mean()))
        per_history.append(pair.mean(axis=1))
        bound.append(float(lam[r:].sum() / (nH * nF)))         # Σ_{i>r} σ_i²
    return AverageKL(ranks, np.array(kl), np.array(bound), np.stack(per_history, axis=1))


@dataclasses.dataclass(frozen=True)
class SubsampleStability:
    """Fitted α of random 1/factor subsamples of rows and future blocks."""

    factors: np.ndarray
    alpha_mean: np.ndarray
    alpha_std: np.ndarray
    shapes: list


def alpha_subsample_stability(values, k: int, rng: np.random.Generator, *, factors=(1, 2, 4, 8, 16),
                              n_repeats: int = 3, fit_range=(0.01, 0.5)) -> SubsampleStability:
    """α of the matrix restricted to |H|/f histories and |F|/f futures, f in ``factors``.

    The paper's scale test (§3.1): a genuine power law gives the same α at every size.
    Each factor is repeated ``n_repeats`` times with fresh random subsets.
    """
    L = _matrix(values)
    if k < 1 or L.shape[1] % k:
        raise InvalidInputError(f"k={k} does not divide the number of columns {L.shape[1]}")
    nH, nF = L.shape[0], L.shape[1] // k
    blocks = L.reshape(nH, nF, k)
    means, stds, shapes = [], [], []
    for f in factors:
        h, g = max(1, nH // f), max(1, nF // f)
        if min(h, g * k) < 8:
            raise InvalidInputError(f"factor {f} leaves a {h}×{g * k} matrix, too small to fit α; "
                                    f"use fewer factors or a larger matrix")
        alphas = []
        for _ in range(n_repeats if f > 1 else 1):
            rows = np.sort(rng.choice(nH, h, replace=False))
            futs = np.sort(rng.choice(nF, g, replace=False))
            sub = blocks[rows][:, futs].reshape(h, g * k)
            alphas.append(PowerLawFit(fit_range=fit_range).fit(singular_values(sub)).alpha_)
        means.append(float(np.mean(alphas)))
        stds.append(float(np.std(alphas)))
        shapes.append((h, g * k))
    return SubsampleStability(np.asarray(factors), np.array(means), np.array(stds), shapes)


def _smaller_gram(L: np.ndarray) -> np.ndarray:
    """L Lᵀ if L is wide, else Lᵀ L (a product with its own transpose: BLAS ``syrk``)."""
    return L @ L.T if L.shape[0] <= L.shape[1] else L.T @ L


def _smaller_gram_eigh(L: np.ndarray, rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the smaller Gram matrix (L Lᵀ if L is wide, else Lᵀ L), largest first.

    The eigenvalues are σ_i² (clipped at 0) and the eigenvectors the left (wide) or right
    (tall) singular vectors of L. Squaring costs precision only in directions with
    σ_i ≲ 1e-8·σ_1: a rank-r projection onto them changes L by at most that much, and a
    top-r subspace is accurate to ~1e-16·σ_1²/(σ_r² − σ_{r+1}²). ``rank``: only the top
    ``rank`` pairs (LAPACK ``syevr`` subset).
    """
    G = _smaller_gram(L)
    n = G.shape[0]
    sub = None if rank is None else [n - rank, n - 1]
    lam, Q = scipy.linalg.eigh(G, subset_by_index=sub)
    return np.clip(lam[::-1], 0.0, None), Q[:, ::-1]


def _top_left_basis(M: np.ndarray, rank: int) -> np.ndarray:
    """Top-``rank`` left singular vectors: from M Mᵀ when M is wide, else a thin SVD."""
    if M.shape[0] <= M.shape[1]:
        return _smaller_gram_eigh(M, rank)[1]
    U, _, _ = scipy.linalg.svd(M, full_matrices=False)
    return U[:, :rank]


def principal_angle_cosines(A, B, rank: int) -> np.ndarray:
    """Cosines of the principal angles between the column spaces of the rank-r approximations of A and B.

    Both matrices have rows indexed by the same histories; their rank-r column spaces are
    spanned by the top-r left singular vectors. Returns r cosines, largest first (Fig. 4).
    """
    return principal_angle_cosines_by_rank(A, B, [rank])[int(rank)]


def principal_angle_cosines_by_rank(A, B, ranks) -> dict[int, np.ndarray]:
    """:func:`principal_angle_cosines` at several ranks, from one top-max(r) basis per matrix."""
    A, B = _matrix(A), _matrix(B)
    if A.shape[0] != B.shape[0]:
        raise InvalidInputError(f"A and B must have the same rows (histories): {A.shape[0]} vs {B.shape[0]}")
    ranks = sorted({int(r) for r in ranks})
    for rank in ranks:
        if not (1 <= rank <= min(A.shape[0], A.shape[1], B.shape[1])):
            raise InvalidInputError(f"rank={rank} out of range for shapes {A.shape}, {B.shape}")
    if not ranks:
        return {}
    UA, UB = _top_left_basis(A, ranks[-1]), _top_left_basis(B, ranks[-1])
    return {r: np.clip(scipy.linalg.svdvals(UA[:, :r].T @ UB[:, :r]), 0.0, 1.0) for r in ranks}


def random_subspace_cosines(n: int, rank: int, rng: np.random.Generator, n_draws: int = 20) -> np.ndarray:
    """Mean principal-angle cosines between two Haar-random r-dim subspaces of R^n (the baseline)."""
    return random_subspace_cosine_draws(n, rank, rng, n_draws).mean(axis=0)


def random_subspace_cosine_draws(n: int, rank: int, rng: np.random.Generator, n_draws: int = 20) -> np.ndarray:
    """The cosines of each draw of :func:`random_subspace_cosines`, ``(n_draws, rank)`` (for intervals)."""
    if not (1 <= rank <= n):
        raise InvalidInputError(f"need 1 <= rank <= n, got rank={rank}, n={n}")
    out = np.empty((n_draws, rank))
    for d in range(n_draws):
        Q1, _ = np.linalg.qr(rng.normal(size=(n, rank)))
        Q2, _ = np.linalg.qr(rng.normal(size=(n, rank)))
        out[d] = np.clip(scipy.linalg.svdvals(Q1.T @ Q2), 0, 1)
    return out
